"""Logging in and out: argon2 accounts, the session cookie, CSRF checks, lockout, roles."""

from __future__ import annotations

import html
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from federation import appkeys
from federation.storage.tables import sessions, users
from tests.web.conftest import HTML, PASSWORD, add_account, csrf_of, log_in, login_target


async def test_login_opens_a_session_with_a_safe_cookie(node: TestClient[Any, Any]) -> None:
    response = await log_in(node)
    assert response.status == 303
    assert response.headers["Location"] == "/admin"
    cookie = response.cookies["regies_session"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]  # the node's base URL is http://
    async with node.app[appkeys.ENGINE].connect() as connection:
        stored = (await connection.execute(select(sessions.c.id_hash))).scalars().all()
    assert len(stored) == 1
    assert cookie.value not in stored[0]  # only a digest of the session id is kept
    page = await (await node.get("/admin")).text()
    assert "marie" in page


async def test_logging_in_again_replaces_the_session(staff: TestClient[Any, Any]) -> None:
    first = staff.session.cookie_jar.filter_cookies(staff.make_url("/"))["regies_session"].value
    await log_in(staff, username="admin")
    second = staff.session.cookie_jar.filter_cookies(staff.make_url("/"))["regies_session"].value
    assert second != first
    async with staff.app[appkeys.ENGINE].connect() as connection:
        assert len((await connection.execute(select(sessions))).all()) == 1  # the first session is gone


async def test_the_back_office_sends_strangers_to_the_login_page(node: TestClient[Any, Any]) -> None:
    response = await node.get("/admin?since=2026-01", allow_redirects=False)
    assert response.status == 303
    assert login_target(response) == "/admin?since=2026-01"
    page = await (await node.get(response.headers["Location"])).text()
    assert 'name="next" value="/admin?since=2026-01"' in page
    answer = await log_in(node, next_page="/admin?since=2026-01")
    assert answer.headers["Location"] == "/admin?since=2026-01"


async def test_login_never_redirects_to_another_site(node: TestClient[Any, Any]) -> None:
    answer = await log_in(node, next_page="//evil.example/")
    assert answer.headers["Location"] == "/admin"


async def test_a_wrong_password_is_refused_in_french(node: TestClient[Any, Any]) -> None:
    response = await log_in(node, password="not the password")
    assert response.status == 401
    page = await response.text()
    assert "Identifiant ou mot de passe incorrect." in page
    assert "regies_session" not in response.cookies
    unknown = await log_in(node, username="nobody")
    assert unknown.status == 401


async def test_repeated_failures_lock_the_account_for_a_while(node: TestClient[Any, Any]) -> None:
    for _ in range(5):
        assert (await log_in(node, password="wrong password")).status == 401
    locked = await log_in(node)  # even the right password is refused now
    assert locked.status == 401
    page = html.unescape(await locked.text())
    assert "Ce compte est verrouillé après trop d'échecs. Réessayez dans 15 minutes." in page
    assert "regies_session" not in locked.cookies
    async with node.app[appkeys.ENGINE].begin() as connection:  # fifteen minutes later…
        await connection.execute(update(users).where(users.c.username == "marie").values(locked_until_us=1))
    assert (await log_in(node)).status == 303


async def test_posts_without_the_csrf_token_are_refused(node: TestClient[Any, Any]) -> None:
    no_token = await node.post("/login", data={"username": "marie", "password": PASSWORD}, allow_redirects=False)
    assert no_token.status == 403
    assert "regies_session" not in no_token.cookies
    await log_in(node)
    logout = await node.post("/logout", data={"_csrf": "forged"}, allow_redirects=False)
    assert logout.status == 403
    assert (await node.get("/admin", allow_redirects=False)).status == 200  # still logged in


async def test_logout_ends_the_session(staff: TestClient[Any, Any]) -> None:
    page = await (await staff.get("/admin")).text()
    response = await staff.post("/logout", data={"_csrf": csrf_of(page)}, allow_redirects=False)
    assert response.status == 303
    assert response.headers["Location"] == "/"
    async with staff.app[appkeys.ENGINE].connect() as connection:
        assert (await connection.execute(select(sessions))).first() is None
    assert (await staff.get("/admin", allow_redirects=False)).status == 303


async def test_coordinators_cannot_open_the_regie_back_office(node: TestClient[Any, Any], password_hash: str) -> None:
    await add_account(node.app, password_hash, "claire", "regional", "84")
    response = await log_in(node, username="claire")
    assert response.headers["Location"] == "/"  # no plugin page for coordinators on a plain node
    forbidden = await node.get("/admin", headers=HTML)
    assert forbidden.status == 403
    assert "Accès refusé" in await forbidden.text()


async def test_sessions_expire(node: TestClient[Any, Any]) -> None:
    await log_in(node)
    async with node.app[appkeys.ENGINE].begin() as connection:
        await connection.execute(update(sessions).values(expires_at_us=1))
    assert (await node.get("/admin", allow_redirects=False)).status == 303


async def test_passwords_and_session_ids_stay_out_of_the_logs(
    node: TestClient[Any, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("DEBUG")
    response = await log_in(node)
    await log_in(node, password="a wrong secret password")
    session_id = response.cookies["regies_session"].value
    assert PASSWORD not in caplog.text
    assert "a wrong secret password" not in caplog.text
    assert session_id not in caplog.text


async def test_cookies_are_secure_behind_https(
    aiohttp_client: Any, regies_settings: Any, regies_app_factory: Any, password_hash: str
) -> None:
    regies_settings.server.base_url = "https://regie.example.org"
    app, _ = await regies_app_factory()
    client = await aiohttp_client(app)
    await add_account(app, password_hash, "marie", "staff")
    response = await log_in(client)
    assert response.cookies["regies_session"]["secure"] is True
