"""Login as a CPU attack and a guessing game: budgets are spent before any hash, hashing is bounded, no lockout."""

from __future__ import annotations

import asyncio
import html
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from argon2 import extract_parameters

from federation.config import WebSettings
from federation.web.throttle import LOGIN_GUARD, MAX_TRACKED, LoginGuard, Throttled, _Buckets, account_key
from federation.web.users import hash_password
from tests.web.conftest import PASSWORD, add_account, csrf_of


@pytest.fixture
async def behind_proxy(
    aiohttp_client: Any, regies_settings: Any, regies_app_factory: Any, password_hash: str
) -> TestClient[Any, Any]:
    """A node behind a reverse proxy it trusts (127.0.0.1), so that X-Forwarded-For names each client."""
    regies_settings.web.trusted_proxies = ["127.0.0.1"]
    app, _ = await regies_app_factory()
    client: TestClient[Any, Any] = await aiohttp_client(app)
    await add_account(app, password_hash, "marie", "staff")
    stop_the_clock(client)
    return client


def stop_the_clock(client: TestClient[Any, Any]) -> None:
    # An argon2 hash takes ~0.2 s: over 20 attempts the buckets would earn a token back, depending on the machine.
    client.app[LOGIN_GUARD].clock = lambda: 1000.0


async def attempt(client: TestClient[Any, Any], username: str, password: str, source: str | None = None) -> Any:
    """One login attempt, from `source` as the trusted proxy names it (X-Forwarded-For)."""
    headers = {"X-Forwarded-For": source} if source else {}
    page = await client.get("/login", headers=headers)
    return await client.post(
        "/login",
        data={"_csrf": csrf_of(await page.text()), "username": username, "password": password},
        headers=headers,
        allow_redirects=False,
    )


def guard(client: TestClient[Any, Any]) -> LoginGuard:
    return client.app[LOGIN_GUARD]


async def test_a_client_guessing_fast_gets_429_and_costs_no_more_hashes(behind_proxy: TestClient[Any, Any]) -> None:
    statuses = [(await attempt(behind_proxy, "marie", f"guess {n}", "203.0.113.5")).status for n in range(20)]
    assert statuses == [401] * 10 + [429] * 10
    assert guard(behind_proxy).hashes_run == 10  # the ten refused attempts hashed nothing

    refused = await attempt(behind_proxy, "marie", PASSWORD, "203.0.113.5")  # even the right password, from there
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "12"  # 5 attempts a minute: the next one in 12 s
    page = html.unescape(await refused.text())
    assert "Trop de tentatives de connexion. Réessayez dans" in page
    assert "regies_session" not in refused.cookies

    # Not a lockout: marie, from her own machine, logs in at once.
    assert (await attempt(behind_proxy, "marie", PASSWORD, "198.51.100.7")).status == 303
    # And Retry-After tells the truth: twelve seconds later, the guesser has one more try.
    guard(behind_proxy).clock = lambda: 1012.0
    assert (await attempt(behind_proxy, "marie", "guess 21", "203.0.113.5")).status == 401
    assert (await attempt(behind_proxy, "marie", "guess 22", "203.0.113.5")).status == 429


async def test_an_account_guessed_from_many_clients_is_throttled_whether_it_exists_or_not(
    behind_proxy: TestClient[Any, Any],
) -> None:
    for username in ("marie", "personne"):
        statuses = [(await attempt(behind_proxy, username, "guess", f"192.0.2.{n}")).status for n in range(1, 26)]
        assert statuses == [401] * 20 + [429] * 5  # the same answers: they tell nothing about who exists
    assert guard(behind_proxy).hashes_run == 40


async def test_an_unknown_user_costs_a_hash_and_gets_the_same_answer(behind_proxy: TestClient[Any, Any]) -> None:
    wrong = await attempt(behind_proxy, "marie", "not the password", "198.51.100.1")
    assert guard(behind_proxy).hashes_run == 1
    unknown = await attempt(behind_proxy, "personne", "not the password", "198.51.100.2")
    assert guard(behind_proxy).hashes_run == 2  # a dummy digest is checked: an unknown name takes as long
    assert (wrong.status, unknown.status) == (401, 401)
    message = "Identifiant ou mot de passe incorrect."
    assert message in html.unescape(await wrong.text()) and message in html.unescape(await unknown.text())
    # The dummy digest is made with the parameters real passwords are hashed with, so it costs the same.
    dummy = guard(behind_proxy)._dummy_hash
    assert dummy is not None and extract_parameters(dummy) == extract_parameters(hash_password("x" * 12))


async def test_forwarded_addresses_are_ignored_unless_the_proxy_is_trusted(
    aiohttp_client: Any, regies_app_factory: Any, password_hash: str
) -> None:
    app, _ = await regies_app_factory()
    client = await aiohttp_client(app)
    await add_account(app, password_hash, "marie", "staff")
    stop_the_clock(client)
    statuses = [(await attempt(client, "marie", "guess", f"192.0.2.{n}")).status for n in range(1, 13)]
    assert statuses == [401] * 10 + [429] * 2  # a made-up X-Forwarded-For does not buy a fresh budget


async def test_hashing_is_bounded_and_the_queue_too(
    aiohttp_client: Any, regies_settings: Any, regies_app_factory: Any, password_hash: str
) -> None:
    regies_settings.web.trusted_proxies = ["127.0.0.1"]
    regies_settings.web.concurrent_password_checks = 1
    app, _ = await regies_app_factory()
    client = await aiohttp_client(app)
    await add_account(app, password_hash, "marie", "staff")
    login = await client.get("/login")
    token = csrf_of(await login.text())

    async def one(n: int) -> int:
        answer = await client.post(
            "/login",
            data={"_csrf": token, "username": "marie", "password": f"guess {n}"},
            headers={"X-Forwarded-For": f"192.0.2.{n}"},
            allow_redirects=False,
        )
        if answer.status == 503:
            assert answer.headers["Retry-After"] == "1"
            assert "Le serveur vérifie d'autres connexions" in html.unescape(await answer.text())
        return answer.status

    statuses = await asyncio.gather(*(one(n) for n in range(1, 15)))
    assert app[LOGIN_GUARD].busiest == 1  # never two argon2 hashes at once with one slot
    assert statuses.count(401) == app[LOGIN_GUARD].hashes_run
    assert statuses.count(503) >= 1 and set(statuses) == {401, 503}  # beyond 8 waiting, "come back in a second"


# --- The budgets themselves, on the guard's own clock ----------------------------------------------------------


class Clock:
    """The guard's clock, moved by the test: seconds, monotonic."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def refused_after(login_guard: LoginGuard, client: str, account: str) -> int:
    with pytest.raises(Throttled) as refused:
        login_guard.admit(client, account)
    assert not refused.value.busy  # the client's or the account's budget, not the server's hashing
    return refused.value.retry_after


def test_a_budget_refills_at_its_rate_up_to_its_burst_never_beyond() -> None:
    clock = Clock()
    login_guard = LoginGuard(WebSettings(), clock)  # a client: 10 at once, then 5 a minute
    for n in range(10):
        login_guard.admit("203.0.113.5", f"account {n}")
    assert refused_after(login_guard, "203.0.113.5", "another") == 12
    clock.now += 6  # half an attempt earned back
    assert refused_after(login_guard, "203.0.113.5", "another") == 6
    clock.now += 5.5
    assert refused_after(login_guard, "203.0.113.5", "another") == 1  # half a second, said in whole seconds
    clock.now += 0.5  # as told: the attempt is there, however the refills added up
    login_guard.admit("203.0.113.5", "another")
    assert refused_after(login_guard, "203.0.113.5", "another") == 12
    clock.now += 3600  # an hour of silence refills the burst, no more
    for n in range(10):
        login_guard.admit("203.0.113.5", f"later {n}")
    assert refused_after(login_guard, "203.0.113.5", "another") == 12


def test_a_refused_attempt_spends_nothing_from_either_budget() -> None:
    clock = Clock()
    settings = WebSettings(login_burst_per_client=3, login_burst_per_account=2, login_rate_per_account=1)
    login_guard = LoginGuard(settings, clock)
    login_guard.admit("192.0.2.1", "marie")
    login_guard.admit("192.0.2.2", "marie")
    # marie's account is out of attempts for a minute: 192.0.2.1, refused on it, keeps its own two attempts.
    assert refused_after(login_guard, "192.0.2.1", "marie") == 60
    login_guard.admit("192.0.2.1", "paul")
    login_guard.admit("192.0.2.1", "jeanne")
    assert refused_after(login_guard, "192.0.2.1", "lucie") == 12  # 5 a minute by default


def test_an_account_is_one_budget_whatever_its_case_spacing_or_length() -> None:
    login_guard = LoginGuard(WebSettings(login_burst_per_account=3), Clock())
    login_guard.admit("192.0.2.1", "Marie")
    login_guard.admit("192.0.2.2", "  MARIE ")
    login_guard.admit("192.0.2.3", "marie")
    assert refused_after(login_guard, "192.0.2.4", "mArie") == 6
    long_name = "x" * 101
    for n in range(3):  # usernames end at 100 characters: longer ones share one small key, never a fresh budget
        login_guard.admit(f"198.51.100.{n}", long_name + "y" * n)
    assert refused_after(login_guard, "198.51.100.9", long_name + "z" * 500) == 6
    login_guard.admit("198.51.100.10", "x" * 100)  # a real name of 100 characters keeps its own budget
    assert account_key("  Jean-Éric ") == "jean-éric"


def test_the_buckets_kept_are_bounded_refilled_ones_forgotten_first() -> None:
    buckets = _Buckets(burst=2, per_minute=1)
    for n in range(MAX_TRACKED):
        buckets.spend(f"client {n}", now=0.0)
    buckets.spend("one more", now=0.0)  # none refilled yet: the oldest is forgotten to make room
    assert len(buckets._buckets) == MAX_TRACKED and "client 0" not in buckets._buckets
    assert "client 1" in buckets._buckets and buckets.wait("client 1", now=0.0) == 0.0
    buckets.spend("client 1", now=0.0)
    assert buckets.wait("client 1", now=0.0) == 60.0  # remembered: its second attempt of the minute is spent
    buckets.spend("late", now=59.0)  # nobody has refilled yet: the oldest goes again, however recently used
    assert len(buckets._buckets) == MAX_TRACKED and "client 1" not in buckets._buckets
    buckets.spend("later", now=60.0)  # a minute on, every bucket with one attempt spent is full again: forgotten
    assert set(buckets._buckets) == {"late", "later"}


async def test_an_ipv6_client_is_its_64_network(behind_proxy: TestClient[Any, Any]) -> None:
    statuses = [(await attempt(behind_proxy, "marie", "guess", f"2001:db8:1:2::{n:x}")).status for n in range(1, 12)]
    assert statuses == [401] * 10 + [429]  # a new address of the same /64 buys nothing
    assert (await attempt(behind_proxy, "marie", "guess", "2001:db8:1:3::1")).status == 401  # another network


async def test_only_the_last_forwarded_address_counts(behind_proxy: TestClient[Any, Any]) -> None:
    # The proxy appends the address it saw: what a client writes before it is its own invention.
    statuses = [
        (await attempt(behind_proxy, "marie", "guess", f"192.0.2.{n}, 203.0.113.9")).status for n in range(1, 12)
    ]
    assert statuses == [401] * 10 + [429]
