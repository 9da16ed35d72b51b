"""The aiohttp application factory: one app per node, its plugin manager, database and routes."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from aiohttp import web

from federation import appkeys, deadlines
from federation.api import exports, introspection, meta, node, records
from federation.api.writes import record_service
from federation.config import Settings
from federation.observability import METRICS, Metrics, metrics_endpoint, observe
from federation.openapi import build_openapi, refine_for_plugins
from federation.plugins import Plugins, node_plugins
from federation.problems import PROBLEM_TRANSLATIONS, problem_middleware
from federation.protocol import discovery, receiver
from federation.protocol.batchparser import BATCH_PARSER, BatchParser
from federation.protocol.context import FEDERATION, FederationContext
from federation.protocol.discovery import IDENTITY, NodeIdentity
from federation.protocol.keys import load_or_create_keys
from federation.protocol.receiver import CLIENT
from federation.protocol.transport import FederationClient
from federation.protocol.worker import running_worker
from federation.storage import migrate
from federation.storage.engine import create_engine
from federation.storage.reader import open_reader
from federation.storage.records import get_meta
from federation.web.context import WEB
from federation.web.setup import setup_web


class NodeNotInitialised(Exception):
    """The database has no node identity: `regies init` has not been run for this data directory."""


def create_app(settings: Settings, plugins: Plugins | None = None, *, upgrade_database: bool = True) -> web.Application:
    """Build a node's app. Plugin errors raise here, before anything listens; the database opens on startup."""
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
    document = build_openapi(
        records.filter_parameters(),
        records.PRIVATE_KINDS,
        cursor_pattern=records.CURSOR_PATTERN,
        max_page_size=settings.api.max_page_size,
    )
    registry = plugins.registry
    document = refine_for_plugins(
        document,
        {key: (str(kind.category), kind.details_model) for key, kind in registry.service_types.items()},
        registry.indicators,
        registry.exporters,
        registry.openapi_paths,
    )
    app[appkeys.OPENAPI] = json.dumps(document, ensure_ascii=False).encode("utf-8")

    async def database(app: web.Application) -> AsyncIterator[None]:
        engine = create_engine(
            settings.database_url, pool_size=settings.database.pool_size, echo=settings.database.echo
        )
        try:
            if upgrade_database:
                await migrate.upgrade(engine)
            await migrate.ensure_indexes(engine, registry.indexes.values())
            node_id = await get_meta(engine, "node_id")
            profile_id = await get_meta(engine, "profile_id")
            if node_id is None or profile_id is None:
                raise NodeNotInitialised(f"no node is initialised in {settings.database_url}; run `regies init` first")
            app[appkeys.ENGINE] = engine
            app[appkeys.STORE] = record_service(engine, node_id, app[appkeys.PLUGINS])
            app[appkeys.PROFILE_ID] = profile_id
            reader = await open_reader(engine, settings.database_url)
            app[appkeys.READER] = reader
            identity = NodeIdentity(node_id, await load_or_create_keys(engine, settings.keys_dir, node_id))
            app[IDENTITY] = identity
            client = FederationClient(identity, settings.federation)
            app[CLIENT] = client
            context = FederationContext(
                engine, identity, client, settings.federation, app[appkeys.PLUGINS], app[appkeys.STORE]
            )
            app[FEDERATION] = context
            batch_parser = BatchParser(settings.federation.inbox_parse_workers)
            app[BATCH_PARSER] = batch_parser
            try:
                if settings.federation.worker:
                    async with running_worker(context):
                        yield
                else:
                    yield
            finally:
                batch_parser.close()
                await client.close()
                await reader.close()
        finally:
            await engine.dispose()

    app.cleanup_ctx.append(database)
    meta.add_routes(app)
    node.add_routes(app)
    for collection in records.collections():
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
    setup_web(app, settings, plugins)
    app[PROBLEM_TRANSLATIONS] = app[WEB].translations
    return app
