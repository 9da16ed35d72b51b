"""Period report workflow on the node: which state changes a node may make, and the audit trail they leave."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from federation.problems import Problem
from federation.schema.records import AuditEntry, PeriodReport, PeriodReportData, ReportState, utcnow
from federation.storage.records import WriteConflict

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from federation.registry import Registry

# What the node itself may do; validating and returning belong to the hub's coordinators.
_NODE_TRANSITIONS: dict[ReportState | None, set[ReportState]] = {
    None: {ReportState.DRAFT, ReportState.SUBMITTED},
    ReportState.DRAFT: {ReportState.DRAFT, ReportState.SUBMITTED},
    ReportState.RETURNED: {ReportState.RETURNED, ReportState.SUBMITTED},
    ReportState.SUBMITTED: set(),
    ReportState.VALIDATED: set(),
}

_LOCKED_MESSAGES = {
    ReportState.SUBMITTED: "the report is submitted: it can change again only if the hub returns it",
    ReportState.VALIDATED: "the report is validated and locked",
}


NO_HUB = "no hub to deliver the report to: join the network's hub first (regies network join)"


async def hub_joined(engine: AsyncEngine, registry: Registry) -> bool:
    """Whether this node has somewhere to deliver its reports: a sync target (the hub client's, once `regies
    network join` configured it) or an active hub peer it pushes to, the destinations `sender.destinations`
    sends reports to."""
    # Imported here: the protocol package imports the API, which imports this module.
    from federation.protocol import persistence

    if registry.sync_targets:
        return True
    return any(peer.is_hub and peer.push and peer.status == "active" for peer in await persistence.list_peers(engine))


def no_hub_problem() -> Problem:
    return Problem(409, NO_HUB, slug="no-hub", errors=[{"pointer": "/state", "detail": NO_HUB, "code": "no_hub"}])


def build_report(
    data: PeriodReportData,
    previous: dict[str, Any] | None,
    envelope: dict[str, Any],
    actor: str,
    *,
    hub_joined: bool,
    note: str | None = None,
) -> PeriodReport:
    """The new report record, or WriteConflict if the node may not make this change.

    Without a hub (`hub_joined` false) a report cannot be submitted, since nothing would deliver it; one that was
    submitted anyway (before this check existed, or before the node left its hub) can go back to draft. `note`
    goes into the audit entry (the validation warnings a submission went through, with the régie's explanation).
    """
    before = ReportState(previous["state"]) if previous else None
    after = ReportState(data.state)
    unlocking = before == ReportState.SUBMITTED and after == ReportState.DRAFT and not hub_joined
    if after == ReportState.SUBMITTED and before != ReportState.SUBMITTED and not hub_joined:
        raise no_hub_problem()
    if after not in _NODE_TRANSITIONS[before] and not unlocking:
        if before in _LOCKED_MESSAGES:
            raise WriteConflict(_LOCKED_MESSAGES[before])
        raise WriteConflict(f"a node cannot move a report from {before or 'nothing'} to {after}")
    new_fields = data.model_dump(mode="json")
    changed = sorted(key for key, value in new_fields.items() if previous is None or previous.get(key) != value)
    if previous is None:
        action = "submitted" if after == ReportState.SUBMITTED else "created"
    else:
        action = "submitted" if after == ReportState.SUBMITTED else "updated"
    audit = list(previous.get("audit", [])) if previous else []
    audit.append(
        AuditEntry(
            at=envelope["updated_at"] if "updated_at" in envelope else utcnow(),
            actor=actor,
            action=action,
            from_state=before,
            to_state=after,
            changed=changed,
            comment=note,
        ).model_dump(mode="json")
    )
    return PeriodReport.model_validate({**new_fields, **envelope, "audit": audit})


def check_deletable(previous: dict[str, Any]) -> None:
    if previous.get("state") != ReportState.DRAFT:
        raise WriteConflict(f"only draft reports can be deleted; this one is {previous.get('state')}")


def review_applies(report: dict[str, Any], review: dict[str, Any]) -> bool:
    """A hub review applies to the stored report if it reviewed this version, still submitted, or the version
    before it when the only change since is the hub's regional validation recorded here (the national level may
    decide before this node has sent that version back)."""
    if report.get("state") != ReportState.SUBMITTED or report.get("deleted"):
        return False
    version, reviewed = report.get("version"), review.get("report_version")
    if version == reviewed:
        return True
    audit = report.get("audit") or [{}]
    last = audit[-1]
    return (
        isinstance(version, int)
        and version - 1 == reviewed
        and last.get("level") == "regional"
        and last.get("action") == "validated"
        and review.get("level") == "national"
    )


def build_reviewed_report(previous: dict[str, Any], envelope: dict[str, Any], review: dict[str, Any]) -> PeriodReport:
    """The node's report after the hub validated or returned it: the node itself records the decision.

    Under two-level approval a regional validation is recorded in the audit trail only: the report stays
    submitted (locked) until the national level accepts or returns it."""
    if not review_applies(previous, review):
        raise WriteConflict(
            f"review of version {review.get('report_version')} does not apply to the report "
            f"(version {previous.get('version')}, {previous.get('state')})"
        )
    decided = ReportState(review["decision"])
    level = review.get("level")
    decision = ReportState.SUBMITTED if decided == ReportState.VALIDATED and level == "regional" else decided
    audit = list(previous.get("audit", []))
    audit.append(
        AuditEntry(
            at=envelope["updated_at"],
            actor=f"hub:{review['reviewer']}",
            action="validated" if decided == ReportState.VALIDATED else "returned",
            from_state=ReportState.SUBMITTED,
            to_state=decision,
            changed=["state"] if decision != ReportState.SUBMITTED else [],
            comment=review.get("comment") or None,
            level=level,
        ).model_dump(mode="json")
    )
    fields = {key: previous[key] for key in PeriodReportData.model_fields if key in previous}
    fields["state"] = decision
    return PeriodReport.model_validate({**fields, **envelope, "audit": audit})
