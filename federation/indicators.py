"""Period-report indicators: the core set every régie reports, and the report form with computed values.

Plugins add indicators tied to their service types (e.g. driving licences obtained); the core owns those of
the network's periodic survey that do not depend on any service type: headcount by contract type, FTE,
volunteers, governance, budget and turnover by client, payroll, public contracts, territory covered.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.plugins import Indicator, Registry
from federation.schema.records import Period, PeriodType

CORE_INDICATORS = (
    Indicator("headcount_aided", "Salariés en contrats aidés", "Employees on aided contracts", "count"),
    Indicator("headcount_ordinary", "Salariés en contrats de droit commun", "Employees on ordinary contracts", "count"),
    Indicator("fte_total", "Équivalents temps plein (total)", "Full-time equivalents (total)", "fte"),
    Indicator("volunteers", "Bénévoles", "Volunteers", "count"),
    Indicator(
        "board_inhabitants_share",
        "Part d'habitants au conseil d'administration",
        "Share of inhabitants on the board",
        "percent",
    ),
    Indicator("budget_total", "Budget total", "Total budget", "euros"),
    Indicator(
        "turnover_local_authorities",
        "Chiffre d'affaires avec les collectivités",
        "Turnover with local authorities",
        "euros",
    ),
    Indicator(
        "turnover_social_landlords",
        "Chiffre d'affaires avec les bailleurs sociaux",
        "Turnover with social landlords",
        "euros",
    ),
    Indicator("turnover_other", "Chiffre d'affaires avec les autres clients", "Turnover with other clients", "euros"),
    Indicator("payroll", "Masse salariale", "Payroll", "euros"),
    Indicator("public_contracts", "Marchés publics", "Public contracts", "count"),
    Indicator("adapted_contracts_share", "Part de marchés adaptés", "Share of adapted public contracts", "percent"),
    Indicator("qpv_covered", "QPV couverts", "Priority neighbourhoods (QPV) covered", "count"),
    Indicator("inhabitants_concerned", "Habitants concernés", "Inhabitants concerned", "count"),
)


def register_core_indicators(registry: Registry) -> None:
    for indicator in CORE_INDICATORS:
        registry.add_indicator(indicator)


def period_bounds(period: Period) -> tuple[dt.date, dt.date]:
    """First and last day of a reporting period."""
    if period.type == PeriodType.QUARTER:
        assert period.quarter is not None
        first_month = 3 * (period.quarter - 1) + 1
        start = dt.date(period.year, first_month, 1)
        next_start = dt.date(period.year + (first_month + 3 > 12), (first_month + 2) % 12 + 1, 1)
        return start, next_start - dt.timedelta(days=1)
    last_year = period.end_year if period.type == PeriodType.SURVEY and period.end_year else period.year
    return dt.date(period.year, 1, 1), dt.date(last_year, 12, 31)


def parse_period_key(key: str) -> Period:
    """`2025`, `2025-Q3` or `2023-2025` → Period; ValueError otherwise, with a sentence for the client (never
    pydantic's own text, which quotes its internals)."""
    fields: dict[str, Any]
    if re.fullmatch(r"[0-9]{4}", key):
        fields = {"type": PeriodType.YEAR, "year": int(key)}
    elif match := re.fullmatch(r"([0-9]{4})-Q([1-4])", key):
        fields = {"type": PeriodType.QUARTER, "year": int(match[1]), "quarter": int(match[2])}
    elif match := re.fullmatch(r"([0-9]{4})-([0-9]{4})", key):
        fields = {"type": PeriodType.SURVEY, "year": int(match[1]), "end_year": int(match[2])}
    else:
        raise ValueError(f"'{key}' is not a period: use 2025, 2025-Q3 or 2023-2025")
    try:
        return Period(**fields)
    except ValidationError as exc:
        reasons = "; ".join(str(error["msg"]).removeprefix("Value error, ") for error in exc.errors())
        raise ValueError(f"'{key}' is not a valid period: {reasons}") from None


def _details_number(dialect: str, field: str) -> str:
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", field):
        raise ValueError(f"details field '{field}' is not a plain name")
    if dialect == "postgresql":
        return f"CAST((CAST(body AS jsonb) -> 'details' ->> '{field}') AS double precision)"
    return f"CAST(json_extract(body, '$.details.{field}') AS REAL)"


async def computed_values(engine: AsyncEngine, registry: Registry, node_id: str, period: Period) -> dict[str, float]:
    """Sum of each computed indicator's details field over the node's own activities overlapping `period`."""
    start, end = period_bounds(period)
    computed = [
        indicator
        for indicator in registry.indicators.values()
        if indicator.source == "computed" and indicator.service_type and indicator.details_field
    ]
    if not computed:
        return {}
    dialect = engine.dialect.name
    parts = []
    params: dict[str, Any] = {"origin": node_id, "start": start.isoformat(), "end": end.isoformat()}
    for n, indicator in enumerate(computed):
        assert indicator.details_field is not None
        params[f"st{n}"] = indicator.service_type
        parts.append(
            f"SUM(CASE WHEN service_type = :st{n} THEN {_details_number(dialect, indicator.details_field)} END) AS v{n}"
        )
    sql = (
        f"SELECT {', '.join(parts)} FROM records WHERE kind = 'activity' AND origin = :origin AND NOT deleted "
        "AND (start_date IS NULL OR start_date <= :end) AND (end_date IS NULL OR end_date >= :start)"
    )
    async with engine.connect() as connection:
        row = (await connection.execute(text(sql), params)).one()
    return {indicator.key: float(row[n]) for n, indicator in enumerate(computed) if row[n] is not None}


async def report_form(engine: AsyncEngine, registry: Registry, node_id: str, period: Period) -> dict[str, Any]:
    """Every indicator a report for `period` can carry, with the values computable from activities."""
    values = await computed_values(engine, registry, node_id, period)
    start, end = period_bounds(period)
    return {
        "period": period.model_dump(mode="json"),
        "from": start.isoformat(),
        "to": end.isoformat(),
        "indicators": [
            {
                "key": indicator.key,
                "labels": indicator.labels(),
                "unit": indicator.unit,
                "source": indicator.source,
                "service_type": indicator.service_type,
                "plugin": registry.owners.get(("indicator", indicator.key), "<core>"),
                "value": values.get(indicator.key),
            }
            for indicator in sorted(registry.indicators.values(), key=lambda i: (i.service_type or "", i.key))
        ],
    }
