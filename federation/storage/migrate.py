"""Schema migrations: upgrades a node's database to the latest Alembic revision, on SQLite or PostgreSQL."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from federation.plugins import TableIndex

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# Alembic's per-step INFO lines are noise in a node's log; migrations report through our own messages.
logging.getLogger("alembic").setLevel(logging.WARNING)
log = logging.getLogger(__name__)


def _config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


async def current_revision(engine: AsyncEngine) -> str | None:
    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())


async def upgrade(engine: AsyncEngine, revision: str = "head") -> tuple[str | None, str]:
    """Apply pending migrations in one transaction; returns (revision before, revision after)."""
    before = await current_revision(engine)
    async with engine.begin() as connection:
        await connection.run_sync(lambda sync: command.upgrade(_config(sync), revision))
    after = await current_revision(engine)
    assert after is not None
    return before, after


def _index_names(connection: Connection, table: str) -> set[str]:
    return {str(index["name"]) for index in inspect(connection).get_indexes(table)}


async def ensure_indexes(engine: AsyncEngine, indexes: Iterable[TableIndex]) -> list[str]:
    """Create the plugins' indexes that do not exist yet (see the `register_indexes` hook); returns their names."""
    created: list[str] = []
    for index in indexes:
        async with engine.begin() as connection:
            if index.name in await connection.run_sync(_index_names, index.table):
                continue
            log.info(
                "creating index %s on %s for a plugin (on a large table this takes a while)", index.name, index.table
            )
            started = time.monotonic()
            await connection.execute(text(index.create_sql()))
            log.info("created index %s in %.1f s", index.name, time.monotonic() - started)
            created.append(index.name)
    return created
