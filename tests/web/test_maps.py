"""The map renderer: classes and legend, the data table's rows, accessible and script-free SVG."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree

from federation.web.maps import NO_DATA, PALETTE, choropleth

SVG = "{http://www.w3.org/2000/svg}"


def french(value: float) -> str:
    return f"{value:,.1f}".replace(",", "\u202f").replace(".", ",")


def test_values_fall_into_classes_of_near_equal_size() -> None:
    values = {
        "75": 1.0,
        "93": 2.0,
        "13": 3.0,
        "69": 4.0,
        "59": 5.0,
        "33": 6.0,
        "31": 7.0,
        "67": 8.0,
        "44": 9.0,
        "35": 10.0,
    }
    drawn = choropleth(values, "department", "Bénévoles", french)
    assert drawn.legend[:5] == [
        ("de 1,0 à 2,0", PALETTE[0]),
        ("de 3,0 à 4,0", PALETTE[1]),
        ("de 5,0 à 6,0", PALETTE[2]),
        ("de 7,0 à 8,0", PALETTE[3]),
        ("de 9,0 à 10,0", PALETTE[4]),
    ]
    assert drawn.legend[5] == ("pas de donnée", NO_DATA)
    fills = {row.code: row.fill for row in drawn.rows}
    assert (fills["75"], fills["35"], fills["01"]) == (PALETTE[0], PALETTE[4], NO_DATA)
    assert {row.code: row.text for row in drawn.rows if row.value is not None}["44"] == "9,0"


def test_few_values_use_distinct_darker_classes() -> None:
    drawn = choropleth({"11": 3.0, "84": 3430000.0}, "region", "Budget total", french)
    assert [colour for _label, colour in drawn.legend] == [PALETTE[1], PALETTE[4], NO_DATA]
    assert drawn.legend[1][0] == "3\u202f430\u202f000,0"


def test_areas_off_the_map_stay_in_the_table() -> None:
    drawn = choropleth({"978": 1.0, "11": 2.0}, "region", "Régies", french)
    assert [(row.code, row.name) for row in drawn.rows if row.value is not None] == [
        ("11", "Île-de-France (11)"),
        ("978", "Saint-Martin (978)"),
    ]


def test_the_svg_is_accessible_and_inert() -> None:
    drawn = choropleth({"93": 1.0}, "department", 'Indicateur <script>alert("x")</script>', french, map_id="m1")
    svg = ElementTree.fromstring(str(drawn.svg))
    assert svg.get("role") == "img" and svg.get("aria-labelledby") == "m1-title m1-desc"
    assert svg.find(f"{SVG}title").text == 'Indicateur <script>alert("x")</script>'  # type: ignore[union-attr]
    assert "<script" not in str(drawn.svg) and "href" not in str(drawn.svg) and "http://" not in str(drawn.svg)[60:]
    named = [title.text for title in svg.iter(f"{SVG}title")][1:]
    assert named == ["Seine-Saint-Denis (93) : 1,0"] * 2  # on the map and in the Paris inset; no-data areas unnamed
    assert len(svg.findall(f"{SVG}g/{SVG}path")) == 96
    assert drawn.credit.endswith("(MapSVG)") and drawn.credit_licence == "CC BY 4.0"


def test_english_words() -> None:
    drawn = choropleth({"93": 1.0, "75": 2.0}, "department", "Volunteers", str, lang="en")
    assert drawn.legend[0][0] == "1.0" and "Map of France by department" in str(drawn.svg)
    assert "Overseas" in str(drawn.svg) and "Paris and inner suburbs" in str(drawn.svg)
