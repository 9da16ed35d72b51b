"""pytest fixtures for plugin authors (a pytest11 plugin): a node app with exactly the plugins you give it.

Installed with regies-federation and loaded by pytest automatically; needs pytest-aiohttp. Example::

    async def test_my_service_type(regies_client):
        client = await regies_client([("myplugin", myplugin)])
        response = await client.post("/api/v1/activities", json={...}, headers=client.regies_auth)
        assert response.status == 201
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from federation.app import create_app
from federation.bootstrap import init_node
from federation.config import Settings, load_settings
from federation.plugins import build_plugins
from federation.storage import migrate
from federation.storage.engine import create_engine, sqlite_path

PluginSpec = tuple[str, object]


@pytest.fixture
def regies_settings(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """Settings of a throwaway node: embedded SQLite in a temporary directory, no REGIES_* leaking in."""
    for key in list(os.environ):
        if key.startswith("REGIES_") and key != "REGIES_TEST_POSTGRES_URL":
            monkeypatch.delenv(key)
    # No background sync worker: tests drive pulls and pushes themselves, deterministically. Test nodes live on
    # 127.0.0.1, which a node contacts only when its operator allows it.
    federation = {"worker": False, "allow_private_addresses": True}
    return load_settings(data_dir=tmp_path / "regies-node", overrides={"federation": federation})


async def migrate_sqlite_database(path: Path) -> None:
    """Make `path` an empty node database with every migration applied, to copy for each test's node (running the
    migrations takes about 0.3 s a node)."""
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await migrate.upgrade(engine)
    finally:
        # Disposed: SQLite folds its write-ahead log back into the file, which is then complete.
        await engine.dispose()


def start_from_migrated(migrated: Path, database: Path) -> None:
    """Give a node the copy of the `migrated` database at `database`, unless that file already has content (a test
    that prepared an older schema on purpose keeps it)."""
    if database.exists() and database.stat().st_size > 0:
        return
    # The data directory as `regies init` makes it: it leaves an existing directory's mode alone.
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    shutil.copyfile(migrated, database)


@pytest.fixture(scope="session")
def regies_migrated_database(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An empty node database with every migration applied, made once per test session: each test's node starts
    from a copy of it."""
    path = tmp_path_factory.mktemp("regies-migrated") / "regies.db"
    asyncio.run(migrate_sqlite_database(path))
    return path


@pytest.fixture
def regies_app_factory(
    regies_settings: Settings, regies_migrated_database: Path
) -> Callable[..., Awaitable[tuple[web.Application, str]]]:
    """`await factory(plugins, entry_points=False, plugin_settings=None)` → (app, admin token).

    `plugins` is a list of (name, module-or-object) pairs. With `entry_points=True` the installed plugins
    (built-ins included) are loaded too.
    """

    async def factory(
        plugins: Iterable[PluginSpec] = (),
        entry_points: bool = False,
        plugin_settings: dict[str, dict[str, Any]] | None = None,
    ) -> tuple[web.Application, str]:
        start_from_migrated(regies_migrated_database, sqlite_path(regies_settings.database_url))
        result = await init_node(regies_settings, name="Régie de test", node_id="regie-test")
        token = result.admin_token or regies_settings.admin_token_file.read_text().strip()
        manager = build_plugins(extra=list(plugins), load_entry_points=entry_points, settings=plugin_settings)
        return create_app(regies_settings, manager), token

    return factory


@pytest.fixture
def regies_client(
    aiohttp_client: Any, regies_app_factory: Callable[..., Awaitable[tuple[web.Application, str]]]
) -> Callable[..., Awaitable[Any]]:
    """`await regies_client(plugins, ...)` → an aiohttp TestClient with `.regies_auth` bearer headers."""

    async def make(plugins: Iterable[PluginSpec] = (), **options: Any) -> Any:
        app, token = await regies_app_factory(plugins, **options)
        client = await aiohttp_client(app)
        client.regies_token = token
        client.regies_auth = {"Authorization": f"Bearer {token}"}
        return client

    return make


WEB_TEST_PASSWORD = "mot de passe de test"


@pytest.fixture(scope="session")
def regies_web_password_hash() -> str:
    """The argon2 hash of WEB_TEST_PASSWORD, computed once: a hash costs ~0.2 s on purpose."""
    from federation.web.users import hash_password

    return hash_password(WEB_TEST_PASSWORD)


@pytest.fixture
def regies_login(regies_web_password_hash: str) -> Callable[..., Awaitable[Any]]:
    """`await regies_login(client, "national")` → creates a web account with that role (and `region=` for a
    regional coordinator) and logs the test client in through /login; its cookie jar keeps the session.

    Returns the login answer (a 303 redirect to the user's landing page).
    """
    import re

    from federation import appkeys
    from federation.web.users import store_user

    async def login(client: Any, role: str, region: str | None = None, username: str | None = None) -> Any:
        name = username or f"{role}-{region or 'x'}"
        await store_user(client.app[appkeys.ENGINE], name, regies_web_password_hash, role, region)
        page = await (await client.get("/login")).text()
        match = re.search(r'name="_csrf" value="([^"]+)"', page)
        assert match, "the login page has no CSRF token"
        form = {"_csrf": match.group(1), "username": name, "password": WEB_TEST_PASSWORD, "next": ""}
        return await client.post("/login", data=form, allow_redirects=False)

    return login
