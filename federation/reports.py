"""Period report workflow on the node: which state changes a node may make, and the audit trail they leave."""

from __future__ import annotations

from typing import Any

from federation.schema.records import AuditEntry, PeriodReport, PeriodReportData, ReportState, utcnow
from federation.storage.records import WriteConflict

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


def build_report(
    data: PeriodReportData, previous: dict[str, Any] | None, envelope: dict[str, Any], actor: str
) -> PeriodReport:
    """The new report record, or WriteConflict if the node may not make this change."""
    before = ReportState(previous["state"]) if previous else None
    after = ReportState(data.state)
    if after not in _NODE_TRANSITIONS[before]:
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
        ).model_dump(mode="json")
    )
    return PeriodReport.model_validate({**new_fields, **envelope, "audit": audit})


def check_deletable(previous: dict[str, Any]) -> None:
    if previous.get("state") != ReportState.DRAFT:
        raise WriteConflict(f"only draft reports can be deleted; this one is {previous.get('state')}")


def review_applies(report: dict[str, Any], review: dict[str, Any]) -> bool:
    """A hub review applies to the stored report if it reviewed exactly this version, still submitted."""
    return (
        report.get("state") == ReportState.SUBMITTED
        and report.get("version") == review.get("report_version")
        and not report.get("deleted")
    )


def build_reviewed_report(previous: dict[str, Any], envelope: dict[str, Any], review: dict[str, Any]) -> PeriodReport:
    """The node's report after the hub validated or returned it: the node itself records the decision."""
    if not review_applies(previous, review):
        raise WriteConflict(
            f"review of version {review.get('report_version')} does not apply to the report "
            f"(version {previous.get('version')}, {previous.get('state')})"
        )
    decision = ReportState(review["decision"])
    audit = list(previous.get("audit", []))
    audit.append(
        AuditEntry(
            at=envelope["updated_at"],
            actor=f"hub:{review['reviewer']}",
            action="validated" if decision == ReportState.VALIDATED else "returned",
            from_state=ReportState.SUBMITTED,
            to_state=decision,
            changed=["state"],
            comment=review.get("comment") or None,
        ).model_dump(mode="json")
    )
    fields = {key: previous[key] for key in PeriodReportData.model_fields if key in previous}
    fields["state"] = decision
    return PeriodReport.model_validate({**fields, **envelope, "audit": audit})
