"""The hub's HTTP surface under /plugins/hub/: join requests, directory, report reviews, tables and exports."""

from __future__ import annotations

import datetime as dt
import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select

from federation.plugin_api import (
    Actor,
    Problem,
    ReviewDecision,
    appkeys,
    client_address,
    json_response,
    read_json_object,
    require_token,
)
from federation.plugin_api.network import (
    FEDERATION,
    AddressRefused,
    OutboundPolicy,
    SignatureError,
    authenticate,
    remember_nonce,
    signature_keyid,
    signed_target_uri,
    split_keyid,
    verify_request,
)
from federation.plugin_api.storage import records

from . import enrolment, labels
from .approval import approved_filter
from .coordination import (
    MAX_COMMENT,
    MAX_ENROLMENT_ID,
    decide_enrolment,
    effective_state,
    enrolment_problem,
    hub_reviews,
    parse_period,
    received_reports,
    regional_only,
    review_report,
    revoke_membership,
)
from .exports import TABLES, TableBuilder, directory_features, stream_geojson, stream_table
from .figure_cache import FigureCache
from .reviewed import Figures
from .settings import HubSettings
from .throttle import SourceThrottle

COORDINATORS = ("admin", "national", "regional")
routes = web.RouteTableDef()


async def coordinator(request: web.Request) -> Actor:
    return await require_token(request, roles=COORDINATORS)


def _engine(request: web.Request) -> Any:
    return request.config_dict[appkeys.ENGINE]


# --- Join requests ------------------------------------------------------------------------------------


MAX_JOIN_BYTES = 64 * 1024  # a discovery document and a profile: a few kilobytes
PAGE_SIZE, MAX_PAGE_SIZE = 50, 500
HOUR_S = 3600


async def _read_bounded(request: web.Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it exceeds `limit` bytes (before it is all read)."""
    too_large = Problem(413, f"a join request is at most {limit} bytes", slug="too-large")
    if request.content_length is not None and request.content_length > limit:
        raise too_large
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(16 * 1024):
        size += len(chunk)
        if size > limit:
            raise too_large
        chunks.append(chunk)
    return b"".join(chunks)


async def request_enrolment(
    request: web.Request, throttle: SourceThrottle, limits: enrolment.EnrolmentLimits
) -> web.StreamResponse:
    """A node asks to join, signing the request with a key of the discovery document it sends."""
    source = client_address(request)
    wait = throttle.retry_after(source)
    if wait:  # counted before anything else is done for the request: flooding costs the hub almost nothing
        raise Problem(
            429,
            "too many join requests from this address",
            slug="too-many-requests",
            headers={"Retry-After": str(wait)},
        )
    try:  # an unsigned request is refused before its body is even read
        keyid = signature_keyid(request.headers)
        node_id, kid = split_keyid(keyid)
    except (ValueError, SignatureError) as exc:
        raise Problem(401, str(exc), slug="bad-signature") from exc
    body = await _read_bounded(request, MAX_JOIN_BYTES)
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than the parser's stack
        raise Problem(400, f"the body is not valid JSON: {type(exc).__name__}", slug="malformed-json") from exc
    try:
        remote, profile = enrolment.parse_request(payload)
    except enrolment.EnrolmentError as exc:
        raise enrolment_problem(exc) from exc
    policy = OutboundPolicy(request.config_dict[appkeys.SETTINGS].federation.allow_private_addresses)
    try:  # the hub may pull from this address one day: it must be one the hub would contact
        policy.check_url(remote.base_url)
    except AddressRefused as exc:
        errors = [{"pointer": "/discovery/base_url", "detail": str(exc)}]
        raise Problem(422, str(exc), slug="invalid-enrolment", errors=errors) from exc
    key = next((key for key in remote.keys if key.kid == kid), None)
    if node_id != remote.node_id or key is None:
        raise Problem(
            401, "the request must be signed with a key of the discovery document it carries", slug="bad-signature"
        )
    max_age = dt.timedelta(seconds=request.config_dict[appkeys.SETTINGS].federation.max_signature_age_s)
    try:
        verified = verify_request(
            request.method,
            signed_target_uri(request),
            request.headers,
            body,
            key.public_key(),
            max_age=max_age,
        )
    except SignatureError as exc:
        raise Problem(401, str(exc), slug="bad-signature") from exc
    expires = int((dt.datetime.fromtimestamp(verified.created, dt.UTC) + 2 * max_age).timestamp() * 1_000_000)
    if not await remember_nonce(_engine(request), keyid, verified.nonce, expires):
        raise Problem(401, "this signature's nonce was already used", slug="bad-signature")
    try:
        recorded, changed = await enrolment.record_request(
            _engine(request),
            remote,
            profile,
            hub_id=request.config_dict[FEDERATION].node_id,
            signed_with=key,
            source=source,
            limits=limits,
        )
    except enrolment.EnrolmentError as exc:
        raise enrolment_problem(exc) from exc
    return json_response(json.dumps(recorded.describe(), ensure_ascii=False), status=202 if changed else 200)


def _page_query(query: Mapping[str, str]) -> tuple[int, int]:
    """`after` (the last id seen) and `limit` of a listing; 400 naming the parameter otherwise."""
    values = {}
    for name, default, highest in (("after", 0, MAX_ENROLMENT_ID), ("limit", PAGE_SIZE, MAX_PAGE_SIZE)):
        raw = query.get(name, str(default))
        if not raw.isdigit() or int(raw) > highest or (name == "limit" and int(raw) == 0):
            detail = f"{name} must be a whole number" + (f" from 1 to {highest}" if name == "limit" else "")
            raise Problem(400, detail, slug="invalid-query", errors=[{"pointer": f"/{name}", "detail": detail}])
        values[name] = int(raw)
    return values["after"], values["limit"]


@routes.get("/enrolments")
async def list_enrolments(request: web.Request) -> web.StreamResponse:
    """Join requests in id order, a page at a time: `next` is the address of the following page, if any."""
    actor = await coordinator(request)
    state = request.query.get("state")
    if state is not None and state not in enrolment.STATES:
        raise Problem(400, f"state must be one of {', '.join(enrolment.STATES)}", slug="invalid-query")
    after, limit = _page_query(request.query)
    found = await enrolment.list_enrolments(_engine(request), state, regional_only(actor), after=after, limit=limit + 1)
    page = found[:limit]
    following = None
    if len(found) > limit:
        following = f"{request.path}?{urlencode({**request.query, 'after': page[-1].id, 'limit': limit})}"
    body = {"items": [item.describe() for item in page], "next": following}
    return json_response(json.dumps(body, ensure_ascii=False))


DECISION_BODY: web.RequestKey[dict[str, Any]] = web.RequestKey("decision_body", dict)
COMMENT_ONLY = frozenset({"comment"})
APPROVAL_FIELDS = frozenset({"comment", "fingerprints"})


async def _decision_body(request: web.Request, fields: frozenset[str]) -> dict[str, Any]:
    """The optional {"comment": "..."} body of a decision (an approval's also has "fingerprints": [...]), read
    once; 422 for anything else in it."""
    if DECISION_BODY in request:
        return request[DECISION_BODY]
    body = await read_json_object(request) if request.can_read_body else {}
    comment, fingerprints = body.get("comment"), body.get("fingerprints", [])
    errors = [{"pointer": f"/{key}", "detail": "unknown field"} for key in sorted(set(body) - fields)]
    if "comment" in body and (not isinstance(comment, str) or len(comment) > MAX_COMMENT):
        errors.append({"pointer": "/comment", "detail": f"a string of at most {MAX_COMMENT} characters"})
    if (
        not isinstance(fingerprints, list)
        or len(fingerprints) > enrolment.MAX_KEYS
        or not all(isinstance(value, str) and len(value) <= 200 for value in fingerprints)
    ):
        errors.append({"pointer": "/fingerprints", "detail": f"a list of at most {enrolment.MAX_KEYS} fingerprints"})
    if errors:
        raise Problem(422, "invalid decision body", slug="validation", errors=errors)
    request[DECISION_BODY] = body
    return body


async def _comment(request: web.Request, fields: frozenset[str] = COMMENT_ONLY) -> str | None:
    comment = (await _decision_body(request, fields)).get("comment")
    return comment.strip() if comment else None


async def _fingerprints(request: web.Request) -> list[str]:
    return list((await _decision_body(request, APPROVAL_FIELDS)).get("fingerprints", []))


async def _decide(request: web.Request, approve: bool) -> web.StreamResponse:
    actor = await coordinator(request)
    engine = _engine(request)
    decided = await decide_enrolment(
        engine,
        actor,
        actor.name,
        request.match_info["id"],
        approve,
        functools.partial(_comment, request, APPROVAL_FIELDS if approve else COMMENT_ONLY),
        functools.partial(_fingerprints, request),
    )
    return json_response(json.dumps(decided.describe(), ensure_ascii=False))


@routes.post("/enrolments/{id}/approve")
async def approve_enrolment(request: web.Request) -> web.StreamResponse:
    """Approve a pending request; the body names the fingerprint of each of its keys, compared out of band."""
    return await _decide(request, True)


@routes.post("/enrolments/{id}/reject")
async def reject_enrolment(request: web.Request) -> web.StreamResponse:
    return await _decide(request, False)


@routes.post("/members/{node_id}/revoke")
async def revoke_member(request: web.Request) -> web.StreamResponse:
    """A coordinator revokes a member: out of the directory, its keys refused; the body says why."""
    actor = await coordinator(request)
    revoked = await revoke_membership(
        _engine(request), actor, actor.name, request.match_info["node_id"], functools.partial(_comment, request)
    )
    return json_response(json.dumps(revoked.describe(), ensure_ascii=False))


@routes.put("/members/{node_id}/label")
async def grant_member_label(request: web.Request) -> web.StreamResponse:
    """A national coordinator records the label the network grants a member: {"status", "since", "until"}."""
    actor = await coordinator(request)
    labels.require_grantor(actor.role)  # before the body is read
    body = await read_json_object(request)
    grant = await labels.grant_label(_engine(request), actor.role, actor.name, request.match_info["node_id"], body)
    return json_response(json.dumps({"node_id": grant.node_id, **grant.statement(), "granted_by": grant.granted_by}))


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
    items = await received_reports(_engine(request), period, actor, national_only=approved_filter(request.query))
    return json_response(json.dumps({"period": period.key, "items": items}, ensure_ascii=False))


async def _review(request: web.Request, decision: ReviewDecision, levels: int) -> web.StreamResponse:
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
        levels,
    )
    return json_response(stored.body, status=201)


def _review_routes(settings: HubSettings) -> list[web.AbstractRouteDef]:
    """Validate (regional validation or national acceptance, by the coordinator's role) and return."""
    levels = settings.approval_levels
    path = "/reports/{origin}/{id}"
    return [
        web.post(f"{path}/validate", functools.partial(_review, decision=ReviewDecision.VALIDATED, levels=levels)),
        web.post(f"{path}/return", functools.partial(_review, decision=ReviewDecision.RETURNED, levels=levels)),
    ]


@routes.get("/me")
async def member_status(request: web.Request) -> web.StreamResponse:
    """A member node (signed request) reads its own enrolment and the states of its reports on the hub."""
    signed = await authenticate(request)
    engine = _engine(request)
    node_id = signed.peer.node_id
    found = [e.describe() for e in await enrolment.list_enrolments(engine) if e.node_id == node_id]
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(records.c.id, records.c.period, records.c.version, records.c.status, records.c.body).where(
                records.c.kind == "report", records.c.origin == node_id, records.c.deleted.is_(False)
            )
        )
        reviews = await hub_reviews(connection, {node_id})
        reports = [
            {
                "id": row.id,
                "period": row.period,
                "version": row.version,
                "state": effective_state(
                    row.status, row.version, Figures.of(json.loads(row.body)), reviews.get((node_id, row.id), [])
                ),
            }
            for row in rows
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


def _table_handler(build: TableBuilder, settings: HubSettings, cache: FigureCache) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return await stream_table(request, await build(request, await coordinator(request), settings, cache))

    return handler


def build_routes(settings: HubSettings, cache: FigureCache) -> list[web.AbstractRouteDef]:
    """Every route of the hub; the tables' handlers get the hub's settings and the app's figure cache (shared with
    the dashboard: figures computed once per data version, figure_cache.py) bound."""
    tables = [web.get(TABLE_PATHS[name], _table_handler(build, settings, cache)) for name, build in TABLES.items()]
    # Per app: the join throttle counts this hub's requests only.
    throttle = SourceThrottle(settings.enrolment_requests_per_hour, HOUR_S)
    limits = enrolment.EnrolmentLimits(settings.enrolment_max_pending, settings.enrolment_max_pending_per_source)
    join = web.post("/enrolments", functools.partial(request_enrolment, throttle=throttle, limits=limits))
    return [join, *routes, *_review_routes(settings), *tables]
