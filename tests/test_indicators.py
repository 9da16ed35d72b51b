"""The report form: core indicators, plugin indicators, and values computed from the node's activities."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from federation import hookimpl
from federation.indicators import by_section, computed_values, parse_period_key, period_bounds, shown_indicators
from federation.plugins import build_plugins
from federation.registrations import Indicator, ServiceType
from federation.registry import PluginError, Registry
from federation.schema.types import Category
from federation.storage.engine import create_engine


def _school(learners: int, licences: int, start: str, end: str | None = None) -> dict[str, Any]:
    return {
        "category": "transport",
        "service_type": "social_driving_school",
        "title": f"Auto-école sociale {start}",
        "start_date": start,
        "end_date": end,
        "details": {"learners": learners, "licences_obtained": licences},
    }


async def test_computed_indicators_sum_activities_of_the_period(regies_client: Callable[..., Any]) -> None:
    client = await regies_client(entry_points=True)
    for body in (
        _school(10, 5, "2025-01-10"),
        _school(20, 7, "2024-09-01", "2025-06-30"),
        _school(30, 11, "2023-01-01", "2023-12-31"),  # before 2025: not counted
    ):
        assert (await client.post("/api/v1/activities", json=body, headers=client.regies_auth)).status == 201
    form = await (await client.get("/api/v1/report-form?period=2025", headers=client.regies_auth)).json()
    values = {indicator["key"]: indicator for indicator in form["indicators"]}
    assert values["driving_licences_obtained"]["value"] == 12
    assert values["driving_learners"]["value"] == 30
    assert values["driving_licences_obtained"]["plugin"] == "mobility"
    assert values["volunteers"]["value"] is None  # entered, not computed
    assert values["volunteers"]["plugin"] == "<core>"


@pytest.mark.parametrize(
    ("key", "bounds"),
    [
        ("2025", ("2025-01-01", "2025-12-31")),
        ("2025-Q1", ("2025-01-01", "2025-03-31")),
        ("2024-Q4", ("2024-10-01", "2024-12-31")),
        ("2022-2024", ("2022-01-01", "2024-12-31")),
    ],
)
def test_period_bounds(key: str, bounds: tuple[str, str]) -> None:
    start, end = period_bounds(parse_period_key(key))
    assert (start.isoformat(), end.isoformat()) == bounds


@pytest.mark.parametrize("key", ["25", "2025-Q0", "2025-2024", "année"])
def test_bad_period_keys(key: str) -> None:
    with pytest.raises(ValueError):
        parse_period_key(key)


class _GardenPlugin:
    """A third-party plugin: one service type of local democracy, an indicator tied to it, one loose indicator."""

    def __init__(self, loose_section: str | None = None) -> None:
        self.loose_section = loose_section

    @hookimpl
    def register_service_types(self, registry: Registry) -> None:
        registry.add_service_type(ServiceType("garden_council", Category.LOCAL_DEMOCRACY, "Conseil", "Council"))

    @hookimpl
    def register_indicators(self, registry: Registry) -> None:
        registry.add_indicator(Indicator("council_meetings", "Réunions", "Meetings", service_type="garden_council"))
        registry.add_indicator(Indicator("allotments", "Parcelles", "Plots", section=self.loose_section))


def test_sections_follow_the_survey_and_the_service_types_field_of_action() -> None:
    registry = build_plugins(extra=[("garden", _GardenPlugin())]).registry
    runs = {"garden_council", "insertion_contracts", "social_driving_school"}
    sections = by_section(registry, shown_indicators(registry, in_use=runs, filled=()))
    groups = {section: [indicator.key for indicator in members] for section, members in sections}
    assert list(groups) == ["employment", "activities", "democracy", "finances", "territory", "other"]
    assert groups["democracy"] == ["volunteers", "board_members", "board_inhabitants_share", "council_meetings"]
    assert groups["other"] == ["allotments"]  # no section, no service type
    assert "employees_cddi" in groups["employment"] and "driving_learners" in groups["activities"]

    nothing_run = shown_indicators(registry, in_use=set(), filled={"driving_learners"})
    shown = {indicator.key for indicator in nothing_run}
    assert {"volunteers", "driving_learners"} <= shown  # the core's, and a value already in the report
    assert "council_meetings" not in shown and "employees_cddi" not in shown and "allotments" not in shown


def test_an_unknown_section_stops_the_node_naming_the_plugin() -> None:
    with pytest.raises(PluginError, match="plugin 'garden': indicator 'allotments' has section 'budget'"):
        build_plugins(extra=[("garden", _GardenPlugin(loose_section="budget"))], load_entry_points=False)


class _CountingPlugin:
    """A plugin whose two indicators come from one function (`compute_many`), which counts its calls."""

    def __init__(self, both: bool = False) -> None:
        self.calls = 0
        self.both = both

    async def figures(self, engine: Any, node_id: str, first_day: dt.date, last_day: dt.date) -> dict[str, float]:
        self.calls += 1
        return {"visits": float(first_day.year), "unknown_key": 1.0}  # "guests" left out: no value

    async def alone(self, engine: Any, node_id: str, first_day: dt.date, last_day: dt.date) -> float:
        return 0.0

    @hookimpl
    def register_indicators(self, registry: Registry) -> None:
        for key in ("visits", "guests"):
            registry.add_indicator(
                Indicator(
                    key,
                    key,
                    key,
                    source="computed",
                    compute_many=self.figures,
                    compute=self.alone if self.both else None,
                    hint_fr="calculé à partir des visites",
                )
            )


async def test_indicators_sharing_one_function_are_computed_by_one_call_per_form(tmp_path: Path) -> None:
    plugin = _CountingPlugin()
    registry = build_plugins(extra=[("visits", plugin)], load_entry_points=False).registry
    engine = create_engine(f"sqlite+aiosqlite:///{tmp_path / 'regies.db'}")
    try:
        values = await computed_values(engine, registry, "rq-test", parse_period_key("2025"))
        assert plugin.calls == 1
        assert values["visits"] == 2025 and "guests" not in values and "unknown_key" not in values
        await computed_values(engine, registry, "rq-test", parse_period_key("2024"))
        assert plugin.calls == 2  # nothing is kept from one form to the next
    finally:
        await engine.dispose()
    assert registry.indicators["visits"].hint("fr") == "calculé à partir des visites"
    assert registry.indicators["visits"].hint("en") == ""


def test_an_indicator_with_two_computations_stops_the_node_naming_it() -> None:
    with pytest.raises(PluginError, match="plugin 'visits': indicator 'visits' gives both compute and compute_many"):
        build_plugins(extra=[("visits", _CountingPlugin(both=True))], load_entry_points=False)
