"""The report form speaks French numbers both ways and refuses implausible figures next to their fields, like the
API does (422, a JSON Pointer per value, nothing stored)."""

from __future__ import annotations

import html
from typing import Any

import pytest

from tests.web.conftest import csrf_of


def _fields(page: str, action: str, **indicators: str) -> dict[str, str]:
    values = {f"indicators.{key}": value for key, value in indicators.items()}
    return {"_csrf": csrf_of(page), "period": "2025", "comment": "", "action": action, **values}


async def _stored(staff: Any) -> list[dict[str, Any]]:
    listing = await (await staff.get("/api/v1/reports", headers=staff.regies_auth)).json()
    items: list[dict[str, Any]] = listing["items"]
    return items


@pytest.mark.parametrize("space", [" ", "\u00a0", "\u202f"])
async def test_french_input_is_read_and_given_back_french(staff: Any, space: str) -> None:
    form = html.unescape(await (await staff.get("/admin/reports/new?period=2025")).text())
    typed = _fields(form, "draft", budget_total=f"3{space}430{space}000", fte_total="32,5", volunteers=f"1{space}200")
    saved = await staff.post("/admin/reports/new", data=typed, allow_redirects=False)
    assert saved.status == 303, html.unescape(await saved.text())
    [report] = await _stored(staff)
    assert report["indicators"] == {"budget_total": 3_430_000, "fte_total": 32.5, "volunteers": 1200}

    page = await (await staff.get(f"/admin/reports/{report['id']}")).text()
    assert 'name="indicators.budget_total" value="3\u202f430\u202f000"' in page
    assert 'name="indicators.fte_total" value="32,5"' in page
    assert "e+" not in page.split("<main", 1)[1]


async def test_implausible_figures_are_refused_in_french_next_to_their_fields(staff: Any) -> None:
    form = html.unescape(await (await staff.get("/admin/reports/new?period=2025")).text())
    typed = _fields(form, "draft", board_inhabitants_share="250", headcount_aided="2,5", volunteers="1e308")
    refused = await staff.post("/admin/reports/new", data=typed)
    assert refused.status == 422
    page = html.unescape(await refused.text())
    assert "Saisissez un nombre entre 0 et 100." in page
    assert "Saisissez un nombre entier, par exemple 12." in page
    assert "Saisissez un nombre entre 0 et 1\u202f000\u202f000." in page
    assert await _stored(staff) == []


async def test_the_api_refuses_implausible_figures_with_pointers(staff: Any) -> None:
    body = {
        "period": {"type": "year", "year": 2025},
        "indicators": {"board_inhabitants_share": 250, "headcount_aided": 2.5, "volunteers": 1e308, "fte_total": 3},
    }
    response = await staff.post("/api/v1/reports", json=body, headers=staff.regies_auth)
    assert response.status == 422
    assert response.content_type == "application/problem+json"
    problem = await response.json()
    assert {(error["pointer"], error["code"]) for error in problem["errors"]} == {
        ("/indicators/board_inhabitants_share", "indicator_bounds"),
        ("/indicators/headcount_aided", "indicator_precision"),
        ("/indicators/volunteers", "indicator_bounds"),
    }
    share = next(error for error in problem["errors"] if error["pointer"].endswith("share"))
    assert (share["minimum"], share["maximum"]) == ("0", "100")
    assert await _stored(staff) == []

    fine = {**body, "indicators": {"board_inhabitants_share": 47.5, "headcount_aided": 3, "volunteers": 12}}
    created = await staff.post("/api/v1/reports", json=fine, headers=staff.regies_auth)
    assert created.status == 201, await created.text()
