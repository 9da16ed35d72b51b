"""What coordinators do, whichever way they come in (API token or dashboard session): scope, reviews, decisions."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.indicators import parse_period_key
from federation.problems import Problem, invalid_query
from federation.schema.records import Period, ReportReview, ReviewDecision
from federation.storage.tables import records

from . import aggregates, enrolment
from .aggregates import Scope

MAX_COMMENT = 2000
MAX_ENROLMENT_ID = 2**31 - 1  # a 32-bit column on PostgreSQL

CommentSource = Callable[[], Awaitable[str | None]]
"""Reads the decision's comment (an API body, a form field) once the decision is known to be possible: a body
is only read, and refused if malformed, after the 404, 403 and 409 answers."""


class Coordinator(Protocol):
    """A national or regional coordinator (or the hub's administrator): an API `Actor` or a dashboard `WebUser`."""

    @property
    def role(self) -> str: ...

    @property
    def region(self) -> str | None: ...

    def sees_region(self, region: str | None) -> bool: ...


def regional_only(coordinator: Coordinator) -> str | None:
    """The region a coordinator is confined to (None: every region)."""
    return coordinator.region if coordinator.role == "regional" else None


def forbidden_region(coordinator: Coordinator, region: str | None) -> Problem:
    return Problem(
        403, f"a regional coordinator of region {coordinator.region} cannot act on region {region}", slug="forbidden"
    )


def parse_period(query: Mapping[str, str]) -> Period:
    key = query.get("period", "")
    try:
        return parse_period_key(key)
    except ValueError as exc:
        raise invalid_query("period", str(exc)) from exc


def resolve_scope(query: Mapping[str, str], coordinator: Coordinator) -> Scope:
    """The régies a table covers, from `level`, `region` and `department`; a regional coordinator's own region
    by default, and never another."""
    level = query.get("level", "regional" if coordinator.role == "regional" else "national")
    if level not in aggregates.LEVELS:
        raise invalid_query("level", f"must be one of {', '.join(aggregates.LEVELS)}")
    from federation.schema.geo import DEPARTMENTS, REGIONS

    # A region or department that is given must exist, whatever the level: never silently ignored.
    if "region" in query and query["region"] not in REGIONS:
        raise invalid_query("region", f"names an unknown region '{query['region']}' (an INSEE region code)")
    if "department" in query and query["department"].upper() not in DEPARTMENTS:
        raise invalid_query("department", f"names an unknown department '{query['department']}'")
    region = query.get("region") or regional_only(coordinator)
    department = query.get("department")
    if level == "regional" and not region:
        raise invalid_query("region", "is needed by a regional table (an INSEE region code)")
    if level == "departmental":
        if not department:
            raise invalid_query("department", "is needed by a departmental table (a department code)")
        known = DEPARTMENTS[department.upper()]  # checked above
        department, region = known.code, known.region_code
    if coordinator.role == "regional" and (level == "national" or region != coordinator.region):
        raise forbidden_region(coordinator, region if level != "national" else "national")
    return Scope(level, region, department)


# --- Reports and reviews ------------------------------------------------------------------------------


async def member_places(engine: AsyncEngine) -> dict[str, dict[str, Any]]:
    """Approved members by node id, with their name, department and region."""
    return {m.node_id: m.describe() for m in await enrolment.list_enrolments(engine, "approved")}


def _submitted_at(document: Mapping[str, Any]) -> str | None:
    submitted = [entry["at"] for entry in document.get("audit", []) if entry.get("action") == "submitted"]
    return submitted[0] if submitted else None


async def received_reports(engine: AsyncEngine, period: Period, coordinator: Coordinator) -> list[dict[str, Any]]:
    """The reports received for a period (drafts are the régies' work in progress, not received), in the
    coordinator's regions, by region then régie name."""
    members = await member_places(engine)
    async with engine.connect() as connection:
        rows = (
            await connection.execute(
                select(records.c.origin, records.c.id, records.c.version, records.c.status, records.c.body).where(
                    records.c.kind == "report",
                    records.c.deleted.is_(False),
                    records.c.period == period.key,
                    records.c.status != "draft",
                )
            )
        ).all()
    items = []
    for origin, record_id, version, state, body in rows:
        member = members.get(origin, {})
        if not coordinator.sees_region(member.get("region")):
            continue
        document = json.loads(body)
        items.append(
            {
                "origin": origin,
                "name": member.get("name"),
                "region": member.get("region"),
                "department": member.get("department"),
                "id": record_id,
                "version": version,
                "state": state,
                "submitted_at": _submitted_at(document),
                "indicators": document.get("indicators", {}),
                "comment": document.get("comment", ""),
            }
        )
    items.sort(key=lambda item: (item["region"] or "", item["name"] or ""))
    return items


async def _member_in_scope(engine: AsyncEngine, coordinator: Coordinator, origin: str) -> dict[str, Any]:
    approved = await enrolment.list_enrolments(engine, "approved", node_id=origin)
    member = approved[-1].describe() if approved else None  # the latest, as member_places keeps
    if member is None:
        raise Problem(404, f"'{origin}' is not a member of the network", slug="not-found")
    if not coordinator.sees_region(member.get("region")):
        raise forbidden_region(coordinator, member.get("region"))
    return member


async def received_report(
    engine: AsyncEngine, coordinator: Coordinator, origin: str, report_id: str
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the member, the report as received with its state) — 404 unknown, 403 outside the coordinator's region."""
    member = await _member_in_scope(engine, coordinator, origin)
    async with engine.connect() as connection:
        row = (
            await connection.execute(
                select(records.c.version, records.c.status, records.c.body).where(
                    records.c.kind == "report",
                    records.c.origin == origin,
                    records.c.id == report_id,
                    records.c.deleted.is_(False),
                    records.c.status != "draft",
                )
            )
        ).first()
    if row is None:
        raise Problem(404, f"no report {report_id} from {origin}", slug="not-found")
    document = json.loads(row.body)
    return member, {**document, "state": row.status, "version": row.version, "submitted_at": _submitted_at(document)}


async def review_report(
    engine: AsyncEngine,
    store: Any,
    coordinator: Coordinator,
    reviewer: str,
    origin: str,
    report_id: str,
    decision: ReviewDecision,
    read_comment: CommentSource,
) -> Any:
    """Validate or return a submitted report: a `review` record, audited and sent back to the régie through the
    hub's feed. A return needs a comment saying what to correct."""
    await _member_in_scope(engine, coordinator, origin)
    async with engine.connect() as connection:
        report = (
            await connection.execute(
                select(records.c.version, records.c.status).where(
                    records.c.kind == "report",
                    records.c.origin == origin,
                    records.c.id == report_id,
                    records.c.deleted.is_(False),
                )
            )
        ).first()
    if report is None:
        raise Problem(404, f"no report {report_id} from {origin}", slug="not-found")
    if report.status != "submitted":
        raise Problem(409, f"only submitted reports can be reviewed; this one is {report.status}", slug="conflict")
    comment = await read_comment() or ""
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
        "reviewer": reviewer,
    }
    return await store.create("review", lambda _previous, envelope: ReportReview.model_validate({**fields, **envelope}))


# --- Join requests ------------------------------------------------------------------------------------


async def decide_enrolment(
    engine: AsyncEngine, coordinator: Coordinator, decider: str, raw_id: str, approve: bool, read_comment: CommentSource
) -> enrolment.Enrolment:
    """Approve or reject a pending join request of the coordinator's region; a rejection says why."""
    if not raw_id.isdigit() or int(raw_id) > MAX_ENROLMENT_ID:  # a larger one would overflow the database
        raise Problem(404, f"no enrolment {raw_id}", slug="not-found")
    current = await enrolment.get_enrolment(engine, int(raw_id))
    if current is None:
        raise Problem(404, f"no enrolment {raw_id}", slug="not-found")
    if not coordinator.sees_region(current.region):
        raise forbidden_region(coordinator, current.region)
    comment = await read_comment()
    if not approve and not comment:
        raise Problem(
            422,
            "say why the request is rejected",
            slug="validation",
            errors=[{"pointer": "/comment", "detail": "required"}],
        )
    try:
        return await enrolment.decide(engine, int(raw_id), approve, decider, comment)
    except enrolment.EnrolmentError as exc:
        raise Problem(exc.status, str(exc), slug="conflict") from exc
