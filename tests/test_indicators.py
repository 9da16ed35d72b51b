"""The report form: core indicators, plugin indicators, and values computed from the node's activities."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from federation.indicators import parse_period_key, period_bounds


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
