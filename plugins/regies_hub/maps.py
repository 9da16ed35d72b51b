"""The dashboard's map: the number of member régies or an indicator's figure, by region or by department."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from babel.numbers import format_decimal

from federation.plugin_api import Period
from federation.plugin_api.web import AREA_LEVELS, ChoroplethMap, Level, choropleth

from .aggregates import Scope
from .figure_cache import Figures

REGIES = "regies"  # the map's default figure: how many member régies each area has
WORDS = {
    "fr": {
        "region": "par région",
        "department": "par département",
        "no_regie": "aucune régie",
        "no_data": "pas de donnée",
    },
    "en": {"region": "by region", "department": "by department", "no_regie": "no régie", "no_data": "no data"},
}


@dataclass(frozen=True)
class ByArea(Scope):
    """The coordinator's scope broken down by region or by department, whatever its level (a map needs either)."""

    area: Level = "department"

    def group_key(self) -> list[str]:
        return ["g.region"] if self.area == "region" else ["g.department"]


def french_number(value: float, lang: str) -> str:
    """12 345,5 in French (narrow no-break space, decimal comma), 12,345.5 in English; never 1.2e+04."""
    return format_decimal(round(value, 2), locale="fr_FR" if lang == "fr" else "en_GB")


async def area_values(
    figures: Figures, period: Period, scope: Scope, figure: str, level: Level
) -> dict[str, float | None]:
    """The figure per area code: member régies, or the indicator's total by the hub's own aggregation rules."""
    by_area = ByArea(scope.level, scope.region, scope.department, area=level)
    if figure == REGIES:
        # The deadline only sorts reports into on time or late, which the map does not show.
        expected, _missing = await figures.completeness(period, by_area, dt.date.today())
        return {row["area"]: float(row["expected"]) for row in expected if row["area"] is not None}
    rows = await figures.indicator_table(period, by_area)
    return {
        row["area"]: None if row["total"] is None else float(row["total"])
        for row in rows
        # An indicator belongs to one service type (or none): one row per area, as on the indicator chart.
        if row["indicator"] == figure and row.get("area") is not None
    }


async def dashboard_map(
    figures: Figures,
    period: Period,
    scope: Scope,
    query: dict[str, str],
    lang: str,
    choices: list[tuple[str, str]],
) -> dict[str, Any]:
    """The map section's context: the figure and level chosen (`map`, `map_level`), their choices and the map."""
    figure = query.get("map", REGIES)
    if figure not in dict(choices):
        figure = REGIES
    default_level: Level = "region" if scope.level == "national" else "department"
    level: Level = next((choice for choice in AREA_LEVELS if choice == query.get("map_level")), default_level)
    label = dict(choices)[figure]
    words = WORDS.get(lang, WORDS["fr"])

    async def draw() -> ChoroplethMap:
        values = await area_values(figures, period, scope, figure, level)
        return choropleth(
            values,
            level,
            f"{label} {words[level]}",
            lambda value: french_number(value, lang),
            no_data=words["no_regie" if figure == REGIES else "no_data"],
            map_id="area-map",
            lang=lang,
        )

    # Drawn once per data version: its paths and formatted numbers cost a view more than its figures' SQL.
    drawn = await figures.cached(("map", period.key, scope, figure, level, label, lang, dt.date.today()), draw)
    return {"map": drawn, "map_figure": figure, "map_level": level, "map_label": label, "map_figures": choices}
