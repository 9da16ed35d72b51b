"""Web interface fixtures: a node with the built-in plugins, a staff account and a logged-in test client."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from federation import appkeys
from federation.testing import WEB_TEST_PASSWORD
from federation.web.users import store_user

PASSWORD = WEB_TEST_PASSWORD
HTML = {"Accept": "text/html"}
CSRF_RE = re.compile(r'name="_csrf" value="([^"]+)"')


def csrf_of(page: str) -> str:
    """The CSRF token a rendered page put in its forms."""
    match = CSRF_RE.search(page)
    assert match, "the page has no form with a CSRF token"
    return match.group(1)


@pytest.fixture(scope="session")
def password_hash(regies_web_password_hash: str) -> str:
    # The plugin-facing fixture's hash of the same password: argon2 costs ~0.2 s a hash on purpose.
    return regies_web_password_hash


async def add_account(
    app: web.Application, password_hash: str, username: str, role: str, region: str | None = None
) -> None:
    await store_user(app[appkeys.ENGINE], username, password_hash, role, region)


# What `regies network join` writes in a node's settings; nothing is sent there (the sync worker is off in tests).
IN_A_NETWORK = {"hubclient": {"url": "http://hub.invalid"}}


async def node_with_accounts(
    aiohttp_client: Any,
    regies_app_factory: Callable[..., Awaitable[tuple[web.Application, str]]],
    password_hash: str,
    plugin_settings: dict[str, dict[str, Any]] | None = None,
) -> TestClient[Any, Any]:
    app, token = await regies_app_factory(entry_points=True, plugin_settings=plugin_settings)
    client: TestClient[Any, Any] = await aiohttp_client(app)
    client.regies_auth = {"Authorization": f"Bearer {token}"}  # type: ignore[attr-defined]
    await add_account(app, password_hash, "admin", "admin")
    await add_account(app, password_hash, "marie", "staff")
    return client


@pytest.fixture
async def node(
    aiohttp_client: Any, regies_app_factory: Callable[..., Awaitable[tuple[web.Application, str]]], password_hash: str
) -> TestClient[Any, Any]:
    """A node with the built-in plugins and two accounts: `admin` (admin) and `marie` (staff); it has joined no hub.

    `client.regies_auth` holds the node's admin API token headers, to check what the pages wrote.
    """
    return await node_with_accounts(aiohttp_client, regies_app_factory, password_hash)


@pytest.fixture
async def member(
    aiohttp_client: Any, regies_app_factory: Callable[..., Awaitable[tuple[web.Application, str]]], password_hash: str
) -> TestClient[Any, Any]:
    """Like `node`, for a node that joined the network's hub (it can submit reports); logged in as `marie`."""
    client = await node_with_accounts(aiohttp_client, regies_app_factory, password_hash, IN_A_NETWORK)
    response = await log_in(client)
    assert response.status == 303, await response.text()
    return client


async def log_in(
    client: TestClient[Any, Any], username: str = "marie", password: str = PASSWORD, next_page: str = ""
) -> Any:
    """Fill and send the login form; the answer is not followed (a 303 on success)."""
    page = await (await client.get("/login")).text()
    return await client.post(
        "/login",
        data={"_csrf": csrf_of(page), "username": username, "password": password, "next": next_page},
        allow_redirects=False,
    )


@pytest.fixture
async def staff(node: TestClient[Any, Any]) -> TestClient[Any, Any]:
    """The node's test client, logged in as staff member `marie`."""
    response = await log_in(node)
    assert response.status == 303, await response.text()
    return node


def login_target(response: Any) -> str:
    """Where the login page will send the user back to, from a redirect to it."""
    location = urlsplit(response.headers["Location"])
    assert location.path == "/login", location
    return parse_qs(location.query)["next"][0]
