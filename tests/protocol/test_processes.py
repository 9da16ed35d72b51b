"""Real `regies` processes on 127.0.0.1: pairing and background sync, and kill -9 of the receiver mid-sync."""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest
from sqlalchemy import create_engine, insert, select

from federation.schema.records import Activity
from federation.storage.mapping import record_row, to_micros
from federation.storage.tables import changes, records


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("REGIES_")}
    env.update({"REGIES_LOG__ACCESS_LOG": "false", **extra})
    return env


def regies(data_dir: Path, *args: str, check: bool = True, **env: str) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "federation", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env=_env(**env),
        timeout=120,
    )
    if check:
        assert result.returncode == 0, result.stdout + result.stderr
    return result


class Server:
    def __init__(self, data_dir: Path, **env: str) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [sys.executable, "-m", "federation", "--data-dir", str(data_dir), "serve", "--port", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            env=_env(**env),
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise AssertionError(f"server on {self.url} did not start")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()


@pytest.fixture
def servers() -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def _load_activities(data_dir: Path, origin: str, count: int) -> set[tuple[str, int]]:
    """Write `count` activities straight into a node's database, as if created through its API."""
    engine = create_engine(f"sqlite:///{data_dir / 'regies.db'}")
    expected: set[tuple[str, int]] = set()
    with engine.begin() as connection:
        rows, log = [], []
        for n in range(count):
            record = Activity.model_validate(
                {
                    "origin": origin,
                    "id": uuid.uuid4(),
                    "version": 1 + n % 3,
                    "updated_at": "2026-02-01T10:00:00Z",
                    "category": "urban_management",
                    "service_type": "green_spaces",
                    "title": f"Espaces verts {n}",
                    "place": {"commune": "93066"},
                }
            )
            row = record_row("activity", record)
            rows.append(row)
            log.append(
                {
                    "kind": "activity",
                    "origin": origin,
                    "id": row["id"],
                    "version": row["version"],
                    "deleted": False,
                    "committed_at_us": to_micros(record.updated_at),
                }
            )
            expected.add((row["id"], row["version"]))
        connection.execute(insert(records), rows)
        connection.execute(insert(changes), log)
    engine.dispose()
    return expected


def _replicas(data_dir: Path, origin: str) -> list[tuple[str, int]]:
    engine = create_engine(f"sqlite:///{data_dir / 'regies.db'}")
    with engine.connect() as connection:
        found = [
            (row[0], row[1])
            for row in connection.execute(
                select(records.c.id, records.c.version).where(records.c.origin == origin, records.c.kind == "activity")
            )
        ]
    engine.dispose()
    return found


def test_two_processes_pair_and_the_worker_syncs(tmp_path: Path, servers: list[Server]) -> None:
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    token = regies(a_dir, "init", "--node-id", "rq-a", "--name", "Régie A").stdout.strip().splitlines()[-1]
    regies(b_dir, "init", "--node-id", "rq-b", "--name", "Régie B")
    a = Server(a_dir, REGIES_FEDERATION__WORKER="false")
    b = Server(b_dir, REGIES_FEDERATION__PULL_INTERVAL_S="0.3")
    servers += [a, b]
    added = regies(b_dir, "peer", "add", a.url, "--yes")
    assert "rq-a" in added.stdout and ":" in added.stdout  # fingerprint shown
    regies(a_dir, "peer", "add", b.url, "--yes")

    async def create_and_wait() -> list[str]:
        headers = {"Authorization": f"Bearer {token}"}
        body = {"category": "mediation", "service_type": "night_correspondents", "title": "Correspondants de nuit"}
        async with aiohttp.ClientSession() as session:
            async with session.post(f"{a.url}/api/v1/activities", json=body, headers=headers) as response:
                assert response.status == 201, await response.text()
                created = await response.json()
            for _ in range(100):
                async with session.get(f"{b.url}/api/v1/activities?origin=rq-a") as response:
                    items = (await response.json())["items"]
                if items:
                    assert items == [created]
                    return [item["id"] for item in items]
                await asyncio.sleep(0.1)
        raise AssertionError("the background worker of rq-b never pulled rq-a's activity")

    assert len(asyncio.run(create_and_wait())) == 1
    peers = json.loads(regies(b_dir, "peers", "--json").stdout)
    assert peers[0]["node_id"] == "rq-a" and peers[0]["last_sync"] and peers[0]["last_error"] is None


def test_receiver_killed_at_random_points_ends_with_exactly_the_origins_records(
    tmp_path: Path, servers: list[Server]
) -> None:
    """The short CI version of bench/crash.py: 3 kill -9 of `regies sync` mid-pull, then a clean finish."""
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    regies(a_dir, "init", "--node-id", "rq-a")
    regies(b_dir, "init", "--node-id", "rq-b")
    expected = _load_activities(a_dir, "rq-a", 4000)
    a = Server(a_dir, REGIES_FEDERATION__WORKER="false")
    servers.append(a)
    regies(b_dir, "peer", "add", a.url, "--yes")
    b = Server(b_dir, REGIES_FEDERATION__WORKER="false")  # served only so that rq-a can pin its keys
    regies(a_dir, "peer", "add", b.url, "--yes")
    b.stop()

    rng = random.Random(20261127)
    kills = 0
    partial_states = []
    for _ in range(3):
        process = subprocess.Popen(
            [sys.executable, "-m", "federation", "--data-dir", str(b_dir), "sync", "rq-a", "--pull-only"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=_env(REGIES_FEDERATION__BATCH_SIZE="100"),
        )
        time.sleep(rng.uniform(0.6, 1.6))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
        partial_states.append(len(_replicas(b_dir, "rq-a")))
    assert kills >= 1, "sync finished before any kill: make the data set larger"
    assert any(0 < count < len(expected) for count in partial_states), partial_states  # killed mid-sync
    regies(b_dir, "sync", "rq-a", "--pull-only")

    found = _replicas(b_dir, "rq-a")
    present = set(found)
    lost = expected - present
    unexpected = present - expected
    duplicated = len(found) - len({record_id for record_id, _ in found})
    assert (len(lost), duplicated, len(unexpected)) == (0, 0, 0)
