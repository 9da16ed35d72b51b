"""One node, opened once: `async with open_node(settings) as node:` is what the app and every command run on.

Opening a node takes these steps, and closing it undoes them in reverse order (also when a later step fails):

1. the plugins (`node_plugins(settings)` unless the caller already built them);
2. the database engine;
3. the schema, by the one rule below;
4. the indexes plugins ask for (`register_indexes`);
5. the node's id and profile id (written by `regies init`);
6. the record store (writes) and the reader (reads);
7. the signing keys and identity, the signed HTTP client of the federation, and the `FederationContext` the
   replication code shares.

The database rule: opening never creates a database (`regies init` does, `regies db upgrade` migrates one
without opening the node). A database without a schema is refused (`NodeNotInitialised`). Pending migrations
are applied before anything reads the database, so a node is always opened at the code's schema; a caller that
asks not to migrate (`regies serve --no-upgrade`) gets `DatabaseOutOfDate` for a database behind the code,
rather than queries failing later on missing columns.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from functools import cached_property

from sqlalchemy.ext.asyncio import AsyncEngine

from federation.config import Settings
from federation.errors import CommandError
from federation.plugins import Plugins, node_plugins
from federation.protocol.context import FederationContext
from federation.protocol.discovery import NodeIdentity
from federation.protocol.keys import load_or_create_keys
from federation.protocol.transport import FederationClient
from federation.protocol.worker import running_worker
from federation.record_rules import record_service
from federation.registry import Registry
from federation.storage import migrate
from federation.storage.engine import create_engine
from federation.storage.reader import RecordReader, open_reader
from federation.storage.records import get_meta
from federation.storage.service import RecordService


class NodeNotInitialised(CommandError):
    """The database has no node: `regies init` has not been run for this data directory."""


class DatabaseOutOfDate(CommandError):
    """The node was opened without migrating (`regies serve --no-upgrade`) and its database is behind the code."""


@dataclass(frozen=True, eq=False)
class Node:
    """An opened node: what the aiohttp app keeps under `appkeys.NODE`, what commands and plugins' hooks get."""

    settings: Settings
    plugins: Plugins
    engine: AsyncEngine
    node_id: str
    # The id of this node's profile record (its `node` record).
    profile_id: str
    store: RecordService
    reader: RecordReader
    identity: NodeIdentity
    client: FederationClient
    federation: FederationContext

    @property
    def registry(self) -> Registry:
        return self.plugins.registry

    def running_worker(self) -> contextlib.AbstractAsyncContextManager[object]:
        """The background sync worker (pulls and outbox deliveries on schedule), running until the block ends."""
        return running_worker(self.federation)


class UnopenedNode:
    """What a command that runs without an opened node gets (`Command(..., needs_node=False)`: `init`, `serve`,
    `version`, …): the settings and plugins its node would be opened with, each loaded when first read, so that
    `regies version` still answers when the configuration or a plugin is broken."""

    def __init__(self, load_settings: Callable[[], Settings], load_plugins: Callable[[Settings], Plugins]) -> None:
        self._load_settings = load_settings
        self._load_plugins = load_plugins

    @cached_property
    def settings(self) -> Settings:
        return self._load_settings()

    @cached_property
    def plugins(self) -> Plugins:
        return self._load_plugins(self.settings)


async def _schema_at_head(engine: AsyncEngine, settings: Settings, upgrade: bool) -> None:
    """The database rule of the module's docstring."""
    revision = await migrate.current_revision(engine)
    if revision is None:
        raise NodeNotInitialised(f"no node database at {settings.database_url}; run `regies init` first")
    if upgrade:
        await migrate.upgrade(engine)
    elif revision != migrate.HEAD_REVISION:
        raise DatabaseOutOfDate(
            f"the database is at schema revision {revision} and this version of regies works on revision "
            f"{migrate.HEAD_REVISION}: run `regies db upgrade` (or start without --no-upgrade)"
        )


@contextlib.asynccontextmanager
async def open_node(settings: Settings, plugins: Plugins | None = None, *, upgrade: bool = True) -> AsyncIterator[Node]:
    """Open the node that `settings` configure (the steps and the database rule are in the module's docstring);
    everything opened is closed in reverse order when the block ends or a step fails."""
    if plugins is None:
        plugins = node_plugins(settings)
    async with contextlib.AsyncExitStack() as opened:
        engine = create_engine(
            settings.database_url, pool_size=settings.database.pool_size, echo=settings.database.echo
        )
        opened.push_async_callback(engine.dispose)
        await _schema_at_head(engine, settings, upgrade)
        await migrate.ensure_indexes(engine, plugins.registry.indexes.values())
        node_id = await get_meta(engine, "node_id")
        profile_id = await get_meta(engine, "profile_id")
        if node_id is None or profile_id is None:
            raise NodeNotInitialised(f"no node is initialised in {settings.database_url}; run `regies init` first")
        store = record_service(engine, node_id, plugins)
        reader = await open_reader(engine, settings.database_url)
        opened.push_async_callback(reader.close)
        identity = NodeIdentity(node_id, await load_or_create_keys(engine, settings.keys_dir, node_id))
        client = FederationClient(identity, settings.federation)
        opened.push_async_callback(client.close)
        federation = FederationContext(engine, identity, client, settings.federation, plugins, store)
        node = Node(settings, plugins, engine, node_id, profile_id, store, reader, identity, client, federation)
        federation.node = node  # what plugins' event hooks receive from the replication code
        yield node
