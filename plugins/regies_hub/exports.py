"""The coordinators' tables (one builder each) and how they are streamed, for the hub API and the dashboard alike."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.plugin_api import Period, appkeys, invalid_query, json_response, period_bounds
from federation.plugin_api.files import FORMATS, Column, write_geojson, write_table
from federation.plugin_api.storage import records
from federation.plugin_api.web import category_label

from . import enrolment, labels
from .aggregates import Scope
from .approval import approved_filter
from .coordination import Coordinator, parse_period, regional_only, resolve_scope
from .figure_cache import FigureCache, Figures, Usage
from .labels import member_label
from .settings import HubSettings

AREA = Column("area", "Territoire", "Area")
NODE_ID = Column("node_id", "Identifiant", "Node id")
REGIE = Column("name", "Régie", "Régie")
DEPARTMENT = Column("department", "Département", "Department")
REGION = Column("region", "Région", "Region")
# A figure by its indicator's rule (a sum, a weighted mean, a ratio of sums, a count of régies), in its unit.
TOTAL = Column("total", "Valeur", "Figure", "figure")
REPORTS = Column("reports", "Rapports", "Reports", "integer")
# Key-valued columns are shown by their labels, the keys following in columns of their own.
CATEGORY_LABEL = Column("category_label", "Champ d'action", "Field of action")
SERVICE_TYPE_LABEL = Column("service_type_label", "Type de service", "Service type")
CATEGORY_KEY = Column("category", "Clé du champ d'action", "Field of action key")
SERVICE_TYPE_KEY = Column("service_type", "Clé du type de service", "Service type key")
FIGURE_COLUMNS = (
    TOTAL,
    Column("unit", "Unité", "Unit"),
    Column("aggregation_label", "Calcul", "Computed as"),
    REPORTS,
    Column("set_aside", "Valeurs écartées", "Values set aside", "integer"),
)

ACTIVITY_COLUMNS = (
    CATEGORY_LABEL,
    SERVICE_TYPE_LABEL,
    Column("activities", "Activités", "Activities", "integer"),
    Column("regies", "Régies", "Régies", "integer"),
    CATEGORY_KEY,
    SERVICE_TYPE_KEY,
)
INDICATOR_COLUMNS = (
    CATEGORY_LABEL,
    SERVICE_TYPE_LABEL,
    Column("indicator_label", "Indicateur", "Indicator"),
    *FIGURE_COLUMNS,
    CATEGORY_KEY,
    SERVICE_TYPE_KEY,
    Column("indicator", "Clé de l'indicateur", "Indicator key"),
)
COMPLETENESS_COLUMNS = (
    AREA,
    Column("expected", "Attendus", "Expected", "integer"),
    Column("received", "Reçus", "Received", "integer"),
    Column("on_time", "Dans les délais", "On time", "integer"),
)
MISSING_COLUMNS = (NODE_ID, REGIE, DEPARTMENT, REGION)
TREND_COLUMNS = (Column("period", "Période", "Period"), *FIGURE_COLUMNS)
DIRECTORY_COLUMNS = (
    NODE_ID,
    REGIE,
    Column("kind", "Type", "Kind"),
    Column("label_status", "Label accordé par le réseau", "Label granted by the network"),
    Column("label_since", "Label depuis le", "Label since", "date"),
    Column("label_until", "Label jusqu'au", "Label until", "date"),
    Column("label_claimed", "Label déclaré par la régie", "Label claimed by the régie"),
    DEPARTMENT,
    REGION,
    Column("base_url", "Adresse du nœud", "Node address"),
)


@dataclass(frozen=True)
class Table:
    """A table ready to stream: its file name, columns, rows, and what its JSON form adds (scope, deadline…)."""

    title: str
    columns: tuple[Column, ...]
    rows: list[dict[str, Any]]
    extra: dict[str, Any] | None = None
    usage: Usage | None = None  # what its figures took from the cache, sent as `Server-Timing`


# A builder gets the app's figure cache: the tables of figures come from it at the request's data version.
TableBuilder = Callable[[web.Request, Coordinator, HubSettings, FigureCache], Awaitable[Table]]


def _engine(request: web.Request) -> AsyncEngine:
    engine: AsyncEngine = request.config_dict[appkeys.ENGINE]
    return engine


def _with_area(scope: Scope, columns: tuple[Column, ...]) -> tuple[Column, ...]:
    return (AREA, *columns) if scope.group_key() else columns


_AGGREGATION_LABELS = {
    "sum": ("somme", "sum"),
    "weighted_mean": ("moyenne pondérée", "weighted mean"),
    "ratio": ("rapport des sommes", "ratio of the sums"),
    "count": ("nombre de régies", "number of régies"),
    "none": ("non agrégé", "not aggregated"),
}


def with_labels(request: web.Request, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """New rows: `rows` with the labels of their keys (field of action, service type, indicator, rule) in `?lang=`.
    The rows given are left as they are (they may be the figure cache's)."""
    registry = request.config_dict[appkeys.PLUGINS].registry
    english = request.query.get("lang") == "en"
    labelled = []
    for source in rows:
        row = dict(source)
        labelled.append(row)
        if row.get("category"):
            row["category_label"] = category_label(row["category"], "en" if english else "fr")
        service_type = registry.service_types.get(row.get("service_type") or "")
        if service_type is not None:
            row["service_type_label"] = service_type.label_en if english else service_type.label_fr
        indicator = registry.indicators.get(row.get("indicator") or "")
        if indicator is not None:
            row["indicator_label"] = indicator.label_en if english else indicator.label_fr
        if row.get("aggregation") in _AGGREGATION_LABELS:
            row["aggregation_label"] = _AGGREGATION_LABELS[row["aggregation"]][1 if english else 0]
    return labelled


def deadline_for(period: Period, settings: HubSettings) -> dt.date:
    return period_bounds(period)[1] + dt.timedelta(days=settings.report_deadline_days)


async def activity_table(
    request: web.Request, coordinator: Coordinator, _settings: HubSettings, cache: FigureCache
) -> Table:
    # The members' counts are kept by the revision of their activities (figure_cache.ActivityCounts).
    period, scope = parse_period(request.query), resolve_scope(request.query, coordinator)
    figures = await _figures(request, cache)
    rows = with_labels(request, await figures.activity_table(period, scope))
    columns = _with_area(scope, ACTIVITY_COLUMNS)
    return Table(f"activites-{period.key}-{scope.level}", columns, rows, {"scope": scope.__dict__})


async def _figures(request: web.Request, cache: FigureCache) -> Figures:
    return await Figures.at_current_version(cache, _engine(request), request.config_dict[appkeys.PLUGINS].registry)


async def indicator_table(
    request: web.Request, coordinator: Coordinator, _settings: HubSettings, cache: FigureCache
) -> Table:
    period, scope = parse_period(request.query), resolve_scope(request.query, coordinator)
    national_only = approved_filter(request.query)
    figures = await _figures(request, cache)
    rows = with_labels(request, await figures.indicator_table(period, scope, national_only=national_only))
    columns = _with_area(scope, INDICATOR_COLUMNS)
    return Table(f"indicateurs-{period.key}-{scope.level}", columns, rows, {"scope": scope.__dict__}, figures.usage)


async def completeness_table(
    request: web.Request, coordinator: Coordinator, settings: HubSettings, cache: FigureCache
) -> Table:
    period, scope = parse_period(request.query), resolve_scope(request.query, coordinator)
    deadline = deadline_for(period, settings)
    figures = await _figures(request, cache)
    by_area, missing = await figures.completeness(period, scope, deadline)
    extra = {"deadline": deadline.isoformat(), "missing": missing, "scope": scope.__dict__}
    return Table(f"completude-{period.key}-{scope.level}", COMPLETENESS_COLUMNS, by_area, extra, figures.usage)


async def missing_table(
    request: web.Request, coordinator: Coordinator, settings: HubSettings, cache: FigureCache
) -> Table:
    period, scope = parse_period(request.query), resolve_scope(request.query, coordinator)
    figures = await _figures(request, cache)
    _, missing = await figures.completeness(period, scope, deadline_for(period, settings))
    return Table(f"manquants-{period.key}", MISSING_COLUMNS, missing, usage=figures.usage)


async def trend_table(
    request: web.Request, coordinator: Coordinator, _settings: HubSettings, cache: FigureCache
) -> Table:
    scope = resolve_scope(request.query, coordinator)
    indicator = request.query.get("indicator", "")
    registry = request.config_dict[appkeys.PLUGINS].registry
    if indicator not in registry.indicators:
        raise invalid_query("indicator", f"names an unknown indicator '{indicator}' (see /api/v1/indicators)")
    national_only = approved_filter(request.query)
    figures = await _figures(request, cache)
    rows = with_labels(request, await figures.trends(indicator, scope, national_only=national_only))
    return Table(f"tendance-{indicator}", TREND_COLUMNS, rows, {"indicator": indicator}, figures.usage)


async def directory_table(
    request: web.Request, coordinator: Coordinator, _settings: HubSettings, _cache: FigureCache
) -> Table:
    engine = _engine(request)
    members = await enrolment.list_enrolments(engine, "approved", regional_only(coordinator))
    granted = await labels.grants(engine)
    rows = [
        {**member.describe(), **member_label(granted.get(member.node_id), member.label_status)} for member in members
    ]
    return Table("annuaire", DIRECTORY_COLUMNS, rows)


TABLES: dict[str, TableBuilder] = {
    "activities": activity_table,
    "indicators": indicator_table,
    "completeness": completeness_table,
    "missing": missing_table,
    "trends": trend_table,
    "directory": directory_table,
}


async def stream_table(request: web.Request, table: Table) -> web.StreamResponse:
    """The table in `?format=` (json by default) with `?lang=` column titles (fr by default), as a download;
    CSV, XLSX and ODS files have the column keys in a second header row unless `?keys=0`."""
    fmt = request.query.get("format", "json")
    if fmt not in FORMATS:
        raise invalid_query("format", f"must be one of {', '.join(sorted(FORMATS))}")
    language = request.query.get("lang", "fr")
    if language not in ("fr", "en"):
        raise invalid_query("lang", "must be fr or en")
    keys = request.query.get("keys", "1")
    if keys not in ("0", "1"):
        raise invalid_query("keys", "must be 0 or 1")
    timing = {"Server-Timing": table.usage.server_timing()} if table.usage is not None else {}
    if fmt == "json" and table.extra is not None:
        body = {"title": table.title, "rows": table.rows, **table.extra}
        return json_response(json.dumps(body, ensure_ascii=False, default=str), headers=timing)
    media_type, extension = FORMATS[fmt]
    response = web.StreamResponse(
        headers={
            "Content-Type": media_type,
            "Content-Disposition": f'attachment; filename="{table.title}.{extension}"',
            **timing,
        }
    )
    await response.prepare(request)
    await write_table(
        fmt, table.columns, table.rows, response.write, title=table.title, language=language, key_row=keys == "1"
    )
    await response.write_eof()
    return response


async def directory_features(engine: AsyncEngine, region: str | None = None) -> list[dict[str, Any]]:
    """Members (of one region if given) as GeoJSON point properties, placed where their profile says."""
    members = await enrolment.list_enrolments(engine, "approved", region)
    granted = await labels.grants(engine)
    async with engine.connect() as connection:
        profiles = {
            row.origin: json.loads(row.body)
            for row in await connection.execute(
                select(records.c.origin, records.c.body).where(records.c.kind == "node", records.c.deleted.is_(False))
            )
        }
    features = []
    for member in members:
        location = (profiles.get(member.node_id) or {}).get("location") or {}
        features.append(
            {
                "lon": location.get("lon"),
                "lat": location.get("lat"),
                "node_id": member.node_id,
                "name": member.name,
                "department": member.department,
                "region": member.region,
                **member_label(granted.get(member.node_id), member.label_status),
                "url": member.base_url,
            }
        )
    return features


async def stream_geojson(request: web.Request, features: list[dict[str, Any]]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "application/geo+json"})
    await response.prepare(request)
    await write_geojson(features, response.write)
    await response.write_eof()
    return response
