"""The durability settings docs/reliability.md promises: SQLite in WAL with synchronous=NORMAL, PostgreSQL with
synchronous commits."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from federation.storage.engine import create_engine


async def test_sqlite_connections_use_wal_and_synchronous_normal(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'node.db'}"
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(text("PRAGMA journal_mode")) == "wal"
            assert await connection.scalar(text("PRAGMA synchronous")) == 1  # NORMAL
            assert await connection.scalar(text("PRAGMA busy_timeout")) == 10_000
    finally:
        await engine.dispose()


async def test_postgresql_commits_wait_for_the_disk(postgres_url: str) -> None:
    engine = create_engine(postgres_url)
    try:
        async with engine.connect() as connection:
            assert await connection.scalar(text("SHOW synchronous_commit")) == "on"
            assert await connection.scalar(text("SHOW fsync")) == "on"
            assert await connection.scalar(text("SHOW full_page_writes")) == "on"
    finally:
        await engine.dispose()
