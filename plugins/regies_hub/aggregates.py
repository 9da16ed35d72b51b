"""National, regional and departmental tables, completeness and trends, computed in SQL by the database.

Nothing here loads records into Python: every table is one SQL statement whose result rows are the table's
rows. PostgreSQL computes subtotals with GROUP BY ROLLUP; SQLite, which has no ROLLUP, gets the same rows
from a UNION ALL of the grouping levels.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.indicators import period_bounds
from federation.plugins import Registry
from federation.schema.records import Period

# Approved members with their department and region: from their latest profile replica when the hub has one
# (a régie may move), else from the enrolment request.
MEMBERS_CTE = """
members AS (
  SELECT e.node_id AS origin, e.name AS name,
         COALESCE(
           CASE WHEN p.commune IS NULL THEN NULL
                WHEN substr(p.commune, 1, 2) = '97' THEN substr(p.commune, 1, 3)
                ELSE substr(p.commune, 1, 2) END,
           e.department) AS department
  FROM enrolments e
  LEFT JOIN records p ON p.kind = 'node' AND p.origin = e.node_id AND NOT p.deleted
  WHERE e.state = 'approved'
),
geo AS (
  SELECT m.origin, m.name, m.department, d.region_code AS region
  FROM members m LEFT JOIN geo_departments d ON d.code = m.department
)
"""

LEVELS = ("national", "regional", "departmental")


@dataclass(frozen=True)
class Scope:
    """Which régies a table covers: all, one region, or one department."""

    level: str = "national"
    region: str | None = None
    department: str | None = None

    def where(self) -> str:
        if self.level == "regional":
            return "g.region = :region"
        if self.level == "departmental":
            return "g.department = :department"
        return "1 = 1"

    def params(self) -> dict[str, Any]:
        return {"region": self.region, "department": self.department}

    def group_key(self) -> list[str]:
        """Columns a table is broken down by, below the scope: regions nationally, departments in a region."""
        if self.level == "national":
            return ["g.region"]
        if self.level == "regional":
            return ["g.department"]
        return []


def _rollup(dialect: str, keys: Sequence[str], select_keys: Sequence[str], aggregates: str, body: str) -> str:
    """GROUP BY ROLLUP(keys) on PostgreSQL; the equivalent UNION ALL of grouping levels elsewhere."""
    if dialect == "postgresql":
        selected = ", ".join(f"{key} AS {alias}" for key, alias in zip(keys, select_keys, strict=True))
        return f"SELECT {selected}, {aggregates} {body} GROUP BY ROLLUP({', '.join(keys)})"
    parts = []
    for level in range(len(keys), -1, -1):
        selected = ", ".join(
            f"{key if position < level else 'NULL'} AS {alias}"
            for position, (key, alias) in enumerate(zip(keys, select_keys, strict=True))
        )
        group = f" GROUP BY {', '.join(keys[:level])}" if level else ""
        parts.append(f"SELECT {selected}, {aggregates} {body}{group}")
    return " UNION ALL ".join(parts)


def _order(select_keys: Sequence[str]) -> str:
    # Subtotal rows (NULL keys) after their detail rows, the grand total last.
    return " ORDER BY " + ", ".join(f"{key} IS NULL, {key}" for key in select_keys)


async def activity_table(engine: AsyncEngine, period: Period, scope: Scope) -> list[dict[str, Any]]:
    """Activities running during the period, by area × field of action × service type, with subtotals.

    Activities are first counted per origin (one pass over the covering index of `records`, a few thousand
    groups), and only those counts are joined with the régies' places and rolled up.
    """
    start, end = period_bounds(period)
    area = scope.group_key()
    keys = [*area, "a.category", "a.service_type"]
    aliases = [*(["area"] if area else []), "category", "service_type"]
    per_origin = (
        "per_origin AS MATERIALIZED (SELECT origin, category, service_type, COUNT(*) AS n FROM records "
        "WHERE kind = 'activity' AND NOT deleted "
        "AND (start_date IS NULL OR start_date <= :end) AND (end_date IS NULL OR end_date >= :start) "
        "GROUP BY origin, category, service_type)"
    )
    body = f"FROM per_origin a JOIN geo g ON g.origin = a.origin WHERE {scope.where()}"
    counts = "SUM(a.n) AS activities, COUNT(DISTINCT a.origin) AS regies"
    rollup = _rollup(engine.dialect.name, keys, aliases, counts, body)
    sql = f"WITH {MEMBERS_CTE}, {per_origin} SELECT * FROM ({rollup}) AS t" + _order(aliases)
    params = {"start": start.isoformat(), "end": end.isoformat(), **scope.params()}
    rows = await _rows(engine, sql, params)
    for row in rows:
        row["activities"] = int(row["activities"] or 0)  # SUM is a numeric on PostgreSQL
    return rows


def _indicator_values(dialect: str) -> str:
    if dialect == "postgresql":
        return "CROSS JOIN LATERAL jsonb_each_text(CAST(r.body AS jsonb) -> 'indicators') AS iv(key, value)"
    return ", json_each(r.body, '$.indicators') AS iv"


def _number(dialect: str) -> str:
    """An indicator value as a number to sum. PostgreSQL sums `numeric` (exact, unbounded): a sum of doubles
    beyond the largest one is an error there, and the query a 500; totals come back through _finite."""
    return "CAST(iv.value AS numeric)" if dialect == "postgresql" else "CAST(iv.value AS REAL)"


def _finite(value: Any) -> Any:
    """A total as JSON and spreadsheets can hold it: a float, or None where it exceeds the largest double (SQLite
    sums doubles to infinity, which JSON cannot write; a numeric sum from PostgreSQL becomes infinite as a float)."""
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _indicator_map(registry: Registry) -> tuple[str, dict[str, Any]]:
    """A VALUES table mapping each indicator to its service type and field of action (from the plugins)."""
    rows: list[str] = []
    params: dict[str, Any] = {}
    for n, indicator in enumerate(sorted(registry.indicators.values(), key=lambda i: i.key)):
        service_type = registry.service_types.get(indicator.service_type or "")
        params[f"ik{n}"] = indicator.key
        params[f"is{n}"] = indicator.service_type
        params[f"ic{n}"] = str(service_type.category) if service_type else None
        rows.append(f"(:ik{n}, :is{n}, :ic{n})")
    return f"indicator_map(indicator, service_type, category) AS (VALUES {', '.join(rows)})", params


async def indicator_table(
    engine: AsyncEngine,
    registry: Registry,
    period: Period,
    scope: Scope,
    states: Sequence[str] = ("submitted", "validated"),
) -> list[dict[str, Any]]:
    """Sums of report indicators for the period, by field of action × service type × indicator (× area)."""
    dialect = engine.dialect.name
    mapping, params = _indicator_map(registry)
    area = scope.group_key()
    # The area comes last so that ROLLUP's first subtotal is each indicator's total over the whole scope.
    keys = ["im.category", "im.service_type", "iv.key", *area]
    aliases = ["category", "service_type", "indicator", *(["area"] if area else [])]
    number = _number(dialect)
    state_params = {f"state{n}": state for n, state in enumerate(states)}
    body = (
        f"FROM records r JOIN geo g ON g.origin = r.origin {_indicator_values(dialect)} "
        "LEFT JOIN indicator_map im ON im.indicator = iv.key "
        f"WHERE r.kind = 'report' AND NOT r.deleted AND r.period = :period AND {scope.where()} "
        f"AND r.status IN ({', '.join(':' + name for name in state_params)})"
    )
    rollup = _rollup(dialect, keys, aliases, f"SUM({number}) AS total, COUNT(DISTINCT r.origin) AS reports", body)
    sql = f"WITH {MEMBERS_CTE}, {mapping} SELECT * FROM ({rollup}) AS t" + _order(aliases)
    rows = await _rows(engine, sql, {**params, **state_params, "period": period.key, **scope.params()})
    # Subtotals across different indicators add up unrelated units: keep only per-indicator rows and totals
    # per indicator (the ROLLUP levels where `indicator` is set).
    return [row for row in rows if row["indicator"] is not None]


async def completeness(
    engine: AsyncEngine, period: Period, scope: Scope, deadline: dt.date
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(per-area counts of expected, received and on-time reports; the list of régies with no report)."""
    dialect = engine.dialect.name
    if dialect == "postgresql":
        submitted = (
            "(SELECT MIN(e ->> 'at') FROM jsonb_array_elements(CAST(r.body AS jsonb) -> 'audit') e "
            "WHERE e ->> 'action' = 'submitted')"
        )
    else:
        submitted = (
            "(SELECT MIN(json_extract(e.value, '$.at')) FROM json_each(r.body, '$.audit') e "
            "WHERE json_extract(e.value, '$.action') = 'submitted')"
        )
    reports = (
        f"received AS (SELECT r.origin, MIN({submitted}) AS first_submitted FROM records r "
        "WHERE r.kind = 'report' AND NOT r.deleted AND r.period = :period AND r.status <> 'draft' GROUP BY r.origin)"
    )
    area = scope.group_key() or ["g.department"]
    sql = (
        f"WITH {MEMBERS_CTE}, {reports} "
        f"SELECT {area[0]} AS area, COUNT(*) AS expected, COUNT(rc.origin) AS received, "
        # Audit times are UTC RFC 3339 strings; comparing their date part avoids ordering '.', 'Z' and offsets.
        "SUM(CASE WHEN rc.first_submitted IS NOT NULL AND substr(rc.first_submitted, 1, 10) <= :deadline "
        "THEN 1 ELSE 0 END) "
        "AS on_time "
        f"FROM geo g LEFT JOIN received rc ON rc.origin = g.origin WHERE {scope.where()} "
        f"GROUP BY {area[0]} ORDER BY {area[0]}"
    )
    params = {"period": period.key, "deadline": deadline.isoformat(), **scope.params()}
    by_area = await _rows(engine, sql, params)
    missing_sql = (
        f"WITH {MEMBERS_CTE}, {reports} "
        "SELECT g.origin AS node_id, g.name AS name, g.department AS department, g.region AS region "
        f"FROM geo g LEFT JOIN received rc ON rc.origin = g.origin WHERE rc.origin IS NULL AND {scope.where()} "
        "ORDER BY g.region, g.department, g.origin"
    )
    return by_area, await _rows(engine, missing_sql, params)


async def trends(
    engine: AsyncEngine, indicator: str, scope: Scope, states: Sequence[str] = ("submitted", "validated")
) -> list[dict[str, Any]]:
    """One indicator's total per reporting period, oldest first."""
    dialect = engine.dialect.name
    number = _number(dialect)
    state_params = {f"state{n}": state for n, state in enumerate(states)}
    sql = (
        f"WITH {MEMBERS_CTE} "
        f"SELECT r.period AS period, SUM({number}) AS total, COUNT(DISTINCT r.origin) AS reports "
        f"FROM records r JOIN geo g ON g.origin = r.origin {_indicator_values(dialect)} "
        f"WHERE r.kind = 'report' AND NOT r.deleted AND iv.key = :indicator AND {scope.where()} "
        f"AND r.status IN ({', '.join(':' + name for name in state_params)}) "
        "GROUP BY r.period ORDER BY r.period"
    )
    return await _rows(engine, sql, {"indicator": indicator, **state_params, **scope.params()})


async def _rows(engine: AsyncEngine, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        result = await connection.execute(text(sql), params)
        return [{key: _finite(value) for key, value in row.items()} for row in result.mappings()]
