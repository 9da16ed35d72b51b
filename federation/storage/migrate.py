"""Schema migrations: upgrades a node's database to the latest Alembic revision, on SQLite or PostgreSQL."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

if TYPE_CHECKING:
    from alembic.config import Config

    from federation.registry import TableIndex

MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest revision, read from the migration files' names (NNNN_what.py, revision "NNNN"; a test checks it is
# Alembic's head). A database already there is left alone without importing Alembic, which every `regies`
# command and every server start would otherwise pay for (about 0.15 s).
HEAD_REVISION = max(path.name.split("_", 1)[0] for path in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py"))
# Alembic's per-step INFO lines are noise in a node's log; migrations report through our own messages.
logging.getLogger("alembic").setLevel(logging.WARNING)
log = logging.getLogger(__name__)


def _config(connection: Connection | None = None) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def _stored_revision(connection: Connection) -> str | None:
    # What Alembic's MigrationContext.get_current_revision reads, without importing Alembic.
    if not inspect(connection).has_table("alembic_version"):
        return None
    revisions = [row[0] for row in connection.execute(text("SELECT version_num FROM alembic_version"))]
    if len(revisions) > 1:
        raise RuntimeError(
            f"the database has several schema revisions ({', '.join(revisions)}), so it is not a node's database: "
            "check `[database] url` in the configuration"
        )
    return revisions[0] if revisions else None


async def current_revision(engine: AsyncEngine) -> str | None:
    """The database's schema revision; None if it has none (not initialised)."""
    async with engine.connect() as connection:
        return await connection.run_sync(_stored_revision)


async def upgrade(engine: AsyncEngine, revision: str = "head") -> tuple[str | None, str]:
    """Apply pending migrations in one transaction; returns (revision before, revision after)."""
    before = await current_revision(engine)
    if revision in ("head", HEAD_REVISION) and before == HEAD_REVISION:
        return before, before
    from alembic import command  # only now: importing Alembic is most of the cost of a check

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
