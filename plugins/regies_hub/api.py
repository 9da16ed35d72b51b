"""The hub's HTTP surface under /plugins/hub/: join requests, directory, report reviews, tables and exports."""

from __future__ import annotations

import datetime as dt
import functools
import json
from typing import Any

from aiohttp import web
from sqlalchemy import select

from federation import appkeys
from federation.api.requests import json_response, read_json_object, require_token
from federation.indicators import parse_period_key, period_bounds
from federation.problems import Problem
from federation.protocol import persistence
from federation.protocol.context import FEDERATION
from federation.protocol.discovery import base_url
from federation.protocol.receiver import authenticate
from federation.protocol.signing import SignatureError, signature_keyid, split_keyid, verify_request
from federation.schema.records import ReportReview, ReviewDecision
from federation.storage.tables import records
from federation.storage.tokens import Actor

from . import aggregates, enrolment
from .aggregates import Scope
from .settings import HubSettings
from .tables import FORMATS, Column, write_geojson, write_table

COORDINATORS = ("admin", "national", "regional")
MAX_COMMENT = 2000
routes = web.RouteTableDef()


async def coordinator(request: web.Request) -> Actor:
    return await require_token(request, roles=COORDINATORS)


def _engine(request: web.Request) -> Any:
    return request.config_dict[appkeys.ENGINE]


def _forbidden_region(actor: Actor, region: str | None) -> Problem:
    return Problem(
        403, f"a regional coordinator of region {actor.region} cannot act on region {region}", slug="forbidden"
    )


def _period(request: web.Request) -> Any:
    key = request.query.get("period", "")
    try:
        return parse_period_key(key)
    except ValueError as exc:
        raise Problem(400, str(exc), slug="invalid-query", errors=[{"pointer": "/period", "detail": str(exc)}]) from exc


def _scope(request: web.Request, actor: Actor) -> Scope:
    level = request.query.get("level", "regional" if actor.role == "regional" else "national")
    if level not in aggregates.LEVELS:
        raise Problem(400, f"level must be one of {', '.join(aggregates.LEVELS)}", slug="invalid-query")
    from federation.schema.geo import DEPARTMENTS, REGIONS

    # A region or department that is given must exist, whatever the level: never silently ignored.
    if "region" in request.query and request.query["region"] not in REGIONS:
        raise Problem(400, f"unknown region '{request.query['region']}' (an INSEE region code)", slug="invalid-query")
    if "department" in request.query and request.query["department"].upper() not in DEPARTMENTS:
        raise Problem(400, f"unknown department '{request.query['department']}'", slug="invalid-query")
    region = request.query.get("region") or (actor.region if actor.role == "regional" else None)
    department = request.query.get("department")
    if level == "regional" and not region:
        raise Problem(400, "a regional table needs ?region=<INSEE region code>", slug="invalid-query")
    if level == "departmental":
        if not department:
            raise Problem(400, "a departmental table needs ?department=<code>", slug="invalid-query")
        known = DEPARTMENTS.get(department.upper())
        if known is None:
            raise Problem(400, f"unknown department '{department}'", slug="invalid-query")
        department, region = known.code, known.region_code
    if actor.role == "regional" and (level == "national" or region != actor.region):
        raise _forbidden_region(actor, region if level != "national" else "national")
    return Scope(level, region, department)


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
        raise Problem(400, "state must be pending, approved or rejected", slug="invalid-query")
    found = await enrolment.list_enrolments(_engine(request), state, actor.region if actor.role == "regional" else None)
    return json_response(json.dumps({"items": [item.describe() for item in found]}, ensure_ascii=False))


async def _comment(request: web.Request) -> str | None:
    """The optional {"comment": "..."} body of a decision, stripped; 422 for anything else in it."""
    if not request.can_read_body:
        return None
    body = await read_json_object(request)
    comment = body.get("comment")
    errors = [{"pointer": f"/{key}", "detail": "unknown field"} for key in sorted(set(body) - {"comment"})]
    if "comment" in body and (not isinstance(comment, str) or len(comment) > MAX_COMMENT):
        errors.append({"pointer": "/comment", "detail": f"a string of at most {MAX_COMMENT} characters"})
    if errors:
        raise Problem(422, "invalid decision body", slug="validation", errors=errors)
    return comment.strip() if comment else None


async def _decide(request: web.Request, approve: bool) -> web.StreamResponse:
    actor = await coordinator(request)
    raw_id = request.match_info["id"]
    if not raw_id.isdigit() or len(raw_id) > 18:  # beyond a 64-bit id the database would overflow (a 500)
        raise Problem(404, f"no enrolment {raw_id}", slug="not-found")
    current = await enrolment.get_enrolment(_engine(request), int(raw_id))
    if current is None:
        raise Problem(404, f"no enrolment {raw_id}", slug="not-found")
    if not actor.sees_region(current.region):
        raise _forbidden_region(actor, current.region)
    comment = await _comment(request)
    if not approve and not comment:
        raise Problem(
            422,
            "say why the request is rejected",
            slug="validation",
            errors=[{"pointer": "/comment", "detail": "required"}],
        )
    try:
        decided = await enrolment.decide(_engine(request), int(raw_id), approve, actor.name, comment)
    except enrolment.EnrolmentError as exc:
        raise Problem(exc.status, str(exc), slug="conflict") from exc
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


DIRECTORY_COLUMNS = (
    Column("node_id", "Identifiant", "Node id"),
    Column("name", "Régie", "Régie"),
    Column("kind", "Type", "Kind"),
    Column("label_status", "Label", "Label status"),
    Column("department", "Département", "Department"),
    Column("region", "Région", "Region"),
    Column("base_url", "Adresse du nœud", "Node address"),
)


@routes.get("/directory/export")
async def directory_export(request: web.Request) -> web.StreamResponse:
    actor = await coordinator(request)
    members = await enrolment.list_enrolments(
        _engine(request), "approved", actor.region if actor.role == "regional" else None
    )
    return await _stream_table(request, "annuaire", DIRECTORY_COLUMNS, [m.describe() for m in members])


@routes.get("/directory.geojson")
async def directory_geojson(request: web.Request) -> web.StreamResponse:
    """Members as GeoJSON points (from the location in their profile; null geometry when unknown)."""
    engine = _engine(request)
    members = await enrolment.list_enrolments(engine, "approved")
    async with engine.connect() as connection:
        profiles = {
            row.origin: json.loads(row.body)
            for row in await connection.execute(
                select(records.c.origin, records.c.body).where(records.c.kind == "node", records.c.deleted.is_(False))
            )
        }
    features = []
    for member in members:
        location = (profiles.get(member.node_id) or {}).get("location") or {}
        features.append(
            {
                "lon": location.get("lon"),
                "lat": location.get("lat"),
                "node_id": member.node_id,
                "name": member.name,
                "department": member.department,
                "region": member.region,
                "label_status": member.label_status,
                "url": member.base_url,
            }
        )
    response = web.StreamResponse(headers={"Content-Type": "application/geo+json"})
    await response.prepare(request)
    await write_geojson(features, response.write)
    await response.write_eof()
    return response


# --- Reports and reviews ------------------------------------------------------------------------------


async def _member_regions(engine: Any) -> dict[str, dict[str, Any]]:
    return {m.node_id: m.describe() for m in await enrolment.list_enrolments(engine, "approved")}


@routes.get("/reports")
async def list_reports(request: web.Request) -> web.StreamResponse:
    actor = await coordinator(request)
    period = _period(request)
    engine = _engine(request)
    members = await _member_regions(engine)
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(records.c.origin, records.c.id, records.c.version, records.c.status, records.c.body).where(
                    records.c.kind == "report",
                    records.c.deleted.is_(False),
                    records.c.period == period.key,
                    records.c.status != "draft",  # a draft is the régie's work in progress, not a received report
                )
            )
        ).all()
    items = []
    for origin, record_id, version, state, body in rows:
        member = members.get(origin, {})
        if not actor.sees_region(member.get("region")):
            continue
        document = json.loads(body)
        submitted = [entry["at"] for entry in document.get("audit", []) if entry.get("action") == "submitted"]
        items.append(
            {
                "origin": origin,
                "name": member.get("name"),
                "region": member.get("region"),
                "department": member.get("department"),
                "id": record_id,
                "version": version,
                "state": state,
                "submitted_at": submitted[0] if submitted else None,
                "indicators": document.get("indicators", {}),
                "comment": document.get("comment", ""),
            }
        )
    items.sort(key=lambda item: (item["region"] or "", item["name"] or ""))
    return json_response(json.dumps({"period": period.key, "items": items}, ensure_ascii=False))


async def _review(request: web.Request, decision: ReviewDecision) -> web.StreamResponse:
    actor = await coordinator(request)
    origin, report_id = request.match_info["origin"], request.match_info["id"]
    engine = _engine(request)
    member = (await _member_regions(engine)).get(origin)
    if member is None:
        raise Problem(404, f"'{origin}' is not a member of the network", slug="not-found")
    if not actor.sees_region(member.get("region")):
        raise _forbidden_region(actor, member.get("region"))
    async with engine.connect() as connection:
        report = (
            await connection.execute(
                select(records.c.version, records.c.status).where(
                    records.c.kind == "report", records.c.origin == origin, records.c.id == report_id
                )
            )
        ).first()
    if report is None:
        raise Problem(404, f"no report {report_id} from {origin}", slug="not-found")
    if report.status != "submitted":
        raise Problem(409, f"only submitted reports can be reviewed; this one is {report.status}", slug="conflict")
    comment = await _comment(request) or ""
    if decision == ReviewDecision.RETURNED and not comment:
        raise Problem(
            422, "say what to correct", slug="validation", errors=[{"pointer": "/comment", "detail": "required"}]
        )
    fields = {
        "report_origin": origin,
        "report_id": report_id,
        "report_version": report.version,
        "decision": decision,
        "comment": comment,
        "reviewer": actor.name,
    }
    stored = await request.config_dict[appkeys.STORE].create(
        "review", lambda _previous, envelope: ReportReview.model_validate({**fields, **envelope})
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

AREA = Column("area", "Territoire", "Area")
ACTIVITY_COLUMNS = (
    Column("category", "Champ d'action", "Field of action"),
    Column("service_type", "Type de service", "Service type"),
    Column("activities", "Activités", "Activities", "integer"),
    Column("regies", "Régies", "Régies", "integer"),
)
INDICATOR_COLUMNS = (
    Column("category", "Champ d'action", "Field of action"),
    Column("service_type", "Type de service", "Service type"),
    Column("indicator", "Indicateur", "Indicator"),
    Column("total", "Total", "Total", "number"),
    Column("reports", "Rapports", "Reports", "integer"),
)
COMPLETENESS_COLUMNS = (
    AREA,
    Column("expected", "Attendus", "Expected", "integer"),
    Column("received", "Reçus", "Received", "integer"),
    Column("on_time", "Dans les délais", "On time", "integer"),
)
MISSING_COLUMNS = (
    Column("node_id", "Identifiant", "Node id"),
    Column("name", "Régie", "Régie"),
    Column("department", "Département", "Department"),
    Column("region", "Région", "Region"),
)
TREND_COLUMNS = (
    Column("period", "Période", "Period"),
    Column("total", "Total", "Total", "number"),
    Column("reports", "Rapports", "Reports", "integer"),
)


async def _stream_table(
    request: web.Request, title: str, columns: tuple[Column, ...], rows: list[dict[str, Any]], extra: Any = None
) -> web.StreamResponse:
    fmt = request.query.get("format", "json")
    if fmt not in FORMATS:
        raise Problem(400, f"format must be one of {', '.join(sorted(FORMATS))}", slug="invalid-query")
    language = request.query.get("lang", "fr")
    if language not in ("fr", "en"):
        raise Problem(400, "lang must be fr or en", slug="invalid-query")
    if fmt == "json" and extra is not None:
        return json_response(json.dumps({"title": title, "rows": rows, **extra}, ensure_ascii=False, default=str))
    media_type, extension = FORMATS[fmt]
    response = web.StreamResponse(
        headers={
            "Content-Type": media_type,
            "Content-Disposition": f'attachment; filename="{title}.{extension}"',
        }
    )
    await response.prepare(request)
    await write_table(fmt, columns, rows, response.write, title=title, language=language)
    await response.write_eof()
    return response


def _with_area(scope: Scope, columns: tuple[Column, ...]) -> tuple[Column, ...]:
    return (AREA, *columns) if scope.group_key() else columns


@routes.get("/tables/activities")
async def activity_table(request: web.Request) -> web.StreamResponse:
    actor = await coordinator(request)
    period, scope = _period(request), _scope(request, actor)
    rows = await aggregates.activity_table(_engine(request), period, scope)
    title = f"activites-{period.key}-{scope.level}"
    return await _stream_table(request, title, _with_area(scope, ACTIVITY_COLUMNS), rows, {"scope": scope.__dict__})


@routes.get("/tables/indicators")
async def indicator_table(request: web.Request) -> web.StreamResponse:
    actor = await coordinator(request)
    period, scope = _period(request), _scope(request, actor)
    registry = request.config_dict[appkeys.PLUGINS].registry
    rows = await aggregates.indicator_table(_engine(request), registry, period, scope)
    title = f"indicateurs-{period.key}-{scope.level}"
    return await _stream_table(request, title, _with_area(scope, INDICATOR_COLUMNS), rows, {"scope": scope.__dict__})


def deadline_for(period: Any, settings: HubSettings) -> dt.date:
    return period_bounds(period)[1] + dt.timedelta(days=settings.report_deadline_days)


async def completeness_table(request: web.Request, settings: HubSettings) -> web.StreamResponse:
    actor = await coordinator(request)
    period, scope = _period(request), _scope(request, actor)
    deadline = deadline_for(period, settings)
    by_area, missing = await aggregates.completeness(_engine(request), period, scope, deadline)
    title = f"completude-{period.key}-{scope.level}"
    extra = {"deadline": deadline.isoformat(), "missing": missing, "scope": scope.__dict__}
    return await _stream_table(request, title, COMPLETENESS_COLUMNS, by_area, extra)


async def missing_table(request: web.Request, settings: HubSettings) -> web.StreamResponse:
    actor = await coordinator(request)
    period, scope = _period(request), _scope(request, actor)
    _, missing = await aggregates.completeness(_engine(request), period, scope, deadline_for(period, settings))
    return await _stream_table(request, f"manquants-{period.key}", MISSING_COLUMNS, missing)


@routes.get("/tables/trends")
async def trend_table(request: web.Request) -> web.StreamResponse:
    actor = await coordinator(request)
    scope = _scope(request, actor)
    indicator = request.query.get("indicator", "")
    if indicator not in request.config_dict[appkeys.PLUGINS].registry.indicators:
        raise Problem(400, f"unknown indicator '{indicator}' (see /api/v1/indicators)", slug="invalid-query")
    rows = await aggregates.trends(_engine(request), indicator, scope)
    return await _stream_table(request, f"tendance-{indicator}", TREND_COLUMNS, rows, {"indicator": indicator})


def build_routes(settings: HubSettings) -> list[web.AbstractRouteDef]:
    """Every route of the hub; handlers that depend on the hub's settings get them bound."""
    return [
        *routes,
        web.get("/tables/completeness", functools.partial(completeness_table, settings=settings)),
        web.get("/tables/missing", functools.partial(missing_table, settings=settings)),
    ]
