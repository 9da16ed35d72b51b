"""Crash runs against the hub: régies push through their outboxes while the hub is SIGKILLed and restarted,
then a Jepsen-style set check of what the hub holds (used by bench/crash.py and its short test)."""

from __future__ import annotations

import asyncio
import json
import random
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.request import Request, urlopen

from sqlalchemy import select, text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from devtools.loadgen import (
    NodeProcess,
    bulk_load_activities,
    node_env,
    replica_versions,
    run_regies,
    set_checker,
    wait_for_progress,
)
from federation.storage.tables import records

HUB_ID = "crash-hub"
# Pushers retry at once and never open their breaker: the run is about what survives a kill, not back-off.
PUSH_ENV = {
    "REGIES_FEDERATION__RETRY_INITIAL_S": "0.05",
    "REGIES_FEDERATION__RETRY_MAX_S": "0.2",
    "REGIES_FEDERATION__BREAKER_THRESHOLD": "1000000",
    "REGIES_FEDERATION__REQUEST_TIMEOUT_S": "10",
}


@dataclass
class HubCrashResult:
    kills: int = 0
    mid_push: int = 0  # kills that left the hub holding part of what the régies had to push
    checks: dict[str, dict[str, int]] = field(default_factory=dict)  # per origin: set_checker's counts

    @property
    def failed(self) -> bool:
        return any(check[key] for check in self.checks.values() for key in ("lost", "duplicated", "unexpected"))

    def totals(self) -> dict[str, int]:
        keys = ("expected", "found", "lost", "duplicated", "unexpected")
        return {key: sum(check[key] for check in self.checks.values()) for key in keys}


@contextmanager
def temporary_postgres_database(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one run (its URL), dropped afterwards."""
    name = f"regies_crash_{secrets.token_hex(4)}"

    async def admin(sql: str) -> None:
        engine = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
        try:
            async with engine.connect() as connection:
                await connection.execute(text(sql))
        finally:
            await engine.dispose()

    asyncio.run(admin(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        asyncio.run(admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def hub_versions(hub_dir: Path, database_url: str | None, origin: str) -> list[tuple[str, int]]:
    """(id, version) of every activity of `origin` the hub stores, duplicates included."""
    if database_url is None:
        return replica_versions(hub_dir, origin)

    async def read() -> list[tuple[str, int]]:
        engine = create_async_engine(database_url)
        try:
            async with engine.connect() as connection:
                query = select(records.c.id, records.c.version).where(
                    records.c.origin == origin, records.c.kind == "activity"
                )
                return [(row[0], row[1]) for row in await connection.execute(query)]
        finally:
            await engine.dispose()

    return asyncio.run(read())


@dataclass
class HubNetwork:
    hub: NodeProcess
    expected: dict[str, set[tuple[str, int]]]  # per régie: the (id, version) of the activities it has to push
    coordinator_token: str


def set_up_network(root: Path, origins: list[str], records: int, hub_env: dict[str, Any]) -> HubNetwork:
    """A hub (serving, in root/hub) and régies (root/<origin>) that joined it, each with `records` activities."""
    hub_dir = root / "hub"
    output = run_regies(hub_dir, "hub", "init", "--node-id", HUB_ID, **hub_env).stdout
    prints = re.findall(r"(?m)^\s+\S+: ([0-9A-F]{2}(?::[0-9A-F]{2})+)$", output)
    if not prints:
        raise RuntimeError(f"`regies hub init` printed no key fingerprint:\n{output}")
    token = output.strip().splitlines()[-1]
    coordinator = {"Authorization": f"Bearer {token}"}
    hub = NodeProcess(hub_dir, REGIES_FEDERATION__WORKER="false", **hub_env)

    def join(origin: str) -> set[tuple[str, int]]:
        node_dir = root / origin
        run_regies(node_dir, "init", "--node-id", origin)
        with (node_dir / "regies.toml").open("a", encoding="utf-8") as config:
            config.write(f'\n[plugins.hubclient]\nurl = "{hub.url}"\nfingerprint = "{prints[0]}"\n')
        run_regies(node_dir, "network", "join")
        return bulk_load_activities(node_dir, origin, records)

    with ThreadPoolExecutor(len(origins)) as pool:  # the régies are independent: set them up side by side
        expected = dict(zip(origins, pool.map(join, origins), strict=True))
    with urlopen(Request(f"{hub.url}/plugins/hub/enrolments?state=pending", headers=coordinator)) as answer:
        pending = json.load(answer)["items"]
    for item in pending:
        # The harness started these régies itself: the fingerprints it confirms are its own régies' keys.
        confirmed = json.dumps({"fingerprints": [key["fingerprint"] for key in item["keys"]]}).encode()
        url = f"{hub.url}/plugins/hub/enrolments/{item['id']}/approve"
        headers = {**coordinator, "Content-Type": "application/json"}
        urlopen(Request(url, data=confirmed, method="POST", headers=headers)).close()
    return HubNetwork(hub, expected, token)


def run_hub_crashes(
    root: Path,
    *,
    origins: list[str],
    records: int,
    kills: int,
    batch: int,
    rng: random.Random,
    database_url: str | None = None,
    delay: tuple[float, float] = (0.0, 0.5),
    say: Callable[[str], None] = lambda message: None,
) -> HubCrashResult:
    """Régies push to the hub (`regies sync --push-only`, `batch` records a batch) while the hub is SIGKILLed
    a random `delay` after its first write of the round and restarted, `kills` times; a clean final push;
    then the set check per origin.
    When the hub has caught up, every régie gets `records` more activities so that kills land mid-push."""
    # Any: mypy cannot tell that these keys never collide with the helpers' own keyword arguments.
    hub_env: dict[str, Any] = {"REGIES_DATABASE__URL": database_url} if database_url else {}
    push_env = {**PUSH_ENV, "REGIES_FEDERATION__BATCH_SIZE": str(batch)}
    network = set_up_network(root, origins, records, hub_env)
    hub, expected = network.hub, network.expected
    result = HubCrashResult()

    def held() -> int:
        return sum(len(hub_versions(root / "hub", database_url, origin)) for origin in origins)

    try:
        rounds = 0
        while result.kills < kills and rounds < 3 * kills:
            rounds += 1
            if held() >= sum(len(versions) for versions in expected.values()):
                for origin in origins:  # caught up: more to push, so that the next kill lands mid-push
                    expected[origin] |= bulk_load_activities(root / origin, origin, records)
            pushers = [_pusher(root / origin, push_env) for origin in origins]
            # Kill after the hub's first write of the round plus a random delay: kills land all over the ingest.
            wait_for_progress(held, pushers)
            time.sleep(rng.uniform(*delay))
            hub.kill()
            result.kills += 1
            for pusher in pushers:
                pusher.wait(timeout=120)
            hub = NodeProcess(hub.data_dir, port=hub.port, REGIES_FEDERATION__WORKER="false", **hub_env)
            count, total = held(), sum(len(versions) for versions in expected.values())
            result.mid_push += 0 < count < total
            say(f"round {rounds}, kills {result.kills}/{kills}: the hub holds {count} of {total} activities")
        _push_until_delivered(
            root, origins, expected, push_env, lambda origin: hub_versions(root / "hub", database_url, origin)
        )
    finally:
        hub.stop()
    result.checks = {
        origin: set_checker(expected[origin], hub_versions(root / "hub", database_url, origin)) for origin in origins
    }
    return result


def _pusher(node_dir: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "federation", "--data-dir", str(node_dir), "sync", "--push-only"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=node_env(**env),
    )


def _push_until_delivered(
    root: Path,
    origins: list[str],
    expected: dict[str, set[tuple[str, int]]],
    env: dict[str, str],
    versions: Callable[[str], list[tuple[str, int]]],
    attempts: int = 20,
) -> None:
    """Push from every régie until the hub holds as many activities as each wrote (retries wait for due batches)."""
    for _ in range(attempts):
        pending = [origin for origin in origins if len(set(versions(origin))) < len(expected[origin])]
        if not pending:
            return
        for pusher in [_pusher(root / origin, env) for origin in pending]:
            pusher.wait(timeout=300)
        time.sleep(0.25)
