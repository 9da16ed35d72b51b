"""The public page shows where the régie is: its department highlighted on the map of France, with the credit."""

from __future__ import annotations

import html
import xml.etree.ElementTree as ElementTree
from typing import Any

import pytest

from federation.web.maps import HIGHLIGHT, NO_DATA
from tests.web.conftest import HTML

SVG = "{http://www.w3.org/2000/svg}"


async def _public_map(node: Any, commune: str | None) -> tuple[str, ElementTree.Element | None]:
    profile = await (await node.get("/api/v1/node")).json()
    update = {key: profile[key] for key in ("name", "kind")} | ({"commune": commune} if commune else {})
    assert (await node.put("/api/v1/node", json=update, headers=node.regies_auth)).status == 200
    page = await (await node.get("/", headers=HTML)).text()
    where = page.split('<section aria-labelledby="where">')[1].split("</section>")[0]
    start = where.find('class="map"')
    if start < 0:
        return html.unescape(where), None
    svg = where[where.rindex("<svg", 0, start) : where.index("</svg>", start) + len("</svg>")]
    return html.unescape(where), ElementTree.fromstring(svg)


async def test_the_regies_department_is_highlighted(node: Any) -> None:
    where, svg = await _public_map(node, "93066")
    assert svg is not None
    assert svg.get("role") == "img"
    assert svg.find(f"{SVG}title").text == "Seine-Saint-Denis (93)"  # type: ignore[union-attr]
    assert "Seine-Saint-Denis (93) est mis en évidence" in (svg.find(f"{SVG}desc").text or "")  # type: ignore[union-attr]
    highlighted = [group for group in svg.iter(f"{SVG}g") if group.get("fill") == HIGHLIGHT]
    assert [group.find(f"{SVG}title").text for group in highlighted] == ["Seine-Saint-Denis (93)"] * 2  # type: ignore[union-attr]
    assert sum(group.get("fill") == NO_DATA for group in svg.iter(f"{SVG}g")) == 95 + 3  # the rest, inset included
    assert "<figcaption>Seine-Saint-Denis (93)</figcaption>" in where
    assert "CC BY 4.0" in where


@pytest.mark.parametrize(
    ("commune", "described"),
    [
        ("97411", "La Réunion (974) est mis en évidence"),  # an overseas department: its square beside the map
        ("97801", "Saint-Martin (978) n'y figure pas"),  # an overseas collectivity: said, not drawn
    ],
)
async def test_overseas_regies_are_placed_or_said_to_be_off_the_map(node: Any, commune: str, described: str) -> None:
    _where, svg = await _public_map(node, commune)
    assert svg is not None
    assert described in (svg.find(f"{SVG}desc").text or "")  # type: ignore[union-attr]


async def test_no_map_without_a_commune(node: Any) -> None:
    where, svg = await _public_map(node, None)
    assert svg is None and "CC BY" not in where


async def test_a_metropolitan_regie_gets_the_map_alone(node: Any) -> None:
    _where, svg = await _public_map(node, "69123")  # Lyon: no legend, overseas squares or Paris inset beside it
    assert svg is not None
    assert svg.get("viewBox") == "0 0 613 585"
    assert [group.get("fill") for group in svg.iter(f"{SVG}g")].count(HIGHLIGHT) == 1
    assert "Outre-mer" not in ElementTree.tostring(svg, encoding="unicode")
