"""HTTP handlers for the node's own profile: GET and PUT /api/v1/node."""

from __future__ import annotations

import functools

from aiohttp import web

from federation import appkeys
from federation.api.records import write_or_problem
from federation.api.requests import (
    if_match_version,
    not_modified,
    read_json_object,
    require_token,
)
from federation.problems import Problem
from federation.responses import json_response


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
    actor = await require_token(request)
    profile_id = request.app[appkeys.PROFILE_ID]
    payload = await read_json_object(request)
    # If-Match is read once the body is known to be valid: an invalid body is a 4xx whatever If-Match says.
    if_match = functools.partial(if_match_version, request, "node", profile_id)
    stored = await write_or_problem(
        request.app[appkeys.STORE].replace("node", profile_id, payload, actor.name, if_match=if_match)
    )
    return json_response(stored.body, etag=stored.etag)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/node", get_node, allow_head=False)
    app.router.add_put("/api/v1/node", put_node)
