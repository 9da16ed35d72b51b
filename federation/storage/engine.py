"""Database engines: URL handling, SQLite pragmas (WAL, busy timeout, immediate write transactions) and pools."""

from __future__ import annotations

import contextlib
import weakref
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

SQLITE_BUSY_TIMEOUT_MS = 10_000


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise ValueError("an in-memory SQLite database cannot be shared by the node's connections; use a file")
    return Path(database)


def create_engine(url: str, *, pool_size: int = 5, echo: bool = False) -> AsyncEngine:
    """Create the async engine for a node; SQLite gets WAL and write transactions that lock up front."""
    if is_sqlite(url):
        sqlite_path(url).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=echo, pool_size=pool_size, max_overflow=0)
        _configure_sqlite(engine)
        return engine
    return create_async_engine(url, echo=echo, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)


@contextlib.asynccontextmanager
async def pooled_driver(engine: AsyncEngine) -> AsyncIterator[Any]:
    """A PostgreSQL connection of the engine's pool as asyncpg's own connection, outside any transaction.

    For the statements every signed request runs: SQLAlchemy's execution layer, with the BEGIN and ROLLBACK it wraps
    around each use of a connection, costs this process several times the CPU of a one-row statement run on the
    driver (docs/performance.md). The pool still checks the connection out and pings it first, so a restarted server
    costs no failed request; each statement the block runs commits on its own.
    """
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        yield raw.driver_connection


def insert_for(dialect: str, table: Table) -> Any:
    """The dialect's INSERT (it has ON CONFLICT clauses); a dialect's module is imported only where it runs,
    which keeps PostgreSQL's out of an SQLite node's start-up (every `regies` command pays for its imports)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects import postgresql

        return postgresql.insert(table)
    from sqlalchemy.dialects import sqlite

    return sqlite.insert(table)


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (so BEGIN IMMEDIATE below applies).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # The default 2 MiB page cache is smaller than the record id index of a node with replicas; random
        # UUID inserts then read the index from disk over and over.
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.close()

    # Connections (one per `engine.connect()`) whose transaction is about to be begun by a SELECT.
    reading: weakref.WeakSet[Any] = weakref.WeakSet()

    @event.listens_for(engine.sync_engine, "before_execute")
    def _on_execute(connection: Any, statement: Any, *_args: Any) -> None:
        # A transaction that a SELECT begins on its own (`engine.connect()`, never committed) is a read.
        if not connection.in_transaction() and getattr(statement, "is_select", False):
            reading.add(connection)

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        if connection in reading:
            reading.discard(connection)
            # Reads take no lock: in WAL mode they see a snapshot and never wait for (or hold up) a writer,
            # such as the process that writes a pull's pages while this one serves or checks them.
            connection.exec_driver_sql("BEGIN")
            return
        # Take the write lock when the transaction starts: a deferred transaction that reads then writes
        # can fail with SQLITE_BUSY instead of waiting when another writer committed in between.
        connection.exec_driver_sql("BEGIN IMMEDIATE")
