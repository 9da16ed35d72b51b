"""The coordinators' dashboard under /hub: national report, report validation, exports; every hub page's route."""

from __future__ import annotations

import datetime as dt
import functools
from collections import defaultdict
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from federation.plugin_api import (
    AggregationKind,
    Problem,
    Registry,
    ReviewDecision,
    appkeys,
    format_figure,
    period_over,
    semantics_of,
    value_errors,
)
from federation.plugin_api.web import N_, WebUser, category_label, language, render, translate

from .aggregates import Scope
from .approval import approved_filter, decision_offered
from .coordination import (
    MAX_COMMENT,
    parse_period,
    received_report,
    received_reports,
    regional_only,
    resolve_scope,
    review_report,
)
from .exports import TABLES, deadline_for, directory_features, stream_geojson, stream_table
from .figure_cache import FigureCache, Figures
from .maps import REGIES, dashboard_map
from .settings import HubSettings
from .web_common import area_name, coordinator, form_comment, hub_engine, hub_registry
from .web_members import approve_enrolment, enrolments_page, grant_label, reject_enrolment, revoke_member

Page = Callable[[web.Request], Awaitable[web.StreamResponse]]
# Link text per export format; "csv-fr" opens in columns in French spreadsheet software (";", decimal comma).
EXPORT_FORMATS = {"csv-fr": "CSV FR (;)", "csv": "CSV", "xlsx": "XLSX", "ods": "ODS", "json": "JSON"}
# The query parameters a page passes on to its exports and period links: the period and the scope.
SCOPE_PARAMETERS = ("period", "level", "region", "department", "approved")


def period_choices(today: dt.date) -> list[str]:
    """The periods coordinators most likely look at: the last three years and this year's and last year's quarters."""
    year = today.year
    quarters = [f"{y}-Q{q}" for y in (year, year - 1) for q in range(4, 0, -1)]
    return [str(year), str(year - 1), str(year - 2), *quarters, f"{year - 3}-{year - 1}"]


def _query(request: web.Request, period: str) -> dict[str, str]:
    """The page's period and scope parameters, to carry into its links."""
    kept = {key: request.query[key] for key in SCOPE_PARAMETERS if request.query.get(key)}
    return {**kept, "period": period}


def _indicator_label(registry: Registry, key: str, lang: str) -> str:
    indicator = registry.indicators.get(key)
    if indicator is None:
        return key
    return indicator.label_en if lang == "en" else indicator.label_fr


_RULE_LABELS = {
    AggregationKind.SUM: N_("sum"),
    AggregationKind.WEIGHTED_MEAN: N_("mean weighted by: %(other)s"),
    AggregationKind.RATIO: N_("ratio of the sums: %(other)s"),
    AggregationKind.COUNT: N_("number of régies"),
    AggregationKind.NONE: N_("not aggregated"),
}


def rule_label(request: web.Request, registry: Registry, key: str) -> str:
    """How an indicator's figure is computed, in words: "moyenne pondérée par : Membres du conseil…"."""
    indicator = registry.indicators.get(key)
    if indicator is None:
        return translate(request, _RULE_LABELS[AggregationKind.NONE])
    aggregation = semantics_of(indicator).aggregation
    lang = language(request)
    others = " / ".join(_indicator_label(registry, other, lang) for other in aggregation.references())
    return translate(request, _RULE_LABELS[aggregation.kind]) % {"other": others}


SET_ASIDE = N_("implausible value, set aside from the tables")


def shown_value(registry: Registry, key: str, value: Any, lang: str) -> str:
    """A report's value as French readers write it, in its indicator's unit ("3 430 000 €", "47,5 %")."""
    if not isinstance(value, int | float) or isinstance(value, bool):
        return str(value)
    indicator = registry.indicators.get(key)
    if indicator is None:
        return format_figure(value, None, 6, lang)
    return format_figure(value, indicator.unit, max(semantics_of(indicator).decimals, 6), lang)


def figure(value: Any) -> int | float:
    """A total as people read it: 42, not 42.0."""
    number = float(value or 0)
    return int(number) if number.is_integer() else round(number, 2)


def _decimals(decimals: int | None) -> int:
    """The decimals a figure is shown with, as the templates' `figure` filter takes them (2 when unknown)."""
    return 2 if decimals is None else decimals


def activities_by_field(rows: list[dict[str, Any]], scope: Scope, lang: str) -> list[tuple[str, int]]:
    """Activities per field of action over the whole scope, from the table's per-area subtotals."""
    totals: dict[str, int] = defaultdict(int)
    has_area = bool(scope.group_key())
    for row in rows:
        if (
            row["category"] is not None
            and row["service_type"] is None
            and (row.get("area") is not None or not has_area)
        ):
            totals[row["category"]] += int(row["activities"])
    return sorted(((category_label(key, lang), count) for key, count in totals.items()), key=lambda item: -item[1])


def area_rows(scope: Scope, activities: list[dict[str, Any]], by_area: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One line per region (nationally) or department (in a region): régies expected, reports received, activities."""
    counted = {row["area"]: row for row in activities if row.get("area") is not None and row["category"] is None}
    lines = []
    for row in by_area:
        activity_row = counted.get(row["area"], {})
        lines.append(
            {
                "code": row["area"],
                "name": area_name(scope, row["area"]),
                "expected": int(row["expected"] or 0),
                "received": int(row["received"] or 0),
                "on_time": int(row["on_time"] or 0),
                "activities": int(activity_row.get("activities") or 0),
            }
        )
    return lines


async def dashboard(request: web.Request, settings: HubSettings, cache: FigureCache) -> web.StreamResponse:
    """The report of a period over the coordinator's scope: charts, areas, completeness, exports.

    Everything comes from the figure cache at the data version read first, the activities from its counts kept by
    member and revision (figure_cache.py)."""
    user = await coordinator(request)
    lang = language(request)
    # By default the last year: the latest one régies can have reported (a period not over counts no report).
    period_key = request.query.get("period") or str(dt.date.today().year - 1)
    period = parse_period({"period": period_key})
    scope = resolve_scope(request.query, user)
    engine, registry = hub_engine(request), hub_registry(request)
    national_only = approved_filter(request.query)
    figures = await Figures.at_current_version(cache, engine, registry)
    activities = await figures.activity_table(period, scope)
    indicators = await figures.indicator_table(period, scope, national_only=national_only)
    deadline = deadline_for(period, settings)
    by_area, missing = await figures.completeness(period, scope, deadline)
    reported = sorted({row["indicator"] for row in indicators})
    indicator = request.query.get("indicator")
    if indicator not in registry.indicators:
        indicator = reported[0] if reported else None
    indicator_by_area: list[tuple[str, int | float]] = []
    trend: list[tuple[str, int | float]] = []
    if indicator is not None:
        # A figure that is not aggregable (no rule, or no report with a weight) has no bar.
        indicator_by_area = [
            (area_name(scope, row["area"]), figure(row["total"]))
            for row in indicators
            if row["indicator"] == indicator and row.get("area") is not None and row["total"] is not None
        ]
        trend = [
            (row["period"], figure(row["total"]))
            for row in await figures.trends(indicator, scope, national_only=national_only)
            if row["total"] is not None
        ]

    async def indicator_totals() -> list[dict[str, Any]]:
        # Formatted here, once per data version and language: the French formatting of each figure (Babel) was
        # most of a view's rendering time, a hundred indicators and more each time (docs/performance.md).
        return [
            {
                "key": row["indicator"],
                "label": _indicator_label(registry, row["indicator"], lang),
                "rule": rule_label(request, registry, row["indicator"]),
                "total_text": format_figure(row["total"], row["unit"], _decimals(row["decimals"]), lang),
                "reports_text": format_figure(row["reports"], None, 2, lang),
                **row,
            }
            for row in indicators
            if row.get("area") is None
        ]

    totals = await figures.cached(("totals", period.key, scope, national_only, lang), indicator_totals)
    shown_rules = semantics_of(registry.indicators[indicator]) if indicator else None
    query = _query(request, period.key or period_key)
    context = {
        "period": period.key,
        "periods": period_choices(dt.date.today()),
        "scope": scope,
        "scope_name": area_name(Scope("national"), scope.region) if scope.region else "",
        "by_field": activities_by_field(activities, scope, lang),
        "total_activities": next(
            (int(row["activities"]) for row in activities if row["category"] is None and row.get("area") is None), 0
        ),
        "areas": area_rows(scope, activities, by_area),
        "missing": missing,
        "deadline": deadline,
        "period_over": period_over(period, dt.date.today()),
        "indicator": indicator,
        "indicator_label": _indicator_label(registry, indicator, lang) if indicator else "",
        "indicator_choices": [(key, _indicator_label(registry, key, lang)) for key in reported],
        "indicator_by_area": indicator_by_area,
        "indicator_unit": shown_rules.unit if shown_rules else "",
        "indicator_decimals": shown_rules.decimals if shown_rules else 2,
        "trend": trend,
        "indicator_totals": totals,
        "exports": _export_links(query, indicator),
        # The period form keeps the scope a national coordinator chose (a region, a department).
        "extra_fields": [(key, value) for key, value in query.items() if key != "period"],
        "approved": "national" if national_only else "all",
    }
    map_choices = [(REGIES, translate(request, "Member régies"))]
    map_choices += [(key, _indicator_label(registry, key, lang)) for key in reported]
    context |= await dashboard_map(figures, period, scope, dict(request.query), lang, map_choices)
    response = await render(request, "hub/dashboard.html", context)
    response.headers["Server-Timing"] = figures.usage.server_timing()
    return response


def _export_links(query: Mapping[str, str], indicator: str | None) -> list[dict[str, Any]]:
    tables = [
        ("activities", N_("Activities"), query),
        ("indicators", N_("Indicators"), query),
        ("completeness", N_("Completeness"), query),
        ("missing", N_("Missing régies"), query),
        ("directory", N_("Directory of members"), {}),
    ]
    if indicator:
        scope = {key: value for key, value in query.items() if key != "period"}
        tables.insert(2, ("trends", N_("Trend of the indicator"), {**scope, "indicator": indicator}))
    return [
        {
            "title": title,
            "links": [
                (label, f"/hub/exports/{name}?{urlencode({**params, 'format': fmt})}")
                for fmt, label in EXPORT_FORMATS.items()
            ],
        }
        for name, title, params in tables
    ]


async def export(request: web.Request, settings: HubSettings, cache: FigureCache) -> web.StreamResponse:
    """A table as a file, built and scoped exactly as the hub API's, for a logged-in coordinator."""
    user = await coordinator(request)
    name = request.match_info["table"]
    if name == "directory.geojson":
        return await stream_geojson(request, await directory_features(hub_engine(request), regional_only(user)))
    build = TABLES.get(name)
    if build is None:
        raise web.HTTPNotFound()
    return await stream_table(request, await build(request, user, settings, cache))


# --- Report validation --------------------------------------------------------------------------------


async def report_list(request: web.Request) -> web.StreamResponse:
    user = await coordinator(request)
    period_key = request.query.get("period") or str(dt.date.today().year - 1)  # as the dashboard: the last year
    period = parse_period({"period": period_key})
    items = await received_reports(hub_engine(request), period, user)  # states as the hub's own reviews make them
    for item in items:
        item["region_name"] = area_name(Scope("national"), item["region"])
    context = {"period": period.key, "periods": period_choices(dt.date.today()), "reports": items}
    return await render(request, "hub/reports.html", context)


async def _report_page(
    request: web.Request, user: WebUser, levels: int, error: str | None = None, comment: str = "", status: int = 200
) -> web.StreamResponse:
    origin, report_id = request.match_info["origin"], request.match_info["id"]
    engine, registry, lang = hub_engine(request), hub_registry(request), language(request)
    member, report = await received_report(engine, user, origin, report_id)
    state = report["state"]
    values = report.get("indicators", {})
    # Values a node should have refused (outside their bounds, too precise) are flagged: the tables set them aside.
    flagged = {error.pointer.rsplit("/", 1)[-1] for error in value_errors(registry, values)}
    indicators = [
        (
            _indicator_label(registry, key, lang),
            shown_value(registry, key, value, lang),
            translate(request, SET_ASIDE) if key in flagged else "",
        )
        for key, value in sorted(values.items())
    ]
    changed = report.get("changed_after")
    if changed is not None:
        # What the régie changed since the validation: the coordinator decides again on the new figures.
        changed = {
            **changed,
            "changes": [
                (
                    translate(request, "Period") if key == "period" else _indicator_label(registry, key, lang),
                    "—" if before is None else shown_value(registry, key, before, lang),
                    "—" if now is None else shown_value(registry, key, now, lang),
                )
                for key, before, now in changed["changes"]
            ],
        }
    context = {
        "member": {**member, "region_name": area_name(Scope("national"), member.get("region"))},
        "report": report,
        "state": state,
        "indicators": indicators,
        "error": error,
        "comment": comment,
        "max_comment": MAX_COMMENT,
        "done": request.query.get("done"),
        "action": f"/hub/reports/{origin}/{report_id}",
        "decision": decision_offered(user, state, levels),
        "changed": changed,
    }
    return await render(request, "hub/report.html", context, status=status)


async def report_page(request: web.Request, settings: HubSettings) -> web.StreamResponse:
    return await _report_page(request, await coordinator(request), settings.approval_levels)


async def _review(request: web.Request, decision: ReviewDecision, levels: int) -> web.StreamResponse:
    user = await coordinator(request)
    read_comment = await form_comment(request)
    origin, report_id = request.match_info["origin"], request.match_info["id"]
    try:
        await review_report(
            hub_engine(request),
            request.config_dict[appkeys.STORE],
            user,
            user.username,
            origin,
            report_id,
            decision,
            read_comment,
            levels,
        )
    except Problem as problem:
        if problem.status != 422:
            raise
        message = translate(request, "Say what the régie must correct.")
        return await _report_page(request, user, levels, error=message, comment=await read_comment() or "", status=422)
    raise web.HTTPSeeOther(f"/hub/reports/{origin}/{report_id}?done={decision.value}")


VALIDATED, RETURNED = ReviewDecision.VALIDATED, ReviewDecision.RETURNED


def build_pages(settings: HubSettings, cache: FigureCache) -> list[web.AbstractRouteDef]:
    """The dashboard's routes, relative to /hub; those that need the hub's settings or the app's figure cache (shared
    by the dashboard, its exports and the hub API's tables) get them bound."""
    levels = settings.approval_levels
    return [
        web.get("", functools.partial(dashboard, settings=settings, cache=cache)),
        web.get("/reports", report_list),
        web.get("/reports/{origin}/{id}", functools.partial(report_page, settings=settings)),
        web.post("/reports/{origin}/{id}/validate", functools.partial(_review, decision=VALIDATED, levels=levels)),
        web.post("/reports/{origin}/{id}/return", functools.partial(_review, decision=RETURNED, levels=levels)),
        web.get("/enrolments", enrolments_page),
        web.post("/enrolments/{id}/approve", approve_enrolment),
        web.post("/enrolments/{id}/reject", reject_enrolment),
        web.post("/members/{node_id}/revoke", revoke_member),
        web.post("/members/{node_id}/label", grant_label),
        web.get("/exports/{table}", functools.partial(export, settings=settings, cache=cache)),
    ]
