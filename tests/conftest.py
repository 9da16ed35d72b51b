"""Shared fixtures: a throwaway PostgreSQL database per run, and initialised nodes on both backends."""

from __future__ import annotations

import asyncio
import os
import secrets
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from federation.bootstrap import init_node
from federation.config import Settings, load_settings

ADMIN_URL = os.environ.get("REGIES_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")


def _dsn(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A database created for this test run and dropped after it."""
    name = f"regies_test_{os.getpid()}_{secrets.token_hex(3)}"

    async def admin(sql: str) -> None:
        connection = await asyncpg.connect(_dsn(ADMIN_URL))
        try:
            await connection.execute(sql)
        finally:
            await connection.close()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _empty_postgres(url: str) -> None:
    """Drop everything, migrations' bookkeeping included, so each test starts from an empty database."""
    connection = await asyncpg.connect(_dsn(url))
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


@pytest.fixture
async def admin_token(settings: Settings) -> AsyncIterator[str]:
    result = await init_node(settings, name="Régie de quartier de test", node_id="rq-test")
    assert result.admin_token is not None
    yield result.admin_token


# Nodes serving on 127.0.0.1, shared by the federation and hub tests.
from tests.protocol.conftest import make_node  # noqa: E402, F401
