"""National, regional and departmental tables, completeness and trends, computed in SQL by the database.

Nothing here loads records into Python: every table is one SQL statement whose result rows are the table's
rows. PostgreSQL computes subtotals with GROUP BY ROLLUP; SQLite, which has no ROLLUP, gets the same rows
from a UNION ALL of the grouping levels.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.plugin_api import PRECISION_TOLERANCE, Period, Registry, period_bounds, period_over, semantics_of

from .approval import accepted_sql

# Approved members with their department and region: from their latest profile replica when the hub has one
# (a régie may move), else from the enrolment request. Overseas departments and collectivities (97x, 98x) are
# three digits of the commune code, the others two (arrondissements and Corsica's 2A/2B included).
MEMBERS_CTE = """
members AS (
  SELECT e.node_id AS origin, e.name AS name,
         COALESCE(
           CASE WHEN p.commune IS NULL THEN NULL
                WHEN substr(p.commune, 1, 2) IN ('97', '98') THEN substr(p.commune, 1, 3)
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
# The reports a figure counts unless asked otherwise: the members' submitted and validated ones.
STATES = ("submitted", "validated")


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

    def covers(self, place: tuple[str | None, str | None]) -> bool:
        """Whether a member at `place` (department, region) is in this scope: `where()` in Python."""
        if self.level == "regional":
            return place[1] == self.region
        if self.level == "departmental":
            return place[0] == self.department
        return True

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


# Activities running during a period, counted per member, field of action and service type: one pass over the
# hub's covering index of `records` (ix_records_activity_facets), a few thousand groups. `{origins}` narrows it to
# some members (those whose activities changed since they were last counted, figure_cache.ActivityCounts).
ACTIVITY_COUNTS_SQL = (
    "SELECT origin, category, service_type, COUNT(*) AS n FROM records "
    "WHERE kind = 'activity' AND NOT deleted{origins} "
    "AND (start_date IS NULL OR start_date <= :end) AND (end_date IS NULL OR end_date >= :start) "
    "GROUP BY origin, category, service_type"
)
Place = tuple[str | None, str | None]  # (department, region)
# A row of a rolled-up table: its keys (None where rolled up) and its level (how many keys are not rolled up).
TableKey = tuple[tuple[str | None, ...], int]


class MemberActivities:
    """One member's activities running during a period, by field of action and service type, and what they add to
    each row of a rolled-up table, worked out once per area (kept with the counts: a view that finds a member
    unchanged only adds its figures)."""

    __slots__ = ("_added", "rows")

    def __init__(self) -> None:
        self.rows: list[tuple[str | None, str | None, int]] = []
        self._added: dict[tuple[str | None, ...], dict[TableKey, int]] = {}

    def added(self, area: tuple[str | None, ...]) -> dict[TableKey, int]:
        """The activities this member adds to each row of a table broken down by `area` (one key, or none)."""
        found = self._added.get(area)
        if found is None:
            found = self._added[area] = {}
            width = len(area) + 2
            for category, service_type, n in self.rows:
                keys = (*area, category, service_type)
                for level in range(width, -1, -1):
                    # Keyed with the level: a detail row whose area is unknown (None) stays apart from a subtotal.
                    key = (keys[:level] + (None,) * (width - level), level)
                    found[key] = found.get(key, 0) + n
        return found


ActivityCounts = dict[str, MemberActivities]  # by origin


async def activity_counts(engine: AsyncEngine, period: Period, origins: Sequence[str] | None = None) -> ActivityCounts:
    """Each origin's activities running during the period by field of action and service type (every origin's, or
    those of `origins`); an origin with none is absent."""
    start, end = period_bounds(period)
    params: dict[str, Any] = {"start": start.isoformat(), "end": end.isoformat()}
    narrowed = ""
    if origins is not None:
        names = [f"o{position}" for position in range(len(origins))]
        narrowed = f" AND origin IN ({', '.join(':' + name for name in names)})"
        params.update(zip(names, origins, strict=True))
    counts: ActivityCounts = {}
    async with engine.connect() as connection:
        result = await connection.execute(text(ACTIVITY_COUNTS_SQL.format(origins=narrowed)), params)
        for origin, category, service_type, n in result:
            counts.setdefault(origin, MemberActivities()).rows.append((category, service_type, int(n)))
    return counts


async def member_places(engine: AsyncEngine) -> dict[str, Place]:
    """Every approved member's department and region (MEMBERS_CTE: from its latest profile, else its request)."""
    async with engine.connect() as connection:
        rows = await connection.execute(text(f"WITH {MEMBERS_CTE} SELECT origin, department, region FROM geo"))
        return {origin: (department, region) for origin, department, region in rows}


def roll_up_activities(counts: ActivityCounts, places: dict[str, Place], scope: Scope) -> list[dict[str, Any]]:
    """The activity table from per-member counts: the members of `scope` only, by area × field of action × service
    type, with a subtotal row at each level (None in the keys rolled up) and the grand total last — the rows of
    GROUP BY ROLLUP, in its order (each key ascending, its subtotal after it). `regies`: members counted in a row."""
    area_of = {"national": 1, "regional": 0}.get(scope.level)  # the place's part the table is broken down by
    activities: dict[TableKey, int] = {}
    members: Counter[TableKey] = Counter()
    for origin, member in counts.items():
        place = places.get(origin)
        if place is None or not scope.covers(place):
            continue  # not an approved member, or outside the scope
        added = member.added(() if area_of is None else (place[area_of],))
        for key, n in added.items():
            activities[key] = activities.get(key, 0) + n
        members.update(added.keys())
    width = (0 if area_of is None else 1) + 2
    if not activities:  # the grand total of nothing, as SQL's aggregate over no rows gives it
        activities[((None,) * width, 0)] = 0
    aliases = (*(("area",) if area_of is not None else ()), "category", "service_type")
    ordered = sorted(activities, key=lambda key: [(part is None, part or "") for part in key[0]])
    return [
        {**dict(zip(aliases, key[0], strict=True)), "activities": activities[key], "regies": members[key]}
        for key in ordered
    ]


async def activity_table(engine: AsyncEngine, period: Period, scope: Scope) -> list[dict[str, Any]]:
    """Activities running during the period, by area × field of action × service type, with subtotals: each
    member's counts, rolled up over the members of the scope (the hub's dashboard keeps the counts between views,
    figure_cache.ActivityCounts)."""
    return roll_up_activities(await activity_counts(engine, period), await member_places(engine), scope)


def _finite(value: Any) -> Any:
    """A total as JSON and spreadsheets can hold it: a float, or None where it exceeds the largest double (SQLite
    sums doubles to infinity, which JSON cannot write; a numeric sum from PostgreSQL becomes infinite as a float)."""
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _indicator_map(registry: Registry) -> tuple[str, dict[str, Any]]:
    """A VALUES table of each indicator's service type, field of action and aggregation rule (from the plugins),
    with the bounds a value (and the weight, numerator or denominator it is aggregated with) must lie within."""
    rows: list[str] = []
    params: dict[str, Any] = {}
    for n, indicator in enumerate(sorted(registry.indicators.values(), key=lambda i: i.key)):
        service_type = registry.service_types.get(indicator.service_type or "")
        rules = semantics_of(indicator)
        aggregation = rules.aggregation

        def maximum(key: str | None) -> float | None:
            return semantics_of(registry.indicators[key]).maximum if key else None

        params.update(
            {
                f"ik{n}": indicator.key,
                f"is{n}": indicator.service_type,
                f"ic{n}": str(service_type.category) if service_type else None,
                f"ir{n}": str(aggregation.kind),
                f"iw{n}": aggregation.weight,
                f"in{n}": aggregation.numerator,
                f"id{n}": aggregation.denominator,
                f"isc{n}": float(aggregation.scale),
                f"imin{n}": float(rules.minimum),
                f"imax{n}": float(rules.maximum),
                f"idec{n}": rules.decimals,
                f"iwmax{n}": maximum(aggregation.weight),
                f"inmax{n}": maximum(aggregation.numerator),
                f"idmax{n}": maximum(aggregation.denominator),
            }
        )
        real = "CAST(:{0}{1} AS double precision)"
        rows.append(
            f"(:ik{n}, :is{n}, :ic{n}, :ir{n}, :iw{n}, :in{n}, :id{n}, "
            + ", ".join(real.format(name, n) for name in ("isc", "imin", "imax"))
            + f", CAST(:idec{n} AS integer), "
            + ", ".join(real.format(name, n) for name in ("iwmax", "inmax", "idmax"))
            + ")"
        )
    columns = "indicator, service_type, category, rule, weight, numerator, denominator, scale, minimum, maximum, "
    columns += "decimals, weight_max, numerator_max, denominator_max"
    return f"indicator_map({columns}) AS (VALUES {', '.join(rows)})", params


def _values_cte(dialect: str, scope: Scope, report_filter: str) -> str:
    """`vals`: one row per report × indicator value in the scope, with what its rule aggregates.

    `ok` is 1 for a value within its indicator's bounds and precision: a value a node should have refused
    (250 %, 2.5 employees, 1e308 volunteers) is set aside, counted in `set_aside`, and never reaches a figure.
    `w`, `n` and `d` are the report's weight, numerator and denominator values, when within their bounds.
    """
    if dialect == "postgresql":
        real = "double precision"
        # OFFSET 0 keeps the planner from inlining `doc` into each of its uses: inlined, every value row parsed
        # its report's whole body again for the weight, numerator and denominator (six casts to jsonb a row, 93 %
        # of the national indicator table's time on PostgreSQL; docs/performance.md).
        source = (
            "CROSS JOIN LATERAL (SELECT CAST(r.body AS jsonb) -> 'indicators' AS doc OFFSET 0) AS b "
            "CROSS JOIN LATERAL jsonb_each_text(b.doc) AS iv(key, value)"
        )

        def other(column: str) -> str:
            return f"CAST(b.doc ->> im.{column} AS {real})"

        rounded = f"CAST(ROUND(CAST(CAST(iv.value AS {real}) AS numeric), im.decimals) AS {real})"
    else:
        real = "REAL"
        source = ", json_each(r.body, '$.indicators') AS iv"

        def other(column: str) -> str:
            return f"CAST(json_extract(r.body, '$.indicators.' || im.{column}) AS {real})"

        rounded = f"ROUND(CAST(iv.value AS {real}), im.decimals)"
    value = f"CAST(iv.value AS {real})"
    # As federation.semantics.too_precise: 0.30000000000000004 is 0.3 with one decimal.
    precise = f"ABS({value} - {rounded}) <= {PRECISION_TOLERANCE!r} * (1 + ABS({value}))"

    def bounded(column: str, maximum: str) -> str:
        return f"CASE WHEN {other(column)} BETWEEN 0 AND im.{maximum} THEN {other(column)} END"

    area = {"region": "g.region", "department": "g.department"}
    return (
        "vals AS (SELECT r.origin AS origin, r.period AS period, iv.key AS indicator, im.service_type AS service_type, "
        "im.category AS category, im.rule AS rule, im.scale AS scale, "
        + ", ".join(f"{column} AS {name}" for name, column in area.items())
        + f", {value} AS v, "
        f"CASE WHEN {value} BETWEEN im.minimum AND im.maximum AND {precise} THEN 1 ELSE 0 END AS ok, "
        f"{bounded('weight', 'weight_max')} AS w, {bounded('numerator', 'numerator_max')} AS n, "
        f"{bounded('denominator', 'denominator_max')} AS d "
        f"FROM records r JOIN geo g ON g.origin = r.origin {source} "
        "LEFT JOIN indicator_map im ON im.indicator = iv.key "
        f"WHERE r.kind = 'report' AND NOT r.deleted AND {report_filter} AND {scope.where()})"
    )


# Each indicator's figure by its rule (MAX(rule) is the group's one rule: groups are per indicator). A percentage is
# never summed; an indicator the hub does not know (no rule) gets no figure.
FIGURE_SQL = (
    "CASE MAX(x.rule) "
    "WHEN 'sum' THEN SUM(CASE WHEN x.ok = 1 THEN x.v END) "
    "WHEN 'weighted_mean' THEN SUM(CASE WHEN x.ok = 1 AND x.w > 0 THEN x.v * x.w END) "
    "/ NULLIF(SUM(CASE WHEN x.ok = 1 AND x.w > 0 THEN x.w END), 0) "
    "WHEN 'ratio' THEN MAX(x.scale) * SUM(CASE WHEN x.n IS NOT NULL AND x.d IS NOT NULL THEN x.n END) "
    "/ NULLIF(SUM(CASE WHEN x.n IS NOT NULL AND x.d IS NOT NULL THEN x.d END), 0) "
    "WHEN 'count' THEN COUNT(DISTINCT CASE WHEN x.ok = 1 AND x.v <> 0 THEN x.origin END) "
    "END AS total, "
    "COUNT(DISTINCT CASE WHEN x.ok = 1 THEN x.origin END) AS reports, "
    "SUM(1 - x.ok) AS set_aside"
)


def _with_rules(registry: Registry, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows with their indicator's unit, rule and decimals (how to read and show the figure), numbers as numbers."""
    for row in rows:
        indicator = registry.indicators.get(row["indicator"] or "")
        rules = semantics_of(indicator) if indicator else None
        row["unit"] = rules.unit if rules else None
        row["aggregation"] = str(rules.aggregation.kind) if rules else None
        row["decimals"] = rules.decimals if rules else None
        row["total"] = None if row["total"] is None else float(row["total"])
        row["reports"] = int(row["reports"] or 0)
        row["set_aside"] = int(row["set_aside"] or 0)
    return rows


def _states(states: Sequence[str], dialect: str, national_only: bool) -> tuple[str, dict[str, str]]:
    """The reports a figure counts: by the member's state, and only those the hub accepted at national level
    when asked (`?approved=national`)."""
    params = {f"state{n}": state for n, state in enumerate(states)}
    condition = f"r.status IN ({', '.join(':' + name for name in params)})"
    return (f"{condition} AND {accepted_sql(dialect)}" if national_only else condition), params


async def indicator_table(
    engine: AsyncEngine,
    registry: Registry,
    period: Period,
    scope: Scope,
    states: Sequence[str] = STATES,
    national_only: bool = False,
) -> list[dict[str, Any]]:
    """Each indicator's figure by its aggregation rule for the period, by field of action × service type ×
    indicator (× area): sums, weighted means, ratios of sums, counts of régies."""
    dialect = engine.dialect.name
    mapping, params = _indicator_map(registry)
    area = [key.replace("g.", "x.") for key in scope.group_key()]
    # The area comes last so that ROLLUP's first subtotal is each indicator's figure over the whole scope.
    keys = ["x.category", "x.service_type", "x.indicator", *area]
    aliases = ["category", "service_type", "indicator", *(["area"] if area else [])]
    state_filter, state_params = _states(states, dialect, national_only)
    values = _values_cte(dialect, scope, f"r.period = :period AND {state_filter}")
    rollup = _rollup(dialect, keys, aliases, FIGURE_SQL, "FROM vals x")
    sql = f"WITH {MEMBERS_CTE}, {mapping}, {values} SELECT * FROM ({rollup}) AS t" + _order(aliases)
    rows = await _rows(engine, sql, {**params, **state_params, "period": period.key, **scope.params()})
    # Subtotals across different indicators would mix unrelated units: keep only per-indicator rows and each
    # indicator's figures (the ROLLUP levels where `indicator` is set).
    return _with_rules(registry, [row for row in rows if row["indicator"] is not None])


async def completeness(
    engine: AsyncEngine, period: Period, scope: Scope, deadline: dt.date, today: dt.date | None = None
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(per-area counts of expected, received and on-time reports; the list of régies with no report).

    A period not over by `today` (default: the hub's date) counts no report: a régie cannot submit one yet
    (federation/validation_rules.py), and one that arrives anyway, from a node that skipped the check, is not
    counted as received."""
    over = period_over(period, today or dt.date.today())
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
        "WHERE r.kind = 'report' AND NOT r.deleted AND r.period = :period AND r.status <> 'draft' AND :over = 1 "
        "GROUP BY r.origin)"
    )
    # One area column: regions nationally, departments in a region, the department itself in a departmental table.
    (area,) = scope.group_key() or ["g.department"]
    sql = (
        f"WITH {MEMBERS_CTE}, {reports} "
        f"SELECT {area} AS area, COUNT(*) AS expected, COUNT(rc.origin) AS received, "
        # Audit times are UTC RFC 3339 strings; comparing their date part avoids ordering '.', 'Z' and offsets.
        "SUM(CASE WHEN rc.first_submitted IS NOT NULL AND substr(rc.first_submitted, 1, 10) <= :deadline "
        "THEN 1 ELSE 0 END) "
        "AS on_time "
        f"FROM geo g LEFT JOIN received rc ON rc.origin = g.origin WHERE {scope.where()} "
        f"GROUP BY {area} ORDER BY {area}"
    )
    params = {"period": period.key, "deadline": deadline.isoformat(), "over": int(over), **scope.params()}
    by_area = await _rows(engine, sql, params)
    missing_sql = (
        f"WITH {MEMBERS_CTE}, {reports} "
        "SELECT g.origin AS node_id, g.name AS name, g.department AS department, g.region AS region "
        f"FROM geo g LEFT JOIN received rc ON rc.origin = g.origin WHERE rc.origin IS NULL AND {scope.where()} "
        "ORDER BY g.region, g.department, g.origin"
    )
    return by_area, await _rows(engine, missing_sql, params)


async def trends(
    engine: AsyncEngine,
    registry: Registry,
    indicator: str,
    scope: Scope,
    states: Sequence[str] = STATES,
    national_only: bool = False,
) -> list[dict[str, Any]]:
    """One indicator's figure per reporting period by its aggregation rule, oldest first."""
    dialect = engine.dialect.name
    mapping, params = _indicator_map(registry)
    state_filter, state_params = _states(states, dialect, national_only)
    values = _values_cte(dialect, scope, f"iv.key = :indicator AND {state_filter}")
    sql = (
        f"WITH {MEMBERS_CTE}, {mapping}, {values} "
        f"SELECT x.period AS period, MAX(x.indicator) AS indicator, {FIGURE_SQL} "
        "FROM vals x GROUP BY x.period ORDER BY x.period"
    )
    rows = await _rows(engine, sql, {**params, "indicator": indicator, **state_params, **scope.params()})
    return _with_rules(registry, rows)


async def _rows(engine: AsyncEngine, sql: str, params: dict[str, Any]) -> list[dict[str, Any]]:
    async with engine.connect() as connection:
        result = await connection.execute(text(sql), params)
        return [{key: _finite(value) for key, value in row.items()} for row in result.mappings()]
