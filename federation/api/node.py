"""HTTP handlers for the node's own profile: GET and PUT /api/v1/node."""

from __future__ import annotations

import json

from aiohttp import web

from federation import appkeys
from federation.api.records import notify_committed, write_or_problem
from federation.api.requests import (
    if_match_version,
    not_modified,
    read_json_object,
    require_token,
    validate_record_data,
)
from federation.problems import Problem
from federation.responses import json_response
from federation.schema.records import RECORD_KINDS

NODE_KIND = RECORD_KINDS["node"]


async def get_node(request: web.Request) -> web.StreamResponse:
    profile_id = request.app[appkeys.PROFILE_ID]
    row = await request.app[appkeys.READER].get("node", profile_id, request.app[appkeys.STORE].node_id)
    if row is None or row.deleted:
        raise Problem(404, "this node has no profile yet; run `regies init`", slug="not-found")
    etag = f'"{profile_id}.{row.version}"'
    if not_modified(request, etag):
        return web.Response(status=304, headers={"ETag": etag})
    return json_response(row.body, etag=etag)


async def put_node(request: web.Request) -> web.StreamResponse:
    await require_token(request)
    profile_id = request.app[appkeys.PROFILE_ID]
    payload = await read_json_object(request)
    plugins = request.app[appkeys.PLUGINS]
    previous = await request.app[appkeys.READER].get("node", profile_id, request.app[appkeys.STORE].node_id)
    previous_doc = json.loads(previous.body) if previous is not None else None
    data = validate_record_data(NODE_KIND, payload, plugins, previous_doc)
    # If-Match is checked once the body is known to be valid: an invalid body is a 4xx whatever If-Match says.
    if_match = await if_match_version(request, "node", profile_id)
    fields = data.model_dump(mode="json")
    stored = await write_or_problem(
        request.app[appkeys.STORE].replace(
            "node",
            profile_id,
            lambda _previous, envelope: NODE_KIND.record_model.model_validate({**fields, **envelope}),
            if_match,
        )
    )
    await notify_committed(plugins, stored, "updated")
    return json_response(stored.body, etag=stored.etag)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/node", get_node, allow_head=False)
    app.router.add_put("/api/v1/node", put_node)
