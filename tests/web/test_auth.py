"""Logging in and out: argon2 accounts, the session cookie, CSRF checks, lockout, roles."""

from __future__ import annotations

import base64
import html
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select, update

from federation import appkeys
from federation.storage.tables import sessions
from federation.web.users import hash_password
from tests.web.conftest import HTML, PASSWORD, add_account, csrf_of, log_in, login_target, node_with_accounts


async def test_login_opens_a_session_with_a_safe_cookie(node: TestClient[Any, Any]) -> None:
    response = await log_in(node)
    assert response.status == 303
    assert response.headers["Location"] == "/admin"
    cookie = response.cookies["regies_session"]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Lax"
    assert not cookie["secure"]  # the node's base URL is http://
    assert cookie["max-age"] == str(12 * 3600)  # `web.session_hours` (12 by default), to the second
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


# Each is a way to make a browser leave the site: a tab or newline it drops, a backslash it reads as a slash,
# encoded (once to three times) so that a proxy or the browser decodes it, a scheme, or no leading slash at all.
OFF_SITE = [
    "//evil.example/",
    "/\t/evil.example",
    "/%09/evil.example",
    "/\n/evil.example",
    "/%0d%0a/evil.example",
    "/\\evil.example",
    "/%5Cevil.example",
    "\\\\evil.example",
    "/%2F/evil.example",
    "/%252F%252Fevil.example",
    "/%25252F%25252Fevil.example",  # encoded three times: the last encoding `safe_next` decodes
    "/%2f%5cevil.example",
    "https://evil.example/admin",
    "javascript:alert(1)",
    " //evil.example",
    "evil.example",
    "/admin\x00",
    "/admin?q=\r\nSet-Cookie: regies_session=fixed",  # a header of the attacker's in the answer
    "/admin\x7f",
    "/" + "a" * 3000,
]


@pytest.mark.parametrize("target", OFF_SITE)
async def test_login_never_redirects_to_another_site(node: TestClient[Any, Any], target: str) -> None:
    page = await node.get("/login", params={"next": target})
    assert 'name="next" value=""' in await page.text()  # the form does not carry it
    answer = await log_in(node, next_page=target)
    assert answer.status == 303
    assert answer.headers["Location"] == "/admin"
    logged_in = await node.get("/login", params={"next": target}, allow_redirects=False)
    assert logged_in.headers["Location"] == "/admin"


async def test_login_keeps_local_paths_with_their_query(node: TestClient[Any, Any]) -> None:
    target = "/admin/activities?q=espaces%20verts&page=2"
    page = await node.get("/login", params={"next": target})
    assert f'name="next" value="{html.escape(target)}"' in await page.text()
    assert (await log_in(node, next_page=target)).headers["Location"] == target


async def test_a_next_page_is_kept_up_to_its_length_limit_and_with_any_query(node: TestClient[Any, Any]) -> None:
    longest = "/admin/activities?q=" + "a" * (2000 - len("/admin/activities?q="))  # 2000 characters: the limit
    kept_as_sent = (
        longest,
        "/admin/activities?q=%01",  # what a query encodes never leads off the site
        "/admin/activities/espaces%20verts",  # a space in a path is no control character
        "/%2525252F%2525252Fevil.example",  # three decodings leave `/%2F%2F…`: a path here, whatever follows
    )
    for target in kept_as_sent:
        assert (await log_in(node, next_page=target)).headers["Location"] == target
    typed_space = await log_in(node, next_page="/admin/activities?q=espaces verts")  # nor one typed in a search
    assert typed_space.headers["Location"] == "/admin/activities?q=espaces+verts"
    assert (await log_in(node, next_page=longest + "a")).headers["Location"] == "/admin"  # one over: dropped


async def test_the_login_page_answers_get_only(node: TestClient[Any, Any]) -> None:
    assert (await node.head("/login")).status == 405  # no page, no pre-login token, for a request without a body


async def test_coordinators_land_on_the_first_page_their_role_opens(
    aiohttp_client: Any, regies_app_factory: Any, password_hash: str
) -> None:
    hub = await node_with_accounts(aiohttp_client, regies_app_factory, password_hash, {"hub": {"enabled": True}})
    await add_account(hub.app, password_hash, "claire", "national")
    assert (await log_in(hub, username="claire")).headers["Location"] == "/hub"


async def test_a_wrong_password_is_refused_in_french(node: TestClient[Any, Any]) -> None:
    response = await log_in(node, password="not the password", next_page="/admin/activities")
    assert response.status == 401
    page = await response.text()
    assert "Identifiant ou mot de passe incorrect." in page
    assert 'name="next" value="/admin/activities"' in page  # the second try still goes where the user was going
    assert "regies_session" not in response.cookies
    unknown = await log_in(node, username="nobody")
    assert unknown.status == 401


async def test_wrong_passwords_never_lock_the_account(node: TestClient[Any, Any]) -> None:
    for _ in range(5):
        assert (await log_in(node, password="wrong password")).status == 401
    assert (await log_in(node)).status == 303  # the owner still gets in (throttling is per client: see below)


async def test_passwords_up_to_the_limit_log_in_and_longer_ones_are_never_hashed(node: TestClient[Any, Any]) -> None:
    longest, too_long = "p" * 1000, "p" * 1001  # the documented limit
    await add_account(node.app, hash_password(longest), "longest", "staff")
    await add_account(node.app, hash_password(too_long), "too-long", "staff")
    assert (await log_in(node, username="longest", password=longest)).status == 303
    refused = await log_in(node, username="too-long", password=too_long)  # its own password, one character over
    assert refused.status == 401 and "regies_session" not in refused.cookies


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
    deleted = response.cookies["regies_session"]  # the browser is told to forget the cookie, not just the server
    assert deleted.value == "" and deleted["max-age"] == "0" and deleted["path"] == "/"
    assert deleted["httponly"] is True and deleted["samesite"] == "Lax"  # the same attributes as the cookie it ends
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


async def _cookies_of_a_login(client: TestClient[Any, Any], **headers: str) -> dict[str, Any]:
    """Every cookie the login page and a successful login set, by name. The Cookie header is sent by hand: a
    client on http:// (as this test client is) keeps Secure cookies to itself, as a browser would."""
    page = await client.get("/login?lang=fr", headers=headers)  # ?lang= sets the language cookie too
    cookies = dict(page.cookies)
    csrf = cookies["regies_csrf"].value
    answer = await client.post(
        "/login",
        data={"_csrf": csrf_of(await page.text()), "username": "marie", "password": PASSWORD},
        headers={**headers, "Cookie": f"regies_csrf={csrf}"},
        allow_redirects=False,
    )
    assert answer.status == 303, await answer.text()
    cookies.update(answer.cookies)
    return cookies


@pytest.mark.parametrize(
    ("base_url", "trusted", "forwarded_proto", "secure"),
    [
        ("https://regie.example.org", [], None, True),
        ("", ["127.0.0.1"], "https", True),  # a reverse proxy the node trusts terminates TLS
        ("", [], "https", False),  # anyone can send the header: not believed unless the proxy is trusted
        ("", ["10.0.0.0/8"], "https", False),  # a trusted network, but the request did not come from it
        ("", ["127.0.0.1"], "http", False),
        ("", ["127.0.0.1/8"], "https", True),  # a network written with one of its addresses, as settings take it
        ("", ["127.0.0.1"], "https, http", True),  # each proxy of a chain adds its own: the first is the visitor's
    ],
)
async def test_every_cookie_is_secure_behind_https(
    aiohttp_client: Any,
    regies_settings: Any,
    regies_app_factory: Any,
    password_hash: str,
    base_url: str,
    trusted: list[str],
    forwarded_proto: str | None,
    secure: bool,
) -> None:
    regies_settings.server.base_url = base_url
    regies_settings.web.trusted_proxies = trusted
    app, _ = await regies_app_factory()
    client = await aiohttp_client(app)
    await add_account(app, password_hash, "marie", "staff")
    headers = {"X-Forwarded-Proto": forwarded_proto} if forwarded_proto else {}
    cookies = await _cookies_of_a_login(client, **headers)
    assert set(cookies) == {"regies_csrf", "regies_lang", "regies_session"}
    assert {name: bool(cookie["secure"]) for name, cookie in cookies.items()} == dict.fromkeys(cookies, secure)


async def test_back_office_posts_need_the_sessions_csrf_token(staff: TestClient[Any, Any]) -> None:
    page = await (await staff.get("/admin/profile")).text()
    before = await (await staff.get("/api/v1/node", headers=staff.regies_auth)).json()  # type: ignore[attr-defined]
    for token in (None, "forged", csrf_of(await (await staff.get("/login")).text()) + "x"):
        data = {"name": "Régie détournée"} | ({"_csrf": token} if token else {})
        refused = await staff.post("/admin/profile", data=data, allow_redirects=False)
        assert refused.status == 403
        assert "Le formulaire a expiré" in html.unescape(await refused.text())
    after = await (await staff.get("/api/v1/node", headers=staff.regies_auth)).json()  # type: ignore[attr-defined]
    assert after == before
    assert "Régie détournée" not in await (await staff.get("/admin/profile")).text()
    assert csrf_of(page)  # the page's own token is the one that works (the other tests use it)


async def test_the_csrf_header_stands_for_the_form_field(staff: TestClient[Any, Any]) -> None:
    token = csrf_of(await (await staff.get("/admin")).text())
    wrong = await staff.post("/logout", headers={"X-CSRF-Token": "forged"}, data={"_csrf": token})
    assert wrong.status == 403  # a header, when sent, is the token checked
    assert (await staff.get("/admin", allow_redirects=False)).status == 200
    right = await staff.post("/logout", headers={"X-CSRF-Token": token}, allow_redirects=False)
    assert right.status == 303
    assert (await staff.get("/admin", allow_redirects=False)).status == 303  # logged out


async def test_each_visitor_gets_its_own_csrf_token_before_login(
    node: TestClient[Any, Any], aiohttp_client: Any
) -> None:
    other = await aiohttp_client(node.server)
    mine = csrf_of(await (await node.get("/login")).text())
    theirs = csrf_of(await (await other.get("/login")).text())
    assert mine != theirs
    assert len(base64.urlsafe_b64decode(mine + "=")) == 32  # 256 random bits: not worth guessing
    assert csrf_of(await (await node.get("/login")).text()) == mine  # stable for one visitor (its cookie)
    stolen = await other.post(
        "/login", data={"_csrf": mine, "username": "marie", "password": PASSWORD}, allow_redirects=False
    )
    assert stolen.status == 403 and "regies_session" not in stolen.cookies
