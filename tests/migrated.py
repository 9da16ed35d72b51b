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
from tests.prerequisites import dsn, find_postgres_binaries


class MigratedDatabases:
    """Fills an empty database with the schema and rows the migrations write. The first database of each backend is
    migrated for real and kept as the copy; a database that already has tables is left alone, so a test that
    prepares an older schema on purpose is not affected."""

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
        path = Path(database)
        if _has_content(path):
            return
        _make_private_directory(path.parent)
        if self._sqlite_ready:
            shutil.copyfile(self._sqlite_copy, path)
            return
        await _migrate(url)
        # The engine is disposed: SQLite has folded its write-ahead log back into the file, which is now complete.
        shutil.copyfile(path, self._sqlite_copy)
        self._sqlite_ready = True

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


def _has_content(path: Path) -> bool:
    return path.exists() and path.stat().st_size > 0


def _make_private_directory(directory: Path) -> None:
    # The node's data directory, private as `regies init` makes it (init leaves an existing directory's mode alone).
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)


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
