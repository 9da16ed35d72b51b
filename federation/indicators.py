"""Period-report indicators: the core set every régie reports, and the report form with computed values.

Plugins add indicators tied to their service types (e.g. driving licences obtained); the core owns those of
the network's periodic survey that do not depend on any service type: headcount by contract type, FTE,
volunteers, governance, budget and turnover by client, payroll, public contracts, territory covered.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Iterable, Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.registrations import INDICATOR_SECTIONS, Indicator
from federation.registry import Registry
from federation.schema.records import Period, PeriodType
from federation.schema.types import Category
from federation.semantics import Aggregation, describe

# The report form's parts, in the survey's order (INDICATOR_SECTIONS), with their titles.
SECTION_LABELS: dict[str, dict[str, str]] = {
    "employment": {"fr": "Emploi et insertion", "en": "Employment and integration"},
    "activities": {"fr": "Activités", "en": "Activities"},
    "democracy": {"fr": "Vie associative et démocratie", "en": "Associative life and democracy"},
    "finances": {"fr": "Finances et marchés publics", "en": "Finances and public contracts"},
    "territory": {"fr": "Territoire", "en": "Territory"},
    "other": {"fr": "Autres indicateurs", "en": "Other indicators"},
}
_SECTION_OF_CATEGORY = {
    Category.EMPLOYMENT_INTEGRATION: "employment",
    Category.TRAINING: "employment",
    Category.LOCAL_DEMOCRACY: "democracy",
}

CORE_INDICATORS = (
    Indicator(
        "headcount_aided", "Salariés en contrats aidés", "Employees on aided contracts", "count", section="employment"
    ),
    Indicator(
        "headcount_ordinary",
        "Salariés en contrats de droit commun",
        "Employees on ordinary contracts",
        "count",
        section="employment",
    ),
    Indicator(
        "fte_total", "Équivalents temps plein (total)", "Full-time equivalents (total)", "fte", section="employment"
    ),
    Indicator("volunteers", "Bénévoles", "Volunteers", "count", section="democracy"),
    Indicator(
        "board_members",
        "Membres du conseil d'administration",
        "Board members",
        "count",
        section="democracy",
        maximum=200,
    ),
    Indicator(
        "board_inhabitants_share",
        "Part d'habitants au conseil d'administration",
        "Share of inhabitants on the board",
        "percent",
        section="democracy",
        # A board of 20 with 45 % inhabitants weighs more than a board of 8 with 50 %.
        aggregation=Aggregation.weighted_mean("board_members"),
    ),
    Indicator("budget_total", "Budget total", "Total budget", "euros", section="finances"),
    Indicator(
        "turnover_local_authorities",
        "Chiffre d'affaires avec les collectivités",
        "Turnover with local authorities",
        "euros",
        section="finances",
    ),
    Indicator(
        "turnover_social_landlords",
        "Chiffre d'affaires avec les bailleurs sociaux",
        "Turnover with social landlords",
        "euros",
        section="finances",
    ),
    Indicator(
        "turnover_other",
        "Chiffre d'affaires avec les autres clients",
        "Turnover with other clients",
        "euros",
        section="finances",
    ),
    Indicator("payroll", "Masse salariale", "Payroll", "euros", section="finances"),
    Indicator("public_contracts", "Marchés publics", "Public contracts", "count", section="finances"),
    Indicator(
        "adapted_contracts_share",
        "Part de marchés adaptés",
        "Share of adapted public contracts",
        "percent",
        section="finances",
        aggregation=Aggregation.weighted_mean("public_contracts"),
    ),
    # Régies often share a QPV: the national figure counts a QPV once per régie serving it (a sum, documented).
    Indicator(
        "qpv_covered",
        "QPV couverts",
        "Priority neighbourhoods (QPV) covered",
        "count",
        section="territory",
        maximum=100,
    ),
    Indicator("inhabitants_concerned", "Habitants concernés", "Inhabitants concerned", "count", section="territory"),
)


def register_core_indicators(registry: Registry) -> None:
    for indicator in CORE_INDICATORS:
        registry.add_indicator(indicator)


def section_of(registry: Registry, indicator: Indicator) -> str:
    """The report form's section of `indicator`: its own, else the one its service type's field of action gives."""
    if indicator.section is not None:
        return indicator.section
    service_type = registry.service_types.get(indicator.service_type or "")
    if service_type is None:
        return "other"
    return _SECTION_OF_CATEGORY.get(service_type.category, "activities")


async def service_types_in_use(engine: AsyncEngine, node_id: str) -> set[str]:
    """The service types of the node's own activities (any period): what the régie actually does."""
    sql = "SELECT DISTINCT service_type FROM records WHERE kind = 'activity' AND origin = :origin AND NOT deleted"
    async with engine.connect() as connection:
        rows = (await connection.execute(text(sql), {"origin": node_id})).all()
    return {row[0] for row in rows if row[0]}


def shown_indicators(registry: Registry, in_use: set[str], filled: Collection[str]) -> list[Indicator]:
    """The indicators a régie's report form shows: the core's, and a plugin's only if the régie has activities of
    one of that plugin's service types (or the report already has a value for it). An indicator its plugin
    computes (`compute`) is shown only with a value (`filled`: the report's, or the computed one): None says
    the régie does not use what it counts."""
    plugins_in_use = {registry.owners.get(("service type", key)) for key in in_use}
    plugins_with_types = {registry.owners.get(("service type", key)) for key in registry.service_types}
    shown = []
    for indicator in registry.indicators.values():
        if indicator.computed_by_plugin and indicator.key not in filled:
            continue
        owner = registry.owners.get(("indicator", indicator.key), "<core>")
        if owner == "<core>" or owner not in plugins_with_types or owner in plugins_in_use or indicator.key in filled:
            shown.append(indicator)
    return shown


def by_section(registry: Registry, indicators: Iterable[Indicator]) -> list[tuple[str, list[Indicator]]]:
    """`indicators` grouped by section, sections in the survey's order, each keeping the registration order."""
    groups: dict[str, list[Indicator]] = {section: [] for section in INDICATOR_SECTIONS}
    for indicator in indicators:
        groups[section_of(registry, indicator)].append(indicator)
    return [(section, members) for section, members in groups.items() if members]


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


def period_over(period: Period, today: dt.date) -> bool:
    """Whether `period` has ended before `today`: only then can its report be submitted or counted."""
    return period_bounds(period)[1] < today


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
    """Each computed indicator's figure for `period`: the sum of its details field over the node's own activities
    overlapping the period, or what its plugin's `compute` (or `compute_many`) function returns for the period's
    first and last day. A `compute_many` function is awaited once, however many indicators name it."""
    start, end = period_bounds(period)
    values = await _values_from_details(engine, registry, node_id, start, end)
    shared: dict[Any, Mapping[str, float | None]] = {}  # compute_many function → its figures, for this call only
    for indicator in registry.indicators.values():
        if indicator.source != "computed":
            continue
        if indicator.compute is not None:
            value = await indicator.compute(engine, node_id, start, end)
        elif indicator.compute_many is not None:
            if indicator.compute_many not in shared:
                shared[indicator.compute_many] = await indicator.compute_many(engine, node_id, start, end)
            value = shared[indicator.compute_many].get(indicator.key)
        else:
            continue
        if value is not None:
            values[indicator.key] = float(value)
    return values


async def _values_from_details(
    engine: AsyncEngine, registry: Registry, node_id: str, start: dt.date, end: dt.date
) -> dict[str, float]:
    """Sum of each computed indicator's details field over the node's own activities overlapping start–end."""
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
                "section": section_of(registry, indicator),
                "value": values.get(indicator.key),
                **describe(indicator),
            }
            for indicator in sorted(registry.indicators.values(), key=lambda i: (i.service_type or "", i.key))
        ],
    }
