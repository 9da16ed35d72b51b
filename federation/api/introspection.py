"""What this node's plugins provide: GET /api/v1/plugins, /api/v1/service-types and /api/v1/indicators."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from typing import Any

from aiohttp import web

from federation import appkeys
from federation.hookspecs import HOOK_API_VERSION
from federation.plugins import Plugins
from federation.responses import json_response
from federation.semantics import describe


def describe_plugins(plugins: Plugins) -> dict[str, Any]:
    """The plugin list shared by `regies plugins` and GET /api/v1/plugins."""
    registry = plugins.registry
    described = []
    for name, info in sorted(plugins.infos.items()):

        def owned(what: str, keys: Any, plugin: str = name) -> list[str]:
            return sorted(key for key in keys if registry.owners.get((what, key)) == plugin)

        described.append(
            {
                "name": name,
                "version": info.version,
                "distribution": info.distribution,
                "hooks": plugins.hooks_of(name),
                "service_types": owned("service type", registry.service_types),
                "indicators": owned("indicator", registry.indicators),
                "export_formats": owned("export format", registry.exporters),
                "sync_targets": owned("sync target", registry.sync_targets),
                "routes": f"/plugins/{name}/" if name in registry.routes else None,
            }
        )
    return {"hook_api_version": HOOK_API_VERSION, "plugins": described}


def describe_service_types(plugins: Plugins) -> list[dict[str, Any]]:
    registry = plugins.registry
    return [
        {
            "key": service_type.key,
            "category": str(service_type.category),
            "category_labels": service_type.category_labels(),
            "labels": service_type.labels(),
            "import_labels": list(service_type.import_labels),
            "description": service_type.description,
            "plugin": registry.owner("service type", service_type.key),
            "indicators": list(service_type.indicators),
            "details_schema": service_type.details_model.model_json_schema(),
        }
        for service_type in sorted(registry.service_types.values(), key=lambda st: (st.category, st.key))
    ]


def describe_indicators(plugins: Plugins) -> list[dict[str, Any]]:
    registry = plugins.registry
    return [
        {
            "key": indicator.key,
            "labels": indicator.labels(),
            "unit": indicator.unit,
            "description": indicator.description,
            "source": indicator.source,
            "service_type": indicator.service_type,
            "details_field": indicator.details_field,
            "plugin": registry.owner("indicator", indicator.key),
            **describe(indicator),
        }
        for indicator in sorted(registry.indicators.values(), key=lambda i: i.key)
    ]


def add_routes(app: web.Application) -> None:
    plugins = app[appkeys.PLUGINS]
    # Plugins cannot change while the app runs: each body is serialised once, on its first request (the details
    # models' JSON Schemas take a few tenths of a second that a start need not pay).
    describers: dict[str, Callable[[], Any]] = {
        "/api/v1/plugins": lambda: describe_plugins(plugins),
        "/api/v1/service-types": lambda: {"items": describe_service_types(plugins)},
        "/api/v1/indicators": lambda: {"items": describe_indicators(plugins)},
    }
    for path, describer in describers.items():
        body = _serialised_once(describer)

        async def handler(request: web.Request, body: Callable[[], str] = body) -> web.StreamResponse:
            return json_response(body())

        app.router.add_get(path, handler, allow_head=False)
    app.router.add_get("/api/v1/report-form", report_form, allow_head=False)


def _serialised_once(describe: Callable[[], Any]) -> Callable[[], str]:
    return functools.cache(lambda: json.dumps(describe(), ensure_ascii=False))


async def report_form(request: web.Request) -> web.StreamResponse:
    """GET /api/v1/report-form?period=2025 — the indicators of a report, computed ones pre-filled."""
    from federation.api.requests import require_token
    from federation.indicators import parse_period_key
    from federation.indicators import report_form as build_form
    from federation.problems import Problem

    await require_token(request)
    key = request.query.get("period", "")
    try:
        period = parse_period_key(key)
    except ValueError as exc:
        raise Problem(
            400,
            str(exc),
            slug="invalid-query",
            errors=[{"pointer": "/period", "detail": str(exc), "code": "invalid_query"}],
        ) from exc
    store = request.app[appkeys.STORE]
    form = await build_form(request.app[appkeys.ENGINE], request.app[appkeys.PLUGINS].registry, store.node_id, period)
    return json_response(json.dumps(form, ensure_ascii=False))
