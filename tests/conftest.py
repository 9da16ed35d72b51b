"""Shared fixtures: a throwaway PostgreSQL database per run, and initialised nodes on both backends."""
# The PostgreSQL server is the one answering on REGIES_TEST_POSTGRES_URL (default 127.0.0.1:5432, user postgres), or,
# when none answers, a throwaway server started from the installed binaries for this pytest process.

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from devtools.loadgen import NodeProcess
from federation.bootstrap import init_node
from federation.config import Settings, load_settings
from tests.migrated import MigratedDatabases
from tests.prerequisites import (
    configured_admin_url,
    dsn,
    find_postgres_binaries,
    server_address,
    server_answers,
    throwaway_postgres,
)


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    """The URL of a PostgreSQL server's admin database, for creating and dropping test databases."""
    url = configured_admin_url()
    if server_answers(url):
        yield url
        return
    binaries = find_postgres_binaries()
    if binaries is None:
        host, port = server_address(url)
        pytest.fail(
            f"no PostgreSQL server answers on {host}:{port} and initdb is not installed: run `make test` "
            "(as root it installs Debian's postgresql), or set REGIES_TEST_POSTGRES_URL"
        )
    with throwaway_postgres(binaries) as throwaway:
        yield throwaway


@pytest.fixture(scope="session")
def postgres_url(postgres_admin_url: str) -> Iterator[str]:
    """A database created for this test run and dropped after it."""
    name = f"regies_test_{os.getpid()}_{secrets.token_hex(3)}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(dsn(postgres_admin_url))
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _empty_postgres(url: str) -> None:
    """Drop everything, migrations' bookkeeping included, so each test starts from an empty database."""
    connection = await asyncpg.connect(dsn(url))
    try:
        await connection.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public")
    finally:
        await connection.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Runs the test once per backend, each time on an empty database."""
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'node.db'}"
    url: str = request.getfixturevalue("postgres_url")
    asyncio.run(_empty_postgres(url))
    return url


@pytest.fixture
def settings(tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch) -> Settings:
    for key in list(os.environ):
        if key.startswith("REGIES_") and key != "REGIES_TEST_POSTGRES_URL":
            monkeypatch.delenv(key)
    overrides = {"database": {"url": database_url}, "federation": {"worker": False}}
    return load_settings(data_dir=tmp_path / "var", overrides=overrides)


@pytest.fixture(scope="session")
def migrated_databases(tmp_path_factory: pytest.TempPathFactory) -> MigratedDatabases:
    return MigratedDatabases(tmp_path_factory.mktemp("migrated"))


@pytest.fixture
async def admin_token(settings: Settings, migrated_databases: MigratedDatabases) -> AsyncIterator[str]:
    await migrated_databases.fill(settings.database_url)
    result = await init_node(settings, name="Régie de quartier de test", node_id="rq-test")
    assert result.admin_token is not None
    yield result.admin_token


@pytest.fixture
def servers() -> Iterator[list[NodeProcess]]:
    """`regies serve` processes a test starts (append them); stopped after the test."""
    started: list[NodeProcess] = []
    yield started
    for server in started:
        server.stop()


# Nodes serving on 127.0.0.1, shared by the federation and hub tests.
from tests.protocol.conftest import make_node  # noqa: E402, F401
