"""The hub's national figures follow each indicator's aggregation rule, on SQLite and PostgreSQL: a percentage is
a weighted mean (45 % and 50 % never make 95), a rate is a ratio of sums, yes/no indicators count régies, and
implausible values a node should have refused are set aside. Each table is compared with a hand computation."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from regies_hub import aggregates
from regies_hub.aggregates import Scope
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from federation import hookimpl
from federation.bootstrap import init_node
from federation.config import Settings
from federation.indicators import parse_period_key
from federation.plugins import build_plugins
from federation.registrations import Indicator
from federation.registry import Registry
from federation.semantics import Aggregation
from federation.storage.engine import create_engine
from federation.storage.service import count_bulk_load
from federation.storage.tables import enrolments, records


class InsertionRates:
    """A plugin with a rate (ratio of two sums), a yes/no indicator (count of régies) and an opinion (none)."""

    @hookimpl
    def register_indicators(self, registry: Registry) -> None:
        registry.add_indicator(Indicator("cddi_people", "Salariés en insertion", "Insertion employees"))
        registry.add_indicator(Indicator("cddi_exits", "Sorties dynamiques", "Exits to employment"))
        registry.add_indicator(
            Indicator(
                "exit_rate",
                "Taux de sorties dynamiques",
                "Exit rate",
                "percent",
                aggregation=Aggregation.ratio("cddi_exits", "cddi_people", scale=100),
            )
        )
        registry.add_indicator(
            Indicator("runs_garden", "Jardin partagé", "Runs a garden", "count", aggregation=Aggregation.count())
        )
        registry.add_indicator(Indicator("mood", "Climat social", "Mood", "score", aggregation=Aggregation.none()))


# node id → (department, region, indicators of its 2025 report). rq-hostile's values are each refused by a rule.
REGIES: dict[str, tuple[str, str, dict[str, float]]] = {
    "rq-paris": (
        "75",
        "11",
        {
            "board_members": 20,
            "board_inhabitants_share": 45,
            "volunteers": 12,
            "budget_total": 3_430_000,
            "cddi_people": 10,
            "cddi_exits": 4,
            "exit_rate": 40,
            "runs_garden": 1,
            "mood": 7,
        },
    ),
    "rq-bobigny": (
        "93",
        "11",
        {
            "board_members": 8,
            "board_inhabitants_share": 50,
            "volunteers": 30,
            "budget_total": 1_000_000.5,
            "cddi_people": 30,
            "cddi_exits": 6,
            "exit_rate": 20,
            "runs_garden": 0,
        },
    ),
    "rq-lyon": (
        "69",
        "84",
        {"board_members": 10, "board_inhabitants_share": 60, "volunteers": 5, "runs_garden": 1},
    ),
    "rq-hostile": (
        "13",
        "93",
        {"board_members": 12, "board_inhabitants_share": 250, "volunteers": 2.5, "budget_total": 1e308},
    ),
}


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[tuple[AsyncEngine, Registry]]:
    await init_node(settings, name="Hub", node_id="hub-national")
    engine = create_engine(settings.database.url)
    registry = build_plugins(extra=[("insertion_rates", InsertionRates())]).registry
    rows = [report_row(node_id, "2025", values) for node_id, (_department, _region, values) in REGIES.items()]
    rows.append(report_row("rq-paris", "2024", {"board_members": 10, "board_inhabitants_share": 40, "volunteers": 9}))
    rows.append(report_row("rq-lyon", "2025", {"volunteers": 1000}, status="draft"))  # drafts never count
    async with engine.begin() as connection:
        await connection.execute(
            insert(enrolments),
            [
                {
                    "node_id": node_id,
                    "name": node_id,
                    "base_url": "http://127.0.0.1:9",
                    "keys": "[]",
                    "department": department,
                    "region": region,
                    "state": "approved",
                    "requested_at_us": 1,
                }
                for node_id, (department, region, _values) in REGIES.items()
            ],
        )
        await connection.execute(insert(records), rows)
        await count_bulk_load(connection)
    try:
        yield engine, registry
    finally:
        await engine.dispose()


def report_row(origin: str, period: str, values: dict[str, float], status: str = "submitted") -> dict[str, Any]:
    body = {"period": {"key": period}, "indicators": values, "state": status}
    return {
        "kind": "report",
        "origin": origin,
        "id": str(uuid.uuid4()),
        "version": 1,
        "updated_at_us": 1,
        "deleted": False,
        "status": status,
        "period": period,
        "body": json.dumps(body),
    }


def figures(rows: list[dict[str, Any]], area: str | None = None) -> dict[str, tuple[float | None, int, int]]:
    return {
        row["indicator"]: (row["total"], row["reports"], row["set_aside"])
        for row in rows
        if row.get("area") == area and row["service_type"] is None
    }


async def test_national_figures_follow_each_rule(hub: tuple[AsyncEngine, Registry]) -> None:
    engine, registry = hub
    rows = await aggregates.indicator_table(engine, registry, parse_period_key("2025"), Scope())
    national = figures(rows)
    # Weighted by board size: (45 × 20 + 50 × 8 + 60 × 10) / (20 + 8 + 10) = 1900 / 38; 250 % is set aside.
    assert national["board_inhabitants_share"] == (pytest.approx(50.0), 3, 1)
    assert national["board_members"] == (50, 4, 0)
    assert national["volunteers"] == (12 + 30 + 5, 3, 1)  # 2.5 volunteers set aside, the draft's 1000 not counted
    assert national["budget_total"] == (pytest.approx(4_430_000.5), 2, 1)  # 1e308 € set aside
    assert national["exit_rate"] == (pytest.approx(100 * (4 + 6) / (10 + 30)), 2, 0)  # 25 %, not 30 % nor 60 %
    assert national["runs_garden"] == (2, 3, 0)  # régies saying yes
    assert national["mood"] == (None, 1, 0)  # not aggregable
    share = next(row for row in rows if row["indicator"] == "board_inhabitants_share" and row["area"] is None)
    assert (share["unit"], share["aggregation"], share["decimals"]) == ("percent", "weighted_mean", 1)

    by_region = {region: figures(rows, region)["board_inhabitants_share"][0] for region in ("11", "84", "93")}
    assert by_region == {"11": pytest.approx((45 * 20 + 50 * 8) / 28), "84": pytest.approx(60.0), "93": None}


async def test_regional_table_and_trend(hub: tuple[AsyncEngine, Registry]) -> None:
    engine, registry = hub
    idf = Scope("regional", region="11")
    rows = await aggregates.indicator_table(engine, registry, parse_period_key("2025"), idf)
    regional = figures(rows)
    assert regional["board_inhabitants_share"] == (pytest.approx(1300 / 28), 2, 0)
    assert regional["exit_rate"][0] == pytest.approx(25.0)
    assert figures(rows, "93")["volunteers"] == (30, 1, 0)

    trend = await aggregates.trends(engine, registry, "board_inhabitants_share", Scope())
    assert [(row["period"], row["total"], row["reports"], row["set_aside"]) for row in trend] == [
        ("2024", pytest.approx(40.0), 1, 0),
        ("2025", pytest.approx(50.0), 3, 1),
    ]
    volunteers = await aggregates.trends(engine, registry, "volunteers", Scope())
    assert [(row["period"], row["total"]) for row in volunteers] == [("2024", 9), ("2025", 47)]
