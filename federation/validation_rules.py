"""Checks across the indicators of one period report, as DHIS2's validation rules: declared rules, outliers
against the previous period, and the period being over before it is submitted.

A `ValidationRule` says that the sum of some indicators must not exceed the sum of others (exits to employment ≤
insertion headcount, turnover parts ≤ budget). An `error` rule blocks submission; a `warning` rule, like an
outlier (a value more than `OUTLIER_FACTOR` times, or less than a `OUTLIER_FACTOR`th of, the same indicator in
the régie's previous period of the same type), asks for an explanation in the report's comment, which the
submission's audit entry keeps together with the warnings. Drafts are saved whatever the rules say.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import text

from federation.indicators import period_over
from federation.numbers import format_number
from federation.problems import Problem
from federation.schema.records import Period, PeriodReportData, PeriodType, ReportState
from federation.semantics import Severity, ValidationRule

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from federation.registry import Registry

OUTLIER_FACTOR = 3.0
NOT_OVER = "La période n'est pas terminée : un rapport ne peut être soumis qu'une fois sa période achevée."
EXPLAIN_WARNINGS = "Expliquez dans le commentaire les avertissements du rapport avant de le soumettre."


@dataclass(frozen=True)
class Finding:
    """One rule a report breaks: where (a JSON Pointer), how badly, and why in French and in English."""

    pointer: str
    severity: Severity
    code: str
    detail: str
    message_fr: str

    def as_problem_error(self) -> dict[str, str]:
        return {
            "pointer": self.pointer,
            "detail": self.detail,
            "code": self.code,
            "severity": self.severity,
            "message_fr": self.message_fr,
        }


# The core's rules, over the core's and the bundled plugins' indicators (skipped where a plugin is absent).
CORE_RULES: tuple[ValidationRule, ...] = (
    ValidationRule(
        "exits_within_insertion_headcount",
        ("exits_to_employment",),
        ("employees_cddi",),
        "error",
        "Les sorties dynamiques ne peuvent pas dépasser le nombre de salariés en CDDI.",
        "exits to employment cannot exceed the employees on insertion contracts (employees_cddi)",
    ),
    ValidationRule(
        "exit_kinds_within_exits",
        ("exits_durable_employment", "exits_transitional_employment", "exits_positive"),
        ("exits_to_employment",),
        "warning",
        "Les sorties en emploi durable, de transition et positives dépassent ensemble les sorties dynamiques.",
        "durable, transitional and positive exits together exceed the exits to employment",
    ),
    ValidationRule(
        "turnover_within_budget",
        ("turnover_local_authorities", "turnover_social_landlords", "turnover_other"),
        ("budget_total",),
        "error",
        "Le chiffre d'affaires (collectivités, bailleurs, autres) dépasse le budget total.",
        "the turnover parts (local authorities, social landlords, other) exceed the total budget",
    ),
    ValidationRule(
        "payroll_within_budget",
        ("payroll",),
        ("budget_total",),
        "warning",
        "La masse salariale dépasse le budget total.",
        "the payroll exceeds the total budget",
    ),
)


def register_core_rules(registry: Registry) -> None:
    for rule in CORE_RULES:
        registry.add_validation_rule(rule)


def rule_findings(registry: Registry, values: Mapping[str, float]) -> list[Finding]:
    """The declared rules `values` break, skipping rules over indicators this node does not have."""
    findings = []
    for rule in registry.validation_rules.values():
        if any(key not in registry.indicators for key in rule.indicators()):
            continue
        if not any(key in values for key in rule.left) or not any(key in values for key in rule.right):
            continue
        left = sum(values.get(key, 0.0) for key in rule.left)
        right = sum(values.get(key, 0.0) for key in rule.right)
        if left > right * (1 + 1e-12):
            findings.append(
                Finding(
                    f"/indicators/{next(key for key in rule.left if key in values)}",
                    rule.severity,
                    f"rule_{rule.severity}",
                    f"{rule.message_en} ({rule.key})",
                    rule.message_fr,
                )
            )
    return findings


def previous_period(period: Period) -> Period:
    """The period of the same type just before `period`: last year, last quarter, the survey before."""
    if period.type == PeriodType.QUARTER:
        assert period.quarter is not None
        year, quarter = (period.year - 1, 4) if period.quarter == 1 else (period.year, period.quarter - 1)
        return Period(type=PeriodType.QUARTER, year=year, quarter=quarter)
    if period.type == PeriodType.SURVEY and period.end_year:
        span = period.end_year - period.year + 1
        return Period(type=PeriodType.SURVEY, year=period.year - span, end_year=period.end_year - span)
    return Period(type=PeriodType.YEAR, year=period.year - 1)


async def previous_values(engine: AsyncEngine, node_id: str, period: Period) -> dict[str, float]:
    """The indicators of the node's own report for the previous period (any state but deleted), or {}."""
    key = previous_period(period).key
    sql = "SELECT body FROM records WHERE kind = 'report' AND origin = :origin AND period = :period AND NOT deleted"
    async with engine.connect() as connection:
        row = (await connection.execute(text(sql), {"origin": node_id, "period": key})).first()
    if row is None:
        return {}
    indicators = json.loads(row[0]).get("indicators", {})
    return {k: float(v) for k, v in indicators.items() if isinstance(v, int | float)}


def outlier_findings(values: Mapping[str, float], previous: Mapping[str, float], period: Period) -> list[Finding]:
    """Values more than OUTLIER_FACTOR times, or less than 1/OUTLIER_FACTOR of, last period's (warnings)."""
    findings = []
    before_key = previous_period(period).key
    for key, value in values.items():
        before = previous.get(key)
        if before is None or before <= 0 or not math.isfinite(value):
            continue
        if value > before * OUTLIER_FACTOR or value < before / OUTLIER_FACTOR:
            shown = format_number(before, decimals=6, lang="fr")
            findings.append(
                Finding(
                    f"/indicators/{key}",
                    "warning",
                    "outlier",
                    f"differs by more than a factor {OUTLIER_FACTOR:g} from the previous period "
                    f"({before_key}: {before:g})",
                    f"Valeur très éloignée de celle de la période précédente ({before_key} : {shown}).",
                )
            )
    return findings


def not_over_problem() -> Problem:
    return Problem(
        422,
        NOT_OVER,
        slug="period-not-over",
        errors=[
            {
                "pointer": "/period",
                "detail": "the period has not ended yet",
                "code": "period_not_over",
                "message_fr": NOT_OVER,
            },
        ],
    )


async def submission_findings(
    engine: AsyncEngine, registry: Registry, node_id: str, period: Period, values: Mapping[str, float]
) -> list[Finding]:
    """Every rule and outlier finding of a report's values, errors first."""
    previous = await previous_values(engine, node_id, period)
    findings = rule_findings(registry, values) + outlier_findings(values, previous, period)
    return sorted(findings, key=lambda finding: finding.severity != "error")


def check_submission(findings: list[Finding], comment: str, today: dt.date, period: Period) -> None:
    """Refuse a submission (422 problem+json) for a period not over, a broken error rule, or warnings with no
    comment explaining them."""
    if not period_over(period, today):
        raise not_over_problem()
    errors = [finding for finding in findings if finding.severity == "error"]
    warnings = [finding for finding in findings if finding.severity == "warning"]
    if errors:
        raise Problem(
            422,
            "Le rapport enfreint des règles de validation : corrigez-le avant de le soumettre.",
            slug="validation-rules",
            errors=[finding.as_problem_error() for finding in findings],
        )
    if warnings and not comment.strip():
        explain = {
            "pointer": "/comment",
            "detail": "explain the warnings in the comment",
            "code": "warnings_need_comment",
            "message_fr": EXPLAIN_WARNINGS,
        }
        raise Problem(
            422,
            EXPLAIN_WARNINGS,
            slug="validation-warnings",
            errors=[*(finding.as_problem_error() for finding in warnings), explain],
        )


def audit_note(findings: list[Finding], comment: str) -> str | None:
    """What the submission's audit entry keeps: the warnings the régie submitted over, and its explanation."""
    if not findings:
        return None
    lines = [f"{finding.pointer.rsplit('/', 1)[-1]} : {finding.message_fr}" for finding in findings]
    return "Avertissements : " + " ; ".join(lines) + f" — Commentaire : {comment.strip()}"


async def check_report_write(
    engine: AsyncEngine,
    registry: Registry,
    node_id: str,
    data: PeriodReportData,
    previous: Mapping[str, Any] | None,
    today: dt.date,
) -> str | None:
    """Run the submission checks when this write submits the report (drafts are not checked); the audit note
    to record with the submission, or None. Raises the 422 Problem `check_submission` describes."""
    submitting = data.state == ReportState.SUBMITTED and (previous or {}).get("state") != ReportState.SUBMITTED
    if not submitting:
        return None
    findings = await submission_findings(engine, registry, node_id, data.period, data.indicators)
    check_submission(findings, data.comment, today, data.period)
    return audit_note(findings, data.comment)
