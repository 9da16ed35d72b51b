"""Login throttling: per-client and per-account budgets spent before any password is hashed, and a bound on
how many argon2 hashes run at once (each costs ~64 MiB and a core for a fifth of a second).

Wrong passwords never lock an account: a lock is a way for anyone to keep its owner out, and its message told
which usernames exist. Instead every attempt spends a token from its client's bucket and from the account's
(known or not: the same for both, so the answer tells nothing); an empty bucket gets a 429 with Retry-After,
and the hash is not run. The buckets live in the process (a restart forgets them, and each hub process has its
own), sized so that a person mistyping is never slowed and a guesser gets a few attempts a minute.
"""

from __future__ import annotations

import asyncio
import ipaddress
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

from aiohttp import web

from federation.config import WebSettings
from federation.web.users import hash_password, verify_password

MAX_TRACKED = 50_000  # buckets kept per kind; beyond, full ones are dropped first, then the oldest
_ROUNDING = 1e-9  # of a token
_QUEUE_PER_SLOT = 8  # attempts waiting for a hashing slot, per slot, before the next is told to come back


class Throttled(Exception):
    """This attempt is refused before hashing; `retry_after` is in whole seconds."""

    def __init__(self, retry_after: int, busy: bool = False) -> None:
        super().__init__(f"retry after {retry_after} s")
        self.retry_after = retry_after
        self.busy = busy  # the server is hashing as much as it may (503), not this client's budget (429)


@dataclass
class _Bucket:
    tokens: float
    updated: float


class _Buckets:
    """Token buckets by key: `burst` attempts at once, then `per_minute` more each minute."""

    def __init__(self, burst: int, per_minute: float) -> None:
        self.burst = burst
        self.rate = per_minute / 60.0
        self._buckets: dict[str, _Bucket] = {}

    def _current(self, key: str, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            self._prune(now)
            bucket = self._buckets[key] = _Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
        return bucket

    def wait(self, key: str, now: float) -> float:
        """Seconds until `key` may spend a token (0: now)."""
        tokens = self._current(key, now).tokens
        # Refills add up in floating point (5 a minute is 1/12 per second): a client that comes back when told to
        # must find its attempt there, not 1e-16 short of it.
        return 0.0 if tokens >= 1 - _ROUNDING else (1 - tokens) / self.rate

    def spend(self, key: str, now: float) -> None:
        self._current(key, now).tokens -= 1

    def _prune(self, now: float) -> None:
        if len(self._buckets) < MAX_TRACKED:
            return
        for key, bucket in list(self._buckets.items()):
            if bucket.tokens + (now - bucket.updated) * self.rate >= self.burst:
                del self._buckets[key]  # refilled: the same as never seen
        while len(self._buckets) >= MAX_TRACKED:
            del self._buckets[next(iter(self._buckets))]


class LoginGuard:
    """One per app: the login budgets and the hashing slots. Every password check goes through `verify`."""

    def __init__(self, settings: WebSettings, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock  # seconds, monotonic; the tests stop it to count attempts without racing the refill
        self.clients = _Buckets(settings.login_burst_per_client, settings.login_rate_per_client)
        self.accounts = _Buckets(settings.login_burst_per_account, settings.login_rate_per_account)
        self.slots = settings.concurrent_password_checks
        self._hashing = asyncio.Semaphore(self.slots)
        self._waiting = 0
        self._running = 0
        self.hashes_run = 0  # password hashes computed by this app (the count the tests and metrics read)
        self.busiest = 0  # the most hashes that ran at once
        self.trusted_proxies = tuple(ipaddress.ip_network(proxy, strict=False) for proxy in settings.trusted_proxies)
        self._dummy_hash: str | None = None

    def admit(self, client: str, account: str) -> None:
        """Spend one attempt of `client` and of `account`, or raise Throttled (spending nothing)."""
        now = self.clock()
        wait = max(self.clients.wait(client, now), self.accounts.wait(account_key(account), now))
        if wait > 0:
            raise Throttled(max(1, math.ceil(wait)))
        self.clients.spend(client, now)
        self.accounts.spend(account_key(account), now)

    async def verify(self, password_hash: str | None, password: str) -> bool:
        """Check `password` against `password_hash`, or against a digest of a random password when the account
        does not exist (so an unknown name costs what a wrong password costs), at most `slots` at a time."""
        if self._waiting >= self.slots * _QUEUE_PER_SLOT:
            raise Throttled(1, busy=True)
        self._waiting += 1
        try:
            async with self._hashing:
                self._running += 1
                self.busiest = max(self.busiest, self._running)
                try:
                    if password_hash is None:
                        if self._dummy_hash is None:  # made with the current parameters, so it costs the same
                            self._dummy_hash = await asyncio.to_thread(hash_password, secrets.token_urlsafe(16))
                        self.hashes_run += 1
                        await asyncio.to_thread(verify_password, self._dummy_hash, password)
                        return False
                    self.hashes_run += 1
                    return await asyncio.to_thread(verify_password, password_hash, password)
                finally:
                    self._running -= 1
        finally:
            self._waiting -= 1

    def client_of(self, request: web.Request) -> str:
        """Who is attempting: the peer address, or the client a trusted reverse proxy names; an IPv6 client is
        its /64 (one machine gets a whole /64 and could otherwise change address at every attempt)."""
        address = request.remote or ""
        if self.trusted_proxies and _within(address, self.trusted_proxies):
            forwarded = request.headers.get("X-Forwarded-For", "").split(",")[-1].strip()
            address = forwarded or address
        try:
            parsed = ipaddress.ip_address(address)
        except ValueError:
            return address[:64]
        if parsed.version == 6:
            return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
        return str(parsed)

    def behind_https(self, request: web.Request) -> bool:
        """Whether a trusted reverse proxy says the visitor came in over https (X-Forwarded-Proto)."""
        if not self.trusted_proxies or not _within(request.remote or "", self.trusted_proxies):
            return False
        return request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower() == "https"


def account_key(username: str) -> str:
    # Usernames have at most 100 characters: anything longer is no account, and stays a small key.
    return username.strip().casefold()[:101]


def _within(address: str, networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in networks)


LOGIN_GUARD = web.AppKey("login_guard", LoginGuard)


def client_address(request: web.Request) -> str:
    """Who sent a request, for per-address limits anywhere on the node (plugins' included): the same rule as the
    login throttle (the connection's address, or the client a reverse proxy listed in `[web] trusted_proxies`
    names in X-Forwarded-For; an IPv6 client is its /64), so one setting says which proxies are believed."""
    return request.config_dict[LOGIN_GUARD].client_of(request)
