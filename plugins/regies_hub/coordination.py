"""What coordinators do, whichever way they come in (API token or dashboard session): scope, reviews, decisions."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import Any, Protocol
from uuid import uuid4

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from federation.plugin_api import (
    Period,
    Problem,
    ReportReview,
    ReportState,
    ReviewDecision,
    invalid_query,
    parse_period_key,
)
from federation.plugin_api.storage import node_meta, records, review_figures

from . import aggregates, approval, enrolment
from .aggregates import Scope
from .reviewed import FIGURES, Figures, from_row, keep

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
    from federation.plugin_api import DEPARTMENTS, REGIONS

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
#
# A report's review state, as the hub shows and uses it, comes from the reviews the hub itself wrote, never from
# what a member says: a member may send drafts and submissions, and sends its report back once it has recorded a
# hub decision on it (one new version, in the decided state). A claimed decision the hub did not make is ignored:
# the report counts as submitted. A validation holds only while the report has the figures it decided on
# (reviewed.py): changed afterwards, the report is `changed_after_validation`. Reviews of other origins are never
# read (the receivers refuse them anyway: the kind's declaration, RecordKind.authors).

ReviewHistory = Mapping[tuple[str, str], list[dict[str, Any]]]
"""(report origin, report id) → the hub's reviews of it (their documents, with the figures each decided on under
reviewed.FIGURES), oldest first."""
# Audit actions that record a hub decision: in a member's report they are the member's word, not the hub's.
_DECISIONS = frozenset({ReportState.VALIDATED.value, ReportState.RETURNED.value})


async def hub_reviews(connection: AsyncConnection, origins: Collection[str]) -> ReviewHistory:
    """The hub's own decisions on the reports of these régies."""
    if not origins:
        return {}
    own = select(node_meta.c.value).where(node_meta.c.key == "node_id").scalar_subquery()
    rows = await connection.execute(
        select(records.c.body, review_figures.c.period, review_figures.c.indicators)
        .select_from(records.outerjoin(review_figures, review_figures.c.review_id == records.c.id))
        .where(
            records.c.kind == "review",
            records.c.origin == own,
            records.c.deleted.is_(False),
            records.c.audience.in_(sorted(origins)),
        )
        .order_by(records.c.updated_at_us)
    )
    history: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for body, period, indicators in rows:
        review = {**json.loads(body), FIGURES: from_row(period, indicators)}
        history.setdefault((review["report_origin"], review["report_id"]), []).append(review)
    return history


_VALIDATIONS = frozenset({ReportState.VALIDATED.value, approval.VALIDATED_REGIONAL})


def effective_state(claimed: str, version: int, figures: Figures, reviews: Sequence[Mapping[str, Any]]) -> str:
    """The state the hub gives a member's report: `claimed` by the member at `version` with these `figures`,
    `reviews` the hub's own decisions on this report (hub_reviews), oldest first.

    When the hub's latest decision is a validation (regional or national) and the report's figures are no longer
    the ones it decided on, the report is `changed_after_validation`, awaiting a decision again. Otherwise a
    decision the hub made on exactly this version is the state. A submission is what the member says, unless this
    version is the member's record of a regional validation of the version before (two-level approval: the report
    stays submitted). A validation holds only if the hub accepted the version just before (or the one before the
    recorded regional validation): the member records a decision as one new version. A return holds if the hub's
    latest decision on an earlier version is a return (the member may edit a returned report). Any other claimed
    decision counts as submitted.
    """
    if claimed == ReportState.DRAFT:
        return claimed
    decided = [review for review in reviews if int(review["report_version"]) <= version]
    if decided:
        latest = decided[-1]
        kept = latest.get(FIGURES)
        outcome = approval.outcome(str(latest["decision"]), latest.get("level"))
        if outcome in _VALIDATIONS and (kept is None or kept.digest != figures.digest):
            return approval.CHANGED_AFTER_VALIDATION
    decisions = [
        (int(review["report_version"]), approval.outcome(str(review["decision"]), review.get("level")))
        for review in decided
    ]
    on_this = [decision for reviewed, decision in decisions if reviewed == version]
    if on_this:
        return on_this[-1]
    if claimed == ReportState.SUBMITTED:
        before = [decision for reviewed, decision in decisions if reviewed == version - 1]
        return before[-1] if before and before[0] == approval.VALIDATED_REGIONAL else claimed
    accepted = ReportState.VALIDATED.value
    if claimed == accepted and (
        (version - 1, accepted) in decisions
        or {(version - 2, approval.VALIDATED_REGIONAL), (version - 2, accepted)} <= set(decisions)
    ):
        return claimed
    earlier = [decision for reviewed, decision in decisions if reviewed < version]
    if claimed == ReportState.RETURNED and earlier and earlier[-1] == claimed:
        return claimed
    return str(ReportState.SUBMITTED.value)


async def member_places(engine: AsyncEngine) -> dict[str, dict[str, Any]]:
    """Approved and revoked members by node id (the latest decision wins), with their name, department, region
    and `state`: a revoked member's reports stay on the hub, shown as such."""
    return {
        m.node_id: m.describe() for m in await enrolment.list_enrolments(engine) if m.state in ("approved", "revoked")
    }


def _submitted_at(document: Mapping[str, Any]) -> str | None:
    submitted = [entry["at"] for entry in document.get("audit", []) if entry.get("action") == "submitted"]
    return submitted[0] if submitted else None


async def received_reports(
    engine: AsyncEngine, period: Period, coordinator: Coordinator, *, national_only: bool = False
) -> list[dict[str, Any]]:
    """The reports received for a period (drafts are the régies' work in progress, not received), in the
    coordinator's regions, by region then régie name; only those the national level accepted if `national_only`."""
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
        reviews = await hub_reviews(connection, {row.origin for row in rows})
    items = []
    for origin, record_id, version, claimed, body in rows:
        member = members.get(origin, {})
        if not coordinator.sees_region(member.get("region")):
            continue
        document = json.loads(body)
        state = effective_state(claimed, version, Figures.of(document), reviews.get((origin, record_id), []))
        if national_only and state != ReportState.VALIDATED:
            continue
        items.append(
            {
                "origin": origin,
                "name": member.get("name"),
                "membership": member.get("state"),
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
        reviews = await hub_reviews(connection, {origin})
    if row is None:
        raise Problem(404, f"no report {report_id} from {origin}", slug="not-found")
    document = json.loads(row.body)
    own = reviews.get((origin, report_id), [])
    figures = Figures.of(document)
    state = effective_state(row.status, row.version, figures, own)
    # The decisions in the member's audit trail are its word: the hub lists its own reviews instead.
    audit = [entry for entry in document.get("audit", []) if entry.get("action") not in _DECISIONS]
    audit.extend(_hub_step(review, own[:position]) for position, review in enumerate(own))
    audit.sort(key=lambda entry: str(entry.get("at")))
    report = {**document, "state": state, "version": row.version, "submitted_at": _submitted_at(document)}
    if state == approval.CHANGED_AFTER_VALIDATION:
        validation = own[-1]
        kept = validation[FIGURES]
        report["changed_after"] = {
            "at": validation["updated_at"],
            "reviewer": validation["reviewer"],
            "changes": figures.changes_from(kept) if kept is not None else [],
        }
    return member, {**report, "audit": audit}


def _hub_step(review: Mapping[str, Any], before: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One of the hub's decisions as an audit entry: who (and in which role), when, what, at which level. A national
    acceptance with no regional validation before it was both steps in one."""
    step: dict[str, Any] = {"at": review["updated_at"], "actor": f"hub:{review['reviewer']}"}
    step["action"] = approval.outcome(str(review["decision"]), review.get("level"))
    if review.get("level"):
        step["level"] = review["level"]
        regional_before = any(
            approval.outcome(r["decision"], r.get("level")) == approval.VALIDATED_REGIONAL for r in before
        )
        if step["action"] == ReportState.VALIDATED and review["level"] == "national" and not regional_before:
            step["both_levels"] = True
    if review.get("reviewer_role"):
        step["role"] = review["reviewer_role"]
    if review.get("comment"):
        step["comment"] = review["comment"]
    return step


async def review_report(
    engine: AsyncEngine,
    store: Any,
    coordinator: Coordinator,
    reviewer: str,
    origin: str,
    report_id: str,
    decision: ReviewDecision,
    read_comment: CommentSource,
    levels: int = 2,
) -> Any:
    """Validate or return a submitted report: a `review` record, audited and sent back to the régie through the
    hub's feed. A return needs a comment saying what to correct. With two `levels` the decision's level comes
    from the coordinator's role and the report's state (approval.decision_level)."""
    await _member_in_scope(engine, coordinator, origin)
    async with engine.connect() as connection:
        report = (
            await connection.execute(
                select(records.c.version, records.c.status, records.c.body).where(
                    records.c.kind == "report",
                    records.c.origin == origin,
                    records.c.id == report_id,
                    records.c.deleted.is_(False),
                )
            )
        ).first()
        reviews = await hub_reviews(connection, {origin})
    if report is None:
        raise Problem(404, f"no report {report_id} from {origin}", slug="not-found")
    figures = Figures.of(json.loads(report.body))
    state = effective_state(report.status, report.version, figures, reviews.get((origin, report_id), []))
    level = approval.decision_level(coordinator, state, levels)
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
    if level is not None:
        fields |= {"level": level, "reviewer_role": coordinator.role}
    review_id = uuid4()
    await keep(engine, str(review_id), figures)  # what this decision is about: the figures the coordinator saw
    return await store.create_built(
        "review", lambda _previous, envelope: ReportReview.model_validate({**fields, **envelope}), record_id=review_id
    )


# --- Join requests ------------------------------------------------------------------------------------


FingerprintSource = Callable[[], Awaitable[list[str]]]
"""Reads the key fingerprints an approval confirms (compared with the régie's operator out of band)."""


async def decide_enrolment(
    engine: AsyncEngine,
    coordinator: Coordinator,
    decider: str,
    raw_id: str,
    approve: bool,
    read_comment: CommentSource,
    read_fingerprints: FingerprintSource,
) -> enrolment.Enrolment:
    """Approve or reject a pending join request of the coordinator's region; a rejection says why, an approval
    confirms the fingerprint of each of the request's keys."""
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
    fingerprints = await read_fingerprints() if approve else []
    try:
        return await enrolment.decide(engine, int(raw_id), approve, decider, comment, fingerprints=fingerprints)
    except enrolment.EnrolmentError as exc:
        raise enrolment_problem(exc) from exc


def enrolment_problem(exc: enrolment.EnrolmentError) -> Problem:
    """A refused join request or decision as problem+json, with its field and, for a 429, when to come back."""
    errors = [{"pointer": exc.pointer, "detail": str(exc)}] if exc.pointer else []
    headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
    return Problem(exc.status, str(exc), slug=exc.slug, errors=errors, headers=headers)


async def revoke_membership(
    engine: AsyncEngine, coordinator: Coordinator, decider: str, node_id: str, read_reason: CommentSource
) -> enrolment.Enrolment:
    """Revoke a member of the coordinator's region; the revocation says why."""
    members = await enrolment.list_enrolments(engine, "approved", node_id=node_id)
    if not members:
        raise Problem(404, f"'{node_id}' is not a member of the network", slug="not-found")
    if not coordinator.sees_region(members[-1].region):
        raise forbidden_region(coordinator, members[-1].region)
    reason = await read_reason()
    if not reason:
        raise Problem(
            422,
            "say why the member is revoked",
            slug="validation",
            errors=[{"pointer": "/comment", "detail": "required"}],
        )
    try:
        return await enrolment.revoke(engine, node_id, decider, reason)
    except enrolment.EnrolmentError as exc:
        raise enrolment_problem(exc) from exc
