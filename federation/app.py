"""The aiohttp application factory: one app per node, its plugin manager, database and routes."""

from __future__ import annotations

import functools
import json
from collections.abc import AsyncIterator, Callable

from aiohttp import web

from federation import appkeys, deadlines
from federation.api import exports, introspection, meta, node, records
from federation.config import Settings
from federation.node import open_node
from federation.observability import METRICS, Metrics, metrics_endpoint, observe
from federation.openapi import build_openapi
from federation.openapi_plugins import refine_for_plugins
from federation.plugins import Plugins, node_plugins
from federation.problems import PROBLEM_TRANSLATIONS, problem_middleware
from federation.protocol import discovery, receiver
from federation.protocol.batchparser import BATCH_PARSER, BatchParser
from federation.protocol.context import FEDERATION
from federation.protocol.discovery import IDENTITY
from federation.protocol.receiver import CLIENT
from federation.registry import Registry
from federation.web.context import WEB
from federation.web.setup import setup_web


def create_app(settings: Settings, plugins: Plugins | None = None, *, upgrade_database: bool = True) -> web.Application:
    """Build a node's app. Plugin errors raise here, before anything listens; the node (federation/node.py) opens
    on start-up, migrating its database unless `upgrade_database` is false, and closes on clean-up."""
    app = web.Application(
        client_max_size=settings.server.max_body_bytes,
        handler_args=deadlines.handler_args(settings.server.idle_timeout_s),
        middlewares=[observe, problem_middleware, deadlines.body_deadline(settings.server.body_timeout_s)],
    )
    app[METRICS] = Metrics()
    app[appkeys.SETTINGS] = settings
    if plugins is None:
        plugins = node_plugins(settings)
    app[appkeys.PLUGINS] = plugins
    registry = plugins.registry
    # Built on its first request: the models' JSON Schemas take about 0.1 s a node need not pay at each start.
    build_document: Callable[[], bytes] = functools.cache(functools.partial(openapi_document, settings, registry))
    app[appkeys.OPENAPI] = build_document

    async def node_lifetime(app: web.Application) -> AsyncIterator[None]:
        async with open_node(settings, plugins, upgrade=upgrade_database) as opened:
            # The one place the node's parts are put under the keys handlers read them from.
            app[appkeys.NODE] = opened
            app[appkeys.ENGINE] = opened.engine
            app[appkeys.STORE] = opened.store
            app[appkeys.PROFILE_ID] = opened.profile_id
            app[appkeys.READER] = opened.reader
            app[IDENTITY] = opened.identity
            app[CLIENT] = opened.client
            app[FEDERATION] = opened.federation
            batch_parser = BatchParser(settings.federation.inbox_parse_workers)
            app[BATCH_PARSER] = batch_parser
            try:
                if settings.federation.worker:
                    async with opened.running_worker():
                        yield
                else:
                    yield
            finally:
                batch_parser.close()

    app.cleanup_ctx.append(node_lifetime)
    meta.add_routes(app)
    node.add_routes(app)
    for collection in records.collections(registry.kinds):
        collection.add_routes(app)
    app.router.add_get("/metrics", metrics_endpoint, allow_head=False)
    introspection.add_routes(app)
    discovery.add_routes(app)
    receiver.add_routes(app)
    exports.add_routes(app)
    for name, routes in plugins.registry.routes.items():
        # Each plugin gets its own sub-application: its paths cannot collide with the core's or another's.
        plugin_app = web.Application()
        plugin_app.add_routes(routes)
        app.add_subapp(f"/plugins/{name}", plugin_app)
    for name, routes in plugins.registry.api_routes.items():
        # A public format a plugin publishes beside the core's API (`Registry.add_api_routes`), on its own too.
        api_app = web.Application()
        api_app.add_routes(routes)
        app.add_subapp(f"/api/v1/{name}", api_app)
    for mounts in plugins.registry.root_routes.values():
        # On the main router, not a sub-application: "/catalog.jsonld" is a path of its own, not a prefix.
        for mounted in mounts:
            app.router.add_routes(mounted.routes)
    setup_web(app, settings, plugins)
    app[PROBLEM_TRANSLATIONS] = app[WEB].translations
    return app


def openapi_document(settings: Settings, registry: Registry) -> bytes:
    """The node's /openapi.json: the core's operations and what its plugins add."""
    document = build_openapi(
        registry.kinds,
        records.filter_parameters(registry.kinds.values()),
        cursor_pattern=records.CURSOR_PATTERN,
        max_page_size=settings.api.max_page_size,
    )
    document = refine_for_plugins(
        document,
        {key: (str(kind.category), kind.details_model) for key, kind in registry.service_types.items()},
        registry.indicators,
        registry.exporters,
        registry.openapi_paths,
        registry.api_openapi_paths,
        registry.root_openapi_paths,
    )
    return json.dumps(document, ensure_ascii=False).encode("utf-8")
