"""Real `regies` processes on 127.0.0.1: pairing and background sync, and kill -9 of the receiver mid-sync."""

from __future__ import annotations

import asyncio
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp

from devtools.loadgen import (
    NodeProcess,
    bulk_load_activities,
    node_env,
    replica_versions,
    run_regies,
    set_checker,
)


def regies(data_dir: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return run_regies(data_dir, *args, timeout=120, **env)


def paired_for_pulls(tmp_path: Path, servers: list[NodeProcess], records: int) -> tuple[Path, set[tuple[str, int]]]:
    """rq-a serving `records` activities (its worker off) and rq-b, not served, pinned on it; rq-b's data directory
    and rq-a's (id, version) pairs."""
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    regies(a_dir, "init", "--node-id", "rq-a")
    regies(b_dir, "init", "--node-id", "rq-b")
    expected = bulk_load_activities(a_dir, "rq-a", records)
    a = NodeProcess(a_dir, REGIES_FEDERATION__WORKER="false")
    servers.append(a)
    regies(b_dir, "peer", "add", a.url, "--yes")
    b = NodeProcess(b_dir, REGIES_FEDERATION__WORKER="false")  # served only so that rq-a can pin its keys
    regies(a_dir, "peer", "add", b.url, "--yes")
    b.stop()
    return b_dir, expected


def test_two_processes_pair_and_the_worker_syncs(tmp_path: Path, servers: list[NodeProcess]) -> None:
    a_dir, b_dir = tmp_path / "a", tmp_path / "b"
    token = regies(a_dir, "init", "--node-id", "rq-a", "--name", "Régie A").stdout.strip().splitlines()[-1]
    regies(b_dir, "init", "--node-id", "rq-b", "--name", "Régie B")
    a = NodeProcess(a_dir, REGIES_FEDERATION__WORKER="false")
    b = NodeProcess(b_dir, REGIES_FEDERATION__PULL_INTERVAL_S="0.3")
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
    tmp_path: Path, servers: list[NodeProcess]
) -> None:
    """The short CI version of bench/crash.py: 3 kill -9 of `regies sync` mid-pull, then a clean finish."""
    # Enough records for several commits (each holds up to puller.GROUP_ROWS): a kill can land between two.
    b_dir, expected = paired_for_pulls(tmp_path, servers, 12_000)

    rng = random.Random(20261127)
    kills = 0
    partial_states = []
    for _ in range(3):
        process = subprocess.Popen(
            [sys.executable, "-m", "federation", "--data-dir", str(b_dir), "sync", "rq-a", "--pull-only"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=node_env(REGIES_FEDERATION__BATCH_SIZE="100"),
        )
        # Wait until this sync has applied something (start-up time varies with the machine's load), then
        # kill it after a random extra delay so that kills land at different points of the pull.
        before = len(replica_versions(b_dir, "rq-a"))
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            if len(replica_versions(b_dir, "rq-a")) > before:
                break
            time.sleep(0.02)
        time.sleep(rng.uniform(0.0, 0.3))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait()
        partial_states.append(len(replica_versions(b_dir, "rq-a")))
    assert kills >= 1, "sync finished before any kill: make the data set larger"
    assert any(0 < count < len(expected) for count in partial_states), partial_states  # killed mid-sync
    regies(b_dir, "sync", "rq-a", "--pull-only")

    check = set_checker(expected, replica_versions(b_dir, "rq-a"))
    assert (check["lost"], check["duplicated"], check["unexpected"]) == (0, 0, 0), check


def processes_naming(path: Path) -> list[str]:
    """Command lines of the running processes that mention `path` (the SQLite writer names the database)."""
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            command = cmdline.read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # it ended meanwhile
            continue
        if str(path) in command:
            found.append(command)
    return found


def test_regies_sync_interrupted_by_ctrl_c_ends_at_once_and_the_next_one_completes(
    tmp_path: Path, servers: list[NodeProcess]
) -> None:
    b_dir, expected = paired_for_pulls(tmp_path, servers, 8000)
    process = subprocess.Popen(
        [sys.executable, "-m", "federation", "--data-dir", str(b_dir), "sync", "rq-a", "--pull-only"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=node_env(REGIES_FEDERATION__BATCH_SIZE="100"),
        # Ctrl-C as a terminal delivers it: a suite started in the background by a non-interactive shell has SIGINT
        # ignored, which the child would inherit (Python then leaves it ignored and the sync runs to its end).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 30
    while process.poll() is None and time.monotonic() < deadline and not replica_versions(b_dir, "rq-a"):
        time.sleep(0.02)
    assert process.poll() is None, "sync finished before Ctrl-C: make the data set larger"
    process.send_signal(signal.SIGINT)
    _, errors = process.communicate(timeout=15)  # before the fix, a pull interrupted mid-way could hang for good
    assert process.returncode == 130
    assert "interrupted: what was already written is kept; the next `regies sync` goes on from there" in errors
    assert processes_naming(b_dir) == []  # its writer and parser processes ended with it
    assert 0 < len(replica_versions(b_dir, "rq-a")) < len(expected)
    regies(b_dir, "sync", "rq-a", "--pull-only")
    check = set_checker(expected, replica_versions(b_dir, "rq-a"))
    assert (check["lost"], check["duplicated"], check["unexpected"]) == (0, 0, 0), check


# Another process pulling rq-a (as the server's worker would): it holds rq-a's pull lease until told to stop.
HOLD_LEASE = """
import asyncio, sys
from pathlib import Path
from federation.config import load_settings
from federation.protocol import pull_lease
from federation.storage.engine import create_engine

async def main() -> None:
    engine = create_engine(load_settings(data_dir=Path(sys.argv[1])).database_url)
    async with pull_lease.held(engine, "rq-a"):
        print("held", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)
    await engine.dispose()

asyncio.run(main())
"""


def test_regies_sync_waits_for_another_process_pulling_the_same_peer(
    tmp_path: Path, servers: list[NodeProcess]
) -> None:
    b_dir, _expected = paired_for_pulls(tmp_path, servers, 50)

    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LEASE, str(b_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=node_env(),
    )
    errors = tmp_path / "sync.err"
    sync: subprocess.Popen[str] | None = None
    try:
        assert holder.stdin is not None and holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        listed = regies(b_dir, "peers").stdout
        assert f"rq-a: a pull is running now (process {holder.pid} on this host)" in listed
        with errors.open("w") as stderr:
            sync = subprocess.Popen(
                [sys.executable, "-m", "federation", "--data-dir", str(b_dir), "sync", "rq-a", "--pull-only"],
                stdout=subprocess.PIPE,
                stderr=stderr,
                text=True,
                env=node_env(),
            )
        deadline = time.monotonic() + 60
        while "waiting for it to end" not in errors.read_text() and time.monotonic() < deadline:
            assert sync.poll() is None, errors.read_text()
            time.sleep(0.05)
        time.sleep(0.3)
        assert sync.poll() is None  # still waiting: the other pull has the peer
        holder.stdin.write("done\n")
        holder.stdin.flush()
        output, _ = sync.communicate(timeout=60)
    finally:
        for process in (holder, sync):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait()
    assert sync is not None
    assert f"a pull from rq-a is already running (process {holder.pid} on this host); waiting" in errors.read_text()
    assert sync.returncode == 0 and "rq-a: 51 records received" in output  # once the other pull gave it back
    assert json.loads(regies(b_dir, "peers", "--json").stdout)[0]["pulling"] is None
