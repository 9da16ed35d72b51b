"""The hub's HTTP surface under /plugins/hub/: join requests, directory, report reviews, tables and exports."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from sqlalchemy import select

from federation import appkeys
from federation.api.requests import json_response, read_json_object, require_token
from federation.problems import Problem, invalid_query, validation_problem
from federation.protocol import persistence
from federation.protocol.context import FEDERATION
from federation.protocol.discovery import base_url
from federation.protocol.receiver import authenticate
from federation.protocol.signing import SignatureError, signature_keyid, split_keyid, verify_request
from federation.schema.records import ReviewDecision
from federation.storage.tables import records
from federation.storage.tokens import Actor

from . import enrolment
from .coordination import (
    MAX_COMMENT,
    decide_enrolment,
    parse_period,
    received_reports,
    regional_only,
    review_report,
)
from .exports import TABLES, TableBuilder, directory_features, stream_geojson, stream_table
from .settings import HubSettings

COORDINATORS = ("admin", "national", "regional")
routes = web.RouteTableDef()


async def coordinator(request: web.Request) -> Actor:
    return await require_token(request, roles=COORDINATORS)


def _engine(request: web.Request) -> Any:
    return request.config_dict[appkeys.ENGINE]


# --- Join requests ------------------------------------------------------------------------------------


@routes.post("/enrolments")
async def request_enrolment(request: web.Request) -> web.StreamResponse:
    """A node asks to join, signing the request with a key of the discovery document it sends."""
    try:  # an unsigned request is refused before its body is even read
        keyid = signature_keyid(request.headers)
        node_id, kid = split_keyid(keyid)
    except (ValueError, SignatureError) as exc:
        raise Problem(401, str(exc), slug="bad-signature") from exc
    body = await request.read()
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser's stack
        raise Problem(400, f"the body is not valid JSON: {type(exc).__name__}", slug="malformed-json") from exc
    try:
        remote, profile = enrolment.parse_request(payload)
    except enrolment.EnrolmentError as exc:
        raise Problem(exc.status, str(exc), slug="invalid-enrolment") from exc
    key = next((key for key in remote.keys if key.kid == kid), None)
    if node_id != remote.node_id or key is None:
        raise Problem(
            401, "the request must be signed with a key of the discovery document it carries", slug="bad-signature"
        )
    max_age = dt.timedelta(seconds=request.config_dict[appkeys.SETTINGS].federation.max_signature_age_s)
    try:
        verified = verify_request(
            request.method,
            base_url(request) + request.path_qs,
            request.headers,
            body,
            key.public_key(),
            max_age=max_age,
        )
    except SignatureError as exc:
        raise Problem(401, str(exc), slug="bad-signature") from exc
    expires = int((dt.datetime.fromtimestamp(verified.created, dt.UTC) + 2 * max_age).timestamp() * 1_000_000)
    if not await persistence.remember_nonce(_engine(request), keyid, verified.nonce, expires):
        raise Problem(401, "this signature's nonce was already used", slug="bad-signature")
    try:
        recorded = await enrolment.record_request(_engine(request), remote, profile)
    except enrolment.EnrolmentError as exc:
        raise Problem(exc.status, str(exc), slug="conflict") from exc
    return json_response(json.dumps(recorded.describe(), ensure_ascii=False), status=202)


@routes.get("/enrolments")
async def list_enrolments(request: web.Request) -> web.StreamResponse:
    actor = await coordinator(request)
    state = request.query.get("state")
    if state not in (None, "pending", "approved", "rejected"):
        raise invalid_query("state", "must be pending, approved or rejected")
    found = await enrolment.list_enrolments(_engine(request), state, regional_only(actor))
    return json_response(json.dumps({"items": [item.describe() for item in found]}, ensure_ascii=False))


async def _comment(request: web.Request) -> str | None:
    """The optional {"comment": "..."} body of a decision, stripped; 422 for anything else in it."""
    if not request.can_read_body:
        return None
    body = await read_json_object(request)
    comment = body.get("comment")
    errors = [
        {"pointer": f"/{key}", "detail": "Extra inputs are not permitted", "code": "extra_forbidden"}
        for key in sorted(set(body) - {"comment"})
    ]
    if "comment" in body and not isinstance(comment, str):
        errors.append({"pointer": "/comment", "detail": "Input should be a valid string", "code": "string_type"})
    elif isinstance(comment, str) and len(comment) > MAX_COMMENT:
        errors.append(
            {
                "pointer": "/comment",
                "detail": f"String should have at most {MAX_COMMENT} characters",
                "code": "string_too_long",
            }
        )
    if errors:
        raise validation_problem(errors)
    return comment.strip() if comment else None


async def _decide(request: web.Request, approve: bool) -> web.StreamResponse:
    actor = await coordinator(request)
    engine = _engine(request)
    decided = await decide_enrolment(
        engine, actor, actor.name, request.match_info["id"], approve, functools.partial(_comment, request)
    )
    return json_response(json.dumps(decided.describe(), ensure_ascii=False))


@routes.post("/enrolments/{id}/approve")
async def approve_enrolment(request: web.Request) -> web.StreamResponse:
    return await _decide(request, True)


@routes.post("/enrolments/{id}/reject")
async def reject_enrolment(request: web.Request) -> web.StreamResponse:
    return await _decide(request, False)


# --- Directory ----------------------------------------------------------------------------------------


@routes.get("/directory")
async def signed_directory(request: web.Request) -> web.StreamResponse:
    """The signed list of members: nodes configured with this hub's key fingerprint trust it."""
    context = request.config_dict[FEDERATION]
    document = await enrolment.directory(_engine(request), context.node_id, context.identity.keys)
    return json_response(json.dumps(document, ensure_ascii=False))


@routes.get("/directory.geojson")
async def directory_geojson(request: web.Request) -> web.StreamResponse:
    """Members as GeoJSON points (from the location in their profile; null geometry when unknown)."""
    return await stream_geojson(request, await directory_features(_engine(request)))


# --- Reports and reviews ------------------------------------------------------------------------------


@routes.get("/reports")
async def list_reports(request: web.Request) -> web.StreamResponse:
    actor = await coordinator(request)
    period = parse_period(request.query)
    items = await received_reports(_engine(request), period, actor)
    return json_response(json.dumps({"period": period.key, "items": items}, ensure_ascii=False))


async def _review(request: web.Request, decision: ReviewDecision) -> web.StreamResponse:
    actor = await coordinator(request)
    stored = await review_report(
        _engine(request),
        request.config_dict[appkeys.STORE],
        actor,
        actor.name,
        request.match_info["origin"],
        request.match_info["id"],
        decision,
        functools.partial(_comment, request),
    )
    return json_response(stored.body, status=201)


@routes.post("/reports/{origin}/{id}/validate")
async def validate_report(request: web.Request) -> web.StreamResponse:
    return await _review(request, ReviewDecision.VALIDATED)


@routes.post("/reports/{origin}/{id}/return")
async def return_report(request: web.Request) -> web.StreamResponse:
    return await _review(request, ReviewDecision.RETURNED)


@routes.get("/me")
async def member_status(request: web.Request) -> web.StreamResponse:
    """A member node (signed request) reads its own enrolment and the states of its reports on the hub."""
    signed = await authenticate(request)
    engine = _engine(request)
    node_id = signed.peer.node_id
    found = [e.describe() for e in await enrolment.list_enrolments(engine) if e.node_id == node_id]
    async with engine.connect() as connection:
        reports = [
            {"id": row.id, "period": row.period, "version": row.version, "state": row.status}
            for row in await connection.execute(
                select(records.c.id, records.c.period, records.c.version, records.c.status).where(
                    records.c.kind == "report", records.c.origin == node_id, records.c.deleted.is_(False)
                )
            )
        ]
    return json_response(json.dumps({"node_id": node_id, "enrolments": found, "reports": reports}))


# --- Tables -------------------------------------------------------------------------------------------

TABLE_PATHS = {
    "activities": "/tables/activities",
    "indicators": "/tables/indicators",
    "completeness": "/tables/completeness",
    "missing": "/tables/missing",
    "trends": "/tables/trends",
    "directory": "/directory/export",
}


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _table_handler(build: TableBuilder, settings: HubSettings) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await stream_table(request, await build(request, await coordinator(request), settings))

    return handler


def build_routes(settings: HubSettings) -> list[web.AbstractRouteDef]:
    """Every route of the hub; the tables' handlers get the hub's settings bound."""
    tables = [web.get(TABLE_PATHS[name], _table_handler(build, settings)) for name, build in TABLES.items()]
    return [*routes, *tables]
