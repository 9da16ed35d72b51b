"""SQLite transactions of a node's engine: writes lock the database up front, reads never wait for a writer."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.storage.engine import create_engine
from federation.storage.tables import node_meta as meta


@pytest.fixture
def database(tmp_path: Path) -> Path:
    return tmp_path / "node.db"


async def _engine_with_meta_table(path: Path) -> AsyncEngine:
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    async with engine.begin() as connection:
        await connection.run_sync(meta.create)
        await connection.execute(insert(meta), [{"key": "node_id", "value": "regie-a"}])
    return engine


async def test_a_read_does_not_wait_for_another_process_writing(database: Path) -> None:
    # The situation of a node whose pull writer process holds a transaction for several feed pages.
    engine = await _engine_with_meta_table(database)
    writer = sqlite3.connect(database, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")
        writer.execute("UPDATE node_meta SET value = 'changed' WHERE key = 'node_id'")

        async def read() -> str | None:
            async with engine.connect() as connection:
                return await connection.scalar(select(meta.c.value).where(meta.c.key == "node_id"))

        # A read that took the write lock would wait for the busy timeout (10 s) and then fail.
        assert await asyncio.wait_for(read(), timeout=3) == "regie-a"  # the last committed value
    finally:
        writer.execute("ROLLBACK")
        writer.close()
        await engine.dispose()


async def test_a_write_transaction_holds_the_lock_from_its_start(database: Path) -> None:
    engine = await _engine_with_meta_table(database)
    other = sqlite3.connect(database, isolation_level=None, timeout=0)
    try:
        async with engine.begin() as connection:
            # Not a statement yet, only a read: the lock is already held, so no other writer can slip in between.
            await connection.scalar(select(meta.c.value))
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again once committed
        other.execute("ROLLBACK")
    finally:
        other.close()
        await engine.dispose()
