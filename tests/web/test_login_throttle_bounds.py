"""The login throttle's bounds, each to the unit: how many attempts wait for a hashing slot, how many clients are
remembered, how short of a token an attempt may be, which peers are believed, how a client a proxy names by
something other than an address is keyed."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from argon2 import PasswordHasher

from federation.config import WebSettings
from federation.web.throttle import LOGIN_GUARD, LoginGuard, Throttled
from tests.web.conftest import PASSWORD, add_account, csrf_of
from tests.web.test_login_throttle import Clock, attempt, refused_after, stop_the_clock

# A real argon2 digest with the cheapest parameters (an account hashed long ago with weaker settings would verify
# the same way): the queue tests check many passwords, and only their number and order matter.
CHEAP_HASH = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1).hash(PASSWORD)


async def checked_at_once(login_guard: LoginGuard, how_many: int) -> tuple[int, int]:
    """`how_many` password checks started together: (how many were refused as busy, how many were checked)."""
    results = await asyncio.gather(
        *(login_guard.verify(CHEAP_HASH, f"guess {n}") for n in range(how_many)), return_exceptions=True
    )
    busy = [result for result in results if isinstance(result, Throttled)]
    assert all(refused.busy and refused.retry_after == 1 for refused in busy)  # 503, come back in a second
    assert all(result is False for result in results if not isinstance(result, Throttled))
    return len(busy), len(results) - len(busy)


@pytest.mark.parametrize("slots", [1, 2])
async def test_eight_attempts_per_slot_wait_and_the_next_is_told_to_come_back(slots: int) -> None:
    login_guard = LoginGuard(WebSettings(concurrent_password_checks=slots))
    for _ in range(2):  # the queue is empty again once its attempts are checked: a second wave meets the same bound
        assert await checked_at_once(login_guard, 8 * slots + 1) == (1, 8 * slots)
    assert await checked_at_once(login_guard, 8 * slots) == (0, 8 * slots)


async def test_busiest_is_the_most_hashes_that_ran_at_once() -> None:
    login_guard = LoginGuard(WebSettings(concurrent_password_checks=2))
    assert login_guard.busiest == 0  # nothing hashed yet
    assert await login_guard.verify(CHEAP_HASH, PASSWORD) is True
    assert login_guard.busiest == 1
    assert await checked_at_once(login_guard, 2) == (0, 2)  # then two at once, both slots taken
    assert login_guard.busiest == 2
    assert await checked_at_once(login_guard, 3) == (0, 3)  # never more than the slots
    assert login_guard.busiest == 2


async def test_no_password_is_right_for_an_account_that_does_not_exist() -> None:
    login_guard = LoginGuard(WebSettings())
    for password in (PASSWORD, "", "guess"):
        assert await login_guard.verify(None, password) is False
    assert login_guard.hashes_run == 3  # each checked against the dummy digest all the same


def test_an_attempt_a_billionth_of_a_token_short_is_there_two_billionths_are_not() -> None:
    # Refills add up in floating point: an attempt at most a billionth of a token short counts as there.
    clock = Clock()
    clock.now = 0.0  # so that the seconds elapsed are exactly the clock's reading
    login_guard = LoginGuard(WebSettings(login_burst_per_client=1, login_rate_per_client=60), clock)  # 1 a second
    login_guard.admit("203.0.113.5", "marie")
    login_guard.admit("203.0.113.6", "marie")
    clock.now = 1 - 2e-9
    assert refused_after(login_guard, "203.0.113.5", "marie") == 1  # said in whole seconds
    clock.now = 1 - 1e-9
    login_guard.admit("203.0.113.6", "marie")


def test_fifty_thousand_clients_are_remembered_then_the_oldest_is_forgotten() -> None:
    clock = Clock()  # stopped: no budget refills, so the oldest goes first
    login_guard = LoginGuard(WebSettings(login_burst_per_client=1), clock)
    login_guard.admit("203.0.113.5", "marie")
    for n in range(49_999):  # 50 000 clients in all, each of its one attempt spent
        login_guard.admit(f"client {n}", f"account {n}")
    assert refused_after(login_guard, "203.0.113.5", "paul") == 12  # remembered: still out of attempts
    login_guard.admit("client 49999", "account 49999")  # the 50 001st: the oldest is forgotten to make room
    login_guard.admit("203.0.113.5", "paul")  # forgotten: the same as never seen, a fresh budget


# --- Over HTTP: who the throttle believes, and who it counts as one client ------------------------------------


async def one_attempt_a_client(
    aiohttp_client: Any, regies_settings: Any, regies_app_factory: Any, password_hash: str, trusted: list[str]
) -> TestClient[Any, Any]:
    """A node where each client has one attempt (then one every 12 s), its clock stopped."""
    regies_settings.web.trusted_proxies = trusted
    regies_settings.web.login_burst_per_client = 1
    app, _ = await regies_app_factory()
    client: TestClient[Any, Any] = await aiohttp_client(app)
    await add_account(app, password_hash, "marie", "staff")
    stop_the_clock(client)
    return client


async def test_forwarded_addresses_from_outside_the_trusted_networks_are_ignored(
    aiohttp_client: Any, regies_settings: Any, regies_app_factory: Any, password_hash: str
) -> None:
    # The node trusts a proxy network; this request comes from 127.0.0.1, outside it: its headers name no one.
    client = await one_attempt_a_client(
        aiohttp_client, regies_settings, regies_app_factory, password_hash, ["10.0.0.0/8"]
    )
    assert (await attempt(client, "marie", "guess", "192.0.2.1")).status == 401
    refused = await attempt(client, "marie", "guess", "192.0.2.2")
    assert (refused.status, refused.headers["Retry-After"]) == (429, "12")  # the same client: 127.0.0.1


async def test_a_client_the_proxy_names_by_no_address_is_its_name_cut_at_64_characters(
    aiohttp_client: Any, regies_settings: Any, regies_app_factory: Any, password_hash: str
) -> None:
    # A proxy may name clients otherwise than by address (RFC 7239's obfuscated identifiers, "unknown"): each name
    # is a client, its first 64 characters, so that a name costs the node a bounded key.
    client = await one_attempt_a_client(
        aiohttp_client, regies_settings, regies_app_factory, password_hash, ["127.0.0.1"]
    )
    name = "_hidden-" + "x" * 55 + "a"
    assert len(name) == 64
    assert (await attempt(client, "marie", "guess", name + "1")).status == 401
    assert (await attempt(client, "marie", "guess", name + "2")).status == 429  # the same first 64 characters
    assert (await attempt(client, "marie", "guess", name[:63] + "b")).status == 401  # the 64th differs: another


async def test_a_peer_that_is_no_ip_address_is_no_trusted_proxy(
    regies_settings: Any, regies_app_factory: Any, password_hash: str
) -> None:
    # Served on a unix socket, the peer has no address: it is not in `trusted_proxies`, so its X-Forwarded-For and
    # X-Forwarded-Proto are ignored, as anyone else's, and its logins work as they do without a proxy.
    regies_settings.web.trusted_proxies = ["127.0.0.1"]
    regies_settings.web.login_burst_per_client = 1
    app, _ = await regies_app_factory()
    runner = web.AppRunner(app)
    await runner.setup()
    with tempfile.TemporaryDirectory() as directory:  # short: a socket's path has at most 107 bytes
        try:
            await add_account(app, password_hash, "marie", "staff")
            app[LOGIN_GUARD].clock = lambda: 1000.0
            path = str(Path(directory) / "node.sock")
            await web.UnixSite(runner, path).start()
            async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=path)) as session:
                page = await session.get("http://node/login", headers={"X-Forwarded-Proto": "https"})
                csrf = page.cookies["regies_csrf"]
                assert not csrf["secure"]  # its "https" is not believed
                token = csrf_of(await page.text())

                async def log_in(password: str, source: str) -> aiohttp.ClientResponse:
                    # The Cookie header sent by hand: a Secure cookie would stay in the jar of a client on http.
                    headers = {
                        "X-Forwarded-For": source,
                        "X-Forwarded-Proto": "https",
                        "Cookie": f"regies_csrf={csrf.value}",
                    }
                    form = {"_csrf": token, "username": "marie", "password": password}
                    return await session.post("http://node/login", data=form, headers=headers, allow_redirects=False)

                assert (await log_in("guess", "192.0.2.1")).status == 401
                refused = await log_in(PASSWORD, "192.0.2.2")  # a new name from this peer buys no new budget
                assert (refused.status, refused.headers["Retry-After"]) == (429, "12")
        finally:
            await runner.cleanup()
