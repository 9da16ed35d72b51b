"""Migrated empty databases for tests: each pytest worker runs the real migrations once per backend, and every later
node starts from a copy of what they wrote instead of running them again (about 0.3 s on SQLite and 0.6 s on
PostgreSQL per node, most of the suite's set-up time)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import asyncpg
from sqlalchemy.engine import make_url

from federation.storage import migrate
from federation.storage.engine import create_engine
from federation.testing import migrate_sqlite_database, start_from_migrated
from tests.prerequisites import dsn, find_postgres_binaries


class MigratedDatabases:
    """Fills an empty database with the schema and rows the migrations write. The migrations run for real once per
    backend: on SQLite into the copy every node starts from (federation.testing, the plugin authors' fixtures, does
    the same), on PostgreSQL into the first database, then dumped; a database that already has tables is left alone,
    so a test that prepares an older schema on purpose is not affected."""

    def __init__(self, workdir: Path) -> None:
        self._sqlite_copy = workdir / "migrated.db"
        self._sqlite_ready = False
        # None: not dumped yet; "": pg_dump is missing or refused the server (each node then runs the migrations).
        self._postgres_dump: str | None = None

    async def fill(self, url: str) -> None:
        if url.startswith("sqlite"):
            await self._fill_sqlite(url)
        else:
            await self._fill_postgres(url)

    async def _fill_sqlite(self, url: str) -> None:
        database = make_url(url).database
        if not database or database == ":memory:":
            return
        if not self._sqlite_ready:
            await migrate_sqlite_database(self._sqlite_copy)
            self._sqlite_ready = True
        start_from_migrated(self._sqlite_copy, Path(database))

    async def _fill_postgres(self, url: str) -> None:
        connection = await asyncpg.connect(dsn(url))
        try:
            if await connection.fetchval("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"):
                return
            if self._postgres_dump:
                # One transaction: a test never sees half a schema.
                async with connection.transaction():
                    await connection.execute(self._postgres_dump)
                return
        finally:
            await connection.close()
        await _migrate(url)
        if self._postgres_dump is None:
            self._postgres_dump = _dump(url)


async def _migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        await migrate.upgrade(engine)
    finally:
        await engine.dispose()


def _dump(url: str) -> str:
    """The migrated database as SQL statements asyncpg can run (rows as INSERTs, no psql meta-commands); "" when
    pg_dump is not installed or does not match the server's version."""
    binaries = find_postgres_binaries()
    pg_dump = str(binaries / "pg_dump") if binaries and (binaries / "pg_dump").is_file() else shutil.which("pg_dump")
    if pg_dump is None:
        return ""
    command = [pg_dump, "--no-owner", "--no-privileges", "--inserts", f"--dbname={dsn(url)}"]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if result.returncode != 0:
        return ""
    return "\n".join(line for line in result.stdout.splitlines() if not line.startswith("\\"))
