"""Two-level approval on the hub: who may decide at which level, and which reports the national level accepted."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from federation.plugin_api import Problem, ReportState, ReviewLevel, invalid_query

from .reviewed import same_figures_sql

VALIDATED_REGIONAL = "validated_regional"
"""The hub's state of a report a regional coordinator validated and the national level has yet to accept; the
régie's node keeps it submitted (locked) with the validation in its audit trail."""

CHANGED_AFTER_VALIDATION = "changed_after_validation"
"""The hub's state of a report whose figures differ from those its latest validation (regional or national)
decided on: a member changed them afterwards. It is not validated, and awaits a decision again."""

PENDING = frozenset({ReportState.SUBMITTED.value, VALIDATED_REGIONAL, CHANGED_AFTER_VALIDATION})
NATIONAL_ROLES = frozenset({"national", "admin"})
APPROVED_FILTERS = ("all", "national")


class Reviewer(Protocol):
    @property
    def role(self) -> str: ...


def decision_level(reviewer: Reviewer, state: str, levels: int) -> ReviewLevel | None:
    """The level a coordinator decides at on a report in `state` (None with one level), or the 409/403 refusal.

    With two levels a regional coordinator validates or returns a submitted report; a national coordinator (or the
    hub's administrator) accepts or returns a report validated at regional level, or a submitted one directly,
    which is both steps in one."""
    if state not in PENDING:
        raise Problem(409, f"only submitted reports can be reviewed; this one is {state}", slug="conflict")
    if levels == 1:  # also final on a report validated at regional level before the hub went to one level
        return None
    if reviewer.role in NATIONAL_ROLES:
        return ReviewLevel.NATIONAL
    if state == VALIDATED_REGIONAL:
        raise Problem(
            403,
            "the report is validated at regional level: only a national coordinator can accept or return it",
            slug="forbidden",
        )
    return ReviewLevel.REGIONAL


def outcome(decision: str, level: str | None) -> str:
    """The state a hub decision leads to: a regional validation awaits the national level."""
    return VALIDATED_REGIONAL if decision == ReportState.VALIDATED and level == ReviewLevel.REGIONAL else decision


def approved_filter(query: Mapping[str, str]) -> bool:
    """Whether `?approved=national` asks for nationally accepted reports only (default: every received report)."""
    value = query.get("approved", "all")
    if value not in APPROVED_FILTERS:
        raise invalid_query("approved", f"must be one of {', '.join(APPROVED_FILTERS)}")
    return value == "national"


def accepted_sql(dialect: str) -> str:
    """A condition on report `r`: the hub's latest review of it is a national (or one-level) validation, of the
    version the member holds or, for a report the member sends back as validated, of the one or two before it (the
    member records a decision as a new version, and a regional validation as one more), and the report still has
    the figures that validation decided on (reviewed.py)."""
    if dialect == "postgresql":

        def field(alias: str, name: str) -> str:
            return f"CAST({alias}.body AS jsonb) ->> '{name}'"

    else:

        def field(alias: str, name: str) -> str:
            return f"json_extract({alias}.body, '$.{name}')"

    version = f"CAST({field('rv', 'report_version')} AS INTEGER)"
    own_review_of_r = (
        "{alias}.kind = 'review' AND NOT {alias}.deleted "
        "AND {alias}.origin = (SELECT value FROM node_meta WHERE key = 'node_id') AND {alias}.audience = r.origin "
        "AND {report_id} = r.id"
    )
    return (
        "EXISTS (SELECT 1 FROM records rv JOIN review_figures rf ON rf.review_id = rv.id WHERE "
        + own_review_of_r.format(alias="rv", report_id=field("rv", "report_id"))
        + f" AND {field('rv', 'decision')} = 'validated' "
        f"AND COALESCE({field('rv', 'level')}, 'national') = 'national' "
        f"AND ({version} = r.version OR (r.status = 'validated' AND {version} IN (r.version - 1, r.version - 2))) "
        f"AND {same_figures_sql(dialect)} "
        # A later decision (a return of the report once changed) replaces this one.
        "AND NOT EXISTS (SELECT 1 FROM records later WHERE "
        + own_review_of_r.format(alias="later", report_id=field("later", "report_id"))
        + " AND later.updated_at_us > rv.updated_at_us))"
    )


def decision_offered(reviewer: Reviewer, state: str, levels: int) -> str | None:
    """Which decision the report page offers this coordinator: `validate` (one level), `regional`, `national`
    (accepting a report validated at regional level) or `both` (a national coordinator accepting a submitted
    report, both steps in one); None when this coordinator has nothing to decide."""
    try:
        level = decision_level(reviewer, state, levels)
    except Problem:
        return None
    if level is None:
        return "validate"
    if level == ReviewLevel.REGIONAL:
        return "regional"
    return "national" if state == VALIDATED_REGIONAL else "both"
