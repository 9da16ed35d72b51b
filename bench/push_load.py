"""The coordinator-under-push scenario of bench/load.py: a hub on a throwaway PostgreSQL database holding its members'
data, member régies pushing signed batches to its inbox, and a national coordinator reading the dashboard and the
national tables.

Set-up: `regies hub init` on the new database, then the hub data of bench/hub.py (`--regies` approved members with
their profiles, reports over many periods and `--activities` activities, then VACUUM ANALYZE as autovacuum would),
an Ed25519 key per member registered as the hub's peer (as an approval does, through the helper the scale test
uses), a national coordinator's web account logged in over HTTP, and the hub served by `regies serve`. The members
are not processes: the load client signs each push with the member's own key, as its node would.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hub import PERIOD_KEY, ActivityFactory, Backend, Member, load
from load import Call

from devtools.hubcrash import temporary_postgres_database
from devtools.loadgen import NodeProcess, run_regies
from federation.plugins import Registry, build_plugins
from federation.protocol import persistence
from federation.protocol.keys import PublicKeyInfo, b64url, raw_public
from federation.protocol.signing import sign_request
from federation.storage.engine import create_engine
from federation.web.auth import CSRF_COOKIE, CSRF_HEADER, SESSION_COOKIE
from federation.web.users import create_user

ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
HUB_ID = "load-hub"
COORDINATOR = "coordination-nationale"
TABLES = ("activities", "indicators", "completeness")


@dataclass
class PushHub:
    """The served hub and what the load client needs to act as its members and its coordinator."""

    process: NodeProcess
    members: list[Member]
    keys: dict[str, Ed25519PrivateKey]
    factory: ActivityFactory
    token: str  # the coordinator's API token, printed by `regies hub init`
    session: str  # the coordinator's web session id, from a real login


def kid_of(member: Member) -> str:
    return f"{member.node_id}-load"


async def _register_keys(url: str, members: list[Member]) -> dict[str, Ed25519PrivateKey]:
    """A fresh key per approved member, saved as the hub's member peer (what approving its enrolment does)."""
    keys = {member.node_id: Ed25519PrivateKey.generate() for member in members}
    engine = create_engine(url)
    try:
        for member in members:
            public = PublicKeyInfo(
                kid_of(member), b64url(raw_public(keys[member.node_id].public_key())), int(time.time())
            )
            await persistence.save_peer(
                engine,
                node_id=member.node_id,
                name=member.name,
                base_url=f"https://{member.node_id}.regies.example",
                keys=[public],
                role="member",
                pull=False,
            )
    finally:
        await engine.dispose()
    return keys


async def _load(url: str, registry: Registry, args: argparse.Namespace, password: str) -> list[Member]:
    data = argparse.Namespace(nodes=args.regies, activities=args.activities, reports=args.reports, seed=args.seed)
    engine = create_engine(url)
    try:
        members = await load([Backend("postgresql", url, engine)], registry, data)
        await create_user(engine, COORDINATOR, password, "national", None)
    finally:
        await engine.dispose()
    return members


async def _login(hub_url: str, password: str) -> str:
    """The session id a real login through /login gives the coordinator (CSRF cookie first, as a browser)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        async with session.get(f"{hub_url}/login") as answer:
            await answer.read()
        csrf = next(cookie.value for cookie in session.cookie_jar if cookie.key == CSRF_COOKIE)
        form = {"username": COORDINATOR, "password": password, "next": "/hub"}
        login_url = f"{hub_url}/login"
        async with session.post(login_url, data=form, headers={CSRF_HEADER: csrf}, allow_redirects=False) as answer:
            if answer.status != 303:
                raise RuntimeError(f"the coordinator's login answered {answer.status}: {(await answer.text())[:300]}")
        return next(cookie.value for cookie in session.cookie_jar if cookie.key == SESSION_COOKIE)


@contextmanager
def push_hub(root: Path, args: argparse.Namespace, say: Callable[[str], None]) -> Iterator[PushHub]:
    """The hub of the scenario on a throwaway PostgreSQL database, served until the block ends, then dropped."""
    with temporary_postgres_database(ADMIN_URL) as url:
        env = {"REGIES_DATABASE__URL": url}
        output = run_regies(root / "hub", "hub", "init", "--node-id", HUB_ID, **env).stdout
        token = output.strip().splitlines()[-1]
        registry = build_plugins(settings={"hub": {"enabled": True}}).registry  # a hub's plugins and indexes
        password = secrets.token_urlsafe(16)
        say(f"loading the hub: {args.regies} members, {args.activities:,} activities, {args.reports:,} reports…")
        members = asyncio.run(_load(url, registry, args, password))
        keys = asyncio.run(_register_keys(url, members))
        # With --profile-hub FILE, the hub runs under cProfile, which writes FILE when the hub stops.
        profiled = ("-m", "cProfile", "-o", str(args.profile_hub)) if args.profile_hub else ()
        command = (sys.executable, *profiled, "-m", "federation")
        settings = dict(setting.split("=", 1) for setting in args.hub_env)  # e.g. inbox parse workers
        process = NodeProcess(root / "hub", command=command, REGIES_FEDERATION__WORKER="false", **env, **settings)
        try:
            session = asyncio.run(_login(process.url, password))
            factory = ActivityFactory(registry, members, args.seed + 2)
            yield PushHub(process, members, keys, factory, token, session)
        finally:
            process.stop()


def push_body(factory: ActivityFactory, member: Member, count: int, batch_id: str) -> bytes:
    """The body of a member's inbox batch of `count` new activities, as its node sends it."""
    envelopes = []
    for _ in range(count):
        row = factory.row(member)
        updated_at = row["body"].split('"updated_at":"', 1)[1].split('"', 1)[0]
        envelopes.append(
            f'{{"origin":"{member.node_id}","id":"{row["id"]}","kind":"activity","version":{row["version"]},'
            f'"updated_at":"{updated_at}","deleted":false,"payload":{row["body"]}}}'
        )
    return f'{{"origin":"{member.node_id}","batch_id":"{batch_id}","records":[{",".join(envelopes)}]}}'.encode()


class CoordinatorMix:
    """Signed pushes of the members, round robin, and the coordinator's reads, in proportion to their rates."""

    def __init__(self, hub: PushHub, push_rate: float, read_rate: float, per_batch: int, rng: Any) -> None:
        self.hub, self.per_batch, self.rng = hub, per_batch, rng
        self.url = hub.process.url
        self.pushes = 0
        self.kinds: list[tuple[str, float, Callable[[], Call]]] = [
            ("push", push_rate, self.push),
            ("dashboard", read_rate / 2, self.dashboard),
            *((f"table_{name}", read_rate / 2 / len(TABLES), self.table(name)) for name in TABLES),
        ]

    def pick(self) -> Call:
        kinds = [(weight, make) for _, weight, make in self.kinds if weight > 0]
        point = self.rng.uniform(0, sum(weight for weight, _ in kinds))
        for weight, make in kinds:
            point -= weight
            if point <= 0:
                return make()
        return kinds[-1][1]()

    def push(self) -> Call:
        """A batch of `per_batch` new activities of the next member, signed with its key."""
        member = self.hub.members[self.pushes % len(self.hub.members)]
        self.pushes += 1
        batch_id = f"{member.node_id}-{self.pushes}-{secrets.token_hex(4)}"
        body = push_body(self.hub.factory, member, self.per_batch, batch_id)
        url = f"{self.url}/federation/v1/inbox"
        key = self.hub.keys[member.node_id]
        headers = dict(sign_request("POST", url, body, node_id=member.node_id, kid=kid_of(member), private_key=key))
        headers["Content-Type"] = "application/json"
        return Call("push", "POST", url, body, headers, 202)

    def dashboard(self) -> Call:
        headers = {"Cookie": f"{SESSION_COOKIE}={self.hub.session}"}
        return Call("dashboard", "GET", f"{self.url}/hub?period={PERIOD_KEY}", headers=headers)

    def table(self, name: str) -> Callable[[], Call]:
        def make() -> Call:
            url = f"{self.url}/plugins/hub/tables/{name}?period={PERIOD_KEY}"
            return Call(f"table_{name}", "GET", url, headers={"Authorization": f"Bearer {self.hub.token}"})

        return make


async def first_views(mix: CoordinatorMix) -> list[tuple[str, float]]:
    """The coordinator opens the dashboard and each table once, before the load: (kind, milliseconds). The first view
    at a data version computes the national figures, which the cache then serves (docs/hub.md), so a run measured
    after these is the steady state, and these say what the first view costs."""
    timings = []
    async with aiohttp.ClientSession() as session:
        for call in (mix.dashboard(), *(mix.table(name)() for name in TABLES)):
            started = time.perf_counter()
            async with session.request(call.method, call.url, headers=call.headers) as answer:
                await answer.read()
                if answer.status != call.expect:
                    raise RuntimeError(f"{call.kind}: {call.url} answered {answer.status}")
            timings.append((call.kind, (time.perf_counter() - started) * 1000))
    return timings
