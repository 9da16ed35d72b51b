"""What a coordinator's tables count, compared with a hand computation, on SQLite and PostgreSQL: only approved
members, each in the department of its latest profile (an overseas one by three digits); only the records that
count (not deleted, activities running during the period, reports submitted or validated); and a departmental or
regional table shows no other area's figures."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from regies_hub import aggregates
from regies_hub.aggregates import Scope
from regies_hub.figure_cache import FigureCache, Figures
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.bootstrap import init_node
from federation.config import Settings
from federation.indicators import parse_period_key
from federation.plugins import build_plugins
from federation.record_rules import record_service
from federation.registry import Registry
from federation.schema.records import RECORD_KINDS, Activity
from federation.storage.engine import create_engine
from federation.storage.mapping import replica_tombstone_values, replica_values
from federation.storage.service import count_bulk_load
from federation.storage.tables import enrolments, records

YEAR_2025 = parse_period_key("2025")
DEADLINE = dt.date(2026, 2, 28)
AFTER_2025 = dt.date(2026, 6, 1)

# node id → (department and region of its enrolment request, state of the request).
ENROLMENTS = {
    "rq-paris": ("75", "11", "approved"),
    "rq-bobigny": ("93", "11", "approved"),
    "rq-lyon": ("69", "84", "approved"),
    # Enrolled from Paris, its profile now says Saint-Denis de La Réunion (97411): department 974, region 04.
    "rq-reunion": ("75", "11", "approved"),
    "rq-pending": ("75", "11", "pending"),  # not a member yet: nothing of it counts, nothing is expected of it
}
PROFILES = [("rq-reunion", "97411", False), ("rq-lyon", "13055", True)]  # a deleted profile moves no one

MEDIATION = ("mediation", "social_mediation")
MOBILITY = ("mobility", "driving_school")
# (origin, field of action and service type, start, end, deleted); 2025 runs from 2025-01-01 to 2025-12-31.
ACTIVITIES = [
    ("rq-paris", MEDIATION, "2025-12-31", None, False),  # starts on the period's last day: counted
    ("rq-paris", MEDIATION, "2026-01-01", None, False),  # starts after
    ("rq-paris", MEDIATION, None, "2025-01-01", False),  # ends on the period's first day: counted
    ("rq-paris", MEDIATION, None, "2024-12-31", False),  # ended before
    ("rq-paris", MOBILITY, None, None, False),  # no dates: running
    ("rq-paris", MOBILITY, "2025-03-01", "2025-03-02", True),  # deleted
    ("rq-bobigny", MEDIATION, "2025-06-01", "2025-06-30", False),
    ("rq-lyon", MOBILITY, "2024-01-01", "2026-12-31", False),
    ("rq-reunion", MEDIATION, "2025-02-01", None, False),
    ("rq-reunion", MEDIATION, "2025-02-02", None, False),
    ("rq-pending", MEDIATION, "2025-02-01", None, False),
]

# (origin, period, status, indicators, times the report was submitted (UTC), deleted).
REPORTS = [
    (
        "rq-paris",
        "2025",
        "submitted",
        {"volunteers": 10, "mediation_interventions": 7},
        ["2026-02-28T23:59:59Z"],
        False,
    ),
    ("rq-paris", "2024", "validated", {"volunteers": 8}, ["2025-01-10T09:00:00Z"], False),
    ("rq-bobigny", "2025", "validated", {"volunteers": 20}, ["2026-03-01T00:00:00Z"], False),  # a day late
    ("rq-lyon", "2025", "draft", {"volunteers": 1000}, [], False),
    # Submitted on time, returned, submitted again late: the first submission is the one the deadline judges.
    # 2.5 board members is refused by the indicator's rules: set aside, counted as such, in no figure.
    (
        "rq-reunion",
        "2025",
        "submitted",
        {"volunteers": 5, "mediation_interventions": 3, "board_members": 2.5},
        ["2026-01-15T08:00:00Z", "2026-04-01T08:00:00Z"],
        False,
    ),
    ("rq-reunion", "2025", "submitted", {"volunteers": 500}, ["2026-01-02T08:00:00Z"], True),
    ("rq-pending", "2025", "submitted", {"volunteers": 700}, ["2026-01-02T08:00:00Z"], False),
]


OPTIONAL_COLUMNS = ("commune", "category", "service_type", "start_date", "end_date", "status", "period")


def _record(kind: str, origin: str, deleted: bool, body: dict[str, Any], **columns: Any) -> dict[str, Any]:
    return {
        **dict.fromkeys(OPTIONAL_COLUMNS),
        "kind": kind,
        "origin": origin,
        "id": str(uuid.uuid4()),
        "version": 1,
        "updated_at_us": 1,
        "deleted": deleted,
        "body": json.dumps(body),
        **columns,
    }


def _rows() -> list[dict[str, Any]]:
    rows = [
        _record("node", origin, deleted, {"commune": commune}, commune=commune) for origin, commune, deleted in PROFILES
    ]
    for origin, (category, service_type), start, end, deleted in ACTIVITIES:
        columns = {"category": category, "service_type": service_type, "start_date": start, "end_date": end}
        rows.append(_record("activity", origin, deleted, {}, **columns))
    for origin, period, status, values, submitted, deleted in REPORTS:
        audit = [{"action": "submitted", "at": at} for at in submitted]
        body = {"period": {"key": period}, "indicators": values, "state": status, "audit": audit}
        rows.append(_record("report", origin, deleted, body, status=status, period=period))
    return rows


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[tuple[AsyncEngine, Registry]]:
    await init_node(settings, name="Hub", node_id="hub-national")
    engine = create_engine(settings.database.url)
    requests = [
        {
            "node_id": node_id,
            "name": f"Régie {node_id}",
            "base_url": "http://127.0.0.1:9",
            "keys": "[]",
            "department": department,
            "region": region,
            "state": state,
            "requested_at_us": 1,
        }
        for node_id, (department, region, state) in ENROLMENTS.items()
    ]
    async with engine.begin() as connection:
        await connection.execute(insert(enrolments), requests)
        await connection.execute(insert(records), _rows())
        await count_bulk_load(connection)
    try:
        yield engine, build_plugins().registry
    finally:
        await engine.dispose()


async def activities(engine: AsyncEngine, scope: Scope) -> list[tuple[Any, ...]]:
    """The activity table as a coordinator reads it: (area, field, service type, activities, régies), in order."""
    rows = await aggregates.activity_table(engine, YEAR_2025, scope)
    return [(row.get("area"), row["category"], row["service_type"], row["activities"], row["regies"]) for row in rows]


async def test_national_activities_by_region_with_subtotals(hub: tuple[AsyncEngine, Registry]) -> None:
    engine, _registry = hub
    assert await activities(engine, Scope()) == [
        ("04", "mediation", "social_mediation", 2, 1),  # La Réunion, from rq-reunion's profile
        ("04", "mediation", None, 2, 1),
        ("04", None, None, 2, 1),
        ("11", "mediation", "social_mediation", 3, 2),
        ("11", "mediation", None, 3, 2),
        ("11", "mobility", "driving_school", 1, 1),
        ("11", "mobility", None, 1, 1),
        ("11", None, None, 4, 2),
        ("84", "mobility", "driving_school", 1, 1),
        ("84", "mobility", None, 1, 1),
        ("84", None, None, 1, 1),
        (None, None, None, 7, 4),
    ]


async def test_regional_activities_by_department(hub: tuple[AsyncEngine, Registry]) -> None:
    engine, _registry = hub
    assert await activities(engine, Scope("regional", region="11")) == [
        ("75", "mediation", "social_mediation", 2, 1),
        ("75", "mediation", None, 2, 1),
        ("75", "mobility", "driving_school", 1, 1),
        ("75", "mobility", None, 1, 1),
        ("75", None, None, 3, 1),
        ("93", "mediation", "social_mediation", 1, 1),
        ("93", "mediation", None, 1, 1),
        ("93", None, None, 1, 1),
        (None, None, None, 4, 2),
    ]


async def test_departmental_activities_show_that_department_only(hub: tuple[AsyncEngine, Registry]) -> None:
    engine, _registry = hub
    assert await activities(engine, Scope("departmental", region="11", department="75")) == [
        (None, "mediation", "social_mediation", 2, 1),
        (None, "mediation", None, 2, 1),
        (None, "mobility", "driving_school", 1, 1),
        (None, "mobility", None, 1, 1),
        (None, None, None, 3, 1),
    ]
    assert await activities(engine, Scope("departmental", region="04", department="974")) == [
        (None, "mediation", "social_mediation", 2, 1),
        (None, "mediation", None, 2, 1),
        (None, None, None, 2, 1),
    ]
    # A department with no member: one total line of zeros, nothing of the others.
    assert await activities(engine, Scope("departmental", region="93", department="13")) == [(None, None, None, 0, 0)]


def _figures(rows: list[dict[str, Any]], indicator: str) -> dict[Any, tuple[Any, ...]]:
    """Per area (None: the whole scope): the indicator's (field, service type, figure, reports counted, values set
    aside)."""
    return {
        row.get("area"): (row["category"], row["service_type"], row["total"], row["reports"], row["set_aside"])
        for row in rows
        if row["indicator"] == indicator
    }


async def test_indicator_figures_in_each_scope(hub: tuple[AsyncEngine, Registry]) -> None:
    engine, registry = hub

    async def table(scope: Scope, indicator: str) -> dict[Any, tuple[Any, ...]]:
        return _figures(await aggregates.indicator_table(engine, registry, YEAR_2025, scope), indicator)

    # Neither the draft's 1000, the deleted report's 500 nor the pending régie's 700 volunteers.
    assert await table(Scope(), "volunteers") == {
        "04": (None, None, 5, 1, 0),
        "11": (None, None, 30, 2, 0),
        None: (None, None, 35, 3, 0),
    }
    assert await table(Scope(), "mediation_interventions") == {
        "04": (*MEDIATION, 3, 1, 0),
        "11": (*MEDIATION, 7, 1, 0),
        None: (*MEDIATION, 10, 2, 0),
    }
    assert await table(Scope(), "board_members") == {"04": (None, None, None, 0, 1), None: (None, None, None, 0, 1)}
    assert await table(Scope("regional", region="11"), "volunteers") == {
        "75": (None, None, 10, 1, 0),
        "93": (None, None, 20, 1, 0),
        None: (None, None, 30, 2, 0),
    }
    only_93 = Scope("departmental", region="11", department="93")
    assert await table(only_93, "volunteers") == {None: (None, None, 20, 1, 0)}
    assert await table(Scope("departmental", region="84", department="69"), "volunteers") == {}
    validated_only = await aggregates.indicator_table(engine, registry, YEAR_2025, Scope(), states=("validated",))
    assert _figures(validated_only, "volunteers")[None] == (None, None, 20, 1, 0)


async def test_trends_in_a_department(hub: tuple[AsyncEngine, Registry]) -> None:
    engine, registry = hub

    async def trend(scope: Scope) -> list[tuple[str, float | None, int]]:
        rows = await aggregates.trends(engine, registry, "volunteers", scope)
        return [(row["period"], row["total"], row["reports"]) for row in rows]

    assert await trend(Scope()) == [("2024", 8, 1), ("2025", 35, 3)]
    assert await trend(Scope("departmental", region="11", department="75")) == [("2024", 8, 1), ("2025", 10, 1)]
    assert await trend(Scope("departmental", region="04", department="974")) == [("2025", 5, 1)]


async def completeness(
    engine: AsyncEngine, scope: Scope, today: dt.date = AFTER_2025
) -> tuple[dict[str, tuple[int, int, int]], list[tuple[str, str, str, str]]]:
    """(per area: expected, received, on time; the régies with no report: node, name, department, region)."""
    by_area, missing = await aggregates.completeness(engine, YEAR_2025, scope, DEADLINE, today)
    counts = {row["area"]: (row["expected"], row["received"], row["on_time"]) for row in by_area}
    return counts, [(row["node_id"], row["name"], row["department"], row["region"]) for row in missing]


LYON_MISSING = ("rq-lyon", "Régie rq-lyon", "69", "84")


async def test_completeness_counts_members_reports_and_the_deadline(hub: tuple[AsyncEngine, Registry]) -> None:
    engine, _registry = hub
    # rq-paris submitted on the deadline day (on time), rq-bobigny the day after, rq-lyon only has a draft.
    assert await completeness(engine, Scope()) == (
        {"04": (1, 1, 1), "11": (2, 2, 1), "84": (1, 0, 0)},
        [LYON_MISSING],
    )
    assert await completeness(engine, Scope("regional", region="11")) == ({"75": (1, 1, 1), "93": (1, 1, 0)}, [])
    assert await completeness(engine, Scope("departmental", region="84", department="69")) == (
        {"69": (1, 0, 0)},
        [LYON_MISSING],
    )
    assert await completeness(engine, Scope("departmental", region="04", department="974")) == ({"974": (1, 1, 1)}, [])


async def test_no_report_counts_before_the_period_is_over(hub: tuple[AsyncEngine, Registry]) -> None:
    engine, _registry = hub
    # On 2025's last day nothing is received yet (a report that arrived anyway is not counted); the next day it is.
    counts, missing = await completeness(engine, Scope("regional", region="11"), today=dt.date(2025, 12, 31))
    assert counts == {"75": (1, 0, 0), "93": (1, 0, 0)}
    assert [node_id for node_id, *_ in missing] == ["rq-paris", "rq-bobigny"]
    assert await completeness(engine, Scope("regional", region="11"), today=dt.date(2026, 1, 1)) == (
        {"75": (1, 1, 1), "93": (1, 1, 0)},
        [],
    )


async def test_a_member_in_an_overseas_collectivity_is_counted_in_it(hub: tuple[AsyncEngine, Registry]) -> None:
    # Papeete (98735): French Polynesia is department and "region" 987 in the hub's tables, as 97x codes are, by
    # three digits (two would give a department "98" that no region holds, and the régie would vanish from them).
    engine, _registry = hub
    request = {"node_id": "rq-papeete", "name": "Régie de Papeete", "base_url": "http://127.0.0.1:9", "keys": "[]"}
    async with engine.begin() as connection:
        await connection.execute(
            insert(enrolments),
            [{**request, "department": "75", "region": "11", "state": "approved", "requested_at_us": 1}],
        )
        profile = _record("node", "rq-papeete", False, {"commune": "98735"}, commune="98735")
        activity = _record("activity", "rq-papeete", False, {}, category="mediation", service_type="social_mediation")
        await connection.execute(insert(records), [profile, activity])
        await count_bulk_load(connection)
    assert await activities(engine, Scope("departmental", region="987", department="987")) == [
        (None, "mediation", "social_mediation", 1, 1),
        (None, "mediation", None, 1, 1),
        (None, None, None, 1, 1),
    ]
    assert ("987", None, None, 1, 1) in await activities(engine, Scope())
    # Not in the region it enrolled from (Île-de-France keeps its 4 activities of 2 régies).
    assert (await activities(engine, Scope("regional", region="11")))[-1] == (None, None, None, 4, 2)


def _pushed_activity(origin: str, record_id: uuid.UUID, version: int, *, deleted: bool = False) -> tuple[Any, ...]:
    """A row of `origin`'s activity as a push applies it: a mediation running in June 2025, or its tombstone."""
    if deleted:
        return replica_tombstone_values(
            "activity", origin, str(record_id), version, dt.datetime(2025, 7, 1, tzinfo=dt.UTC)
        )
    activity = Activity.model_validate(
        {
            "origin": origin,
            "id": record_id,
            "version": version,
            "updated_at": "2025-06-01T00:00:00Z",
            "category": "mediation",
            "service_type": "social_mediation",
            "title": "Médiation de juin",
            "start_date": "2025-06-01",
        }
    )
    return replica_values(RECORD_KINDS["activity"], activity, str(record_id))


async def test_the_dashboards_kept_counts_follow_every_write_and_count_again_only_its_member(
    hub: tuple[AsyncEngine, Registry],
) -> None:
    """The dashboard keeps each member's activity counts between views (figure_cache.ActivityCounts): after a push of
    one member, a view shows exactly what counting everything afresh shows, having counted only that member again."""
    engine, registry = hub
    cache = FigureCache()
    store = record_service(engine, "hub-national", build_plugins())

    async def view(scope: Scope) -> list[dict[str, Any]]:
        figures = await Figures.at_current_version(cache, engine, registry)
        return await figures.activity_table(YEAR_2025, scope)

    for scope in (Scope(), Scope("regional", region="11"), Scope("departmental", region="11", department="93")):
        assert await view(scope) == await aggregates.activity_table(engine, YEAR_2025, scope)
    counted = cache.activities.recounted
    assert counted == 5  # every origin with activities once (rq-pending's too, never shown): then kept

    pushed = uuid.uuid4()
    for row in ([_pushed_activity("rq-bobigny", pushed, 1)], [_pushed_activity("rq-bobigny", pushed, 2, deleted=True)]):
        async with engine.begin() as connection:
            await store.apply_replicas(connection, row)
        for scope in (Scope(), Scope("departmental", region="11", department="93")):
            assert await view(scope) == await aggregates.activity_table(engine, YEAR_2025, scope)
        assert cache.activities.recounted == counted + 1  # Bobigny alone
        counted = cache.activities.recounted
    bobigny = [
        row for row in await view(Scope("departmental", region="11", department="93")) if row["category"] is None
    ]
    assert bobigny == [
        {"category": None, "service_type": None, "activities": 1, "regies": 1}
    ]  # the tombstone counts out
