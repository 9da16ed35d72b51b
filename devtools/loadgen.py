"""Real node processes and bulk data for benchmarks and process-level tests: start, load, inspect, stop."""

from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path

from sqlalchemy import create_engine, insert, select, text

from federation.schema.records import RECORD_KINDS, Activity
from federation.storage.mapping import change_row, record_row
from federation.storage.tables import changes, records
from federation.storage.upsert import REVISE_ALL_SQL

SERVICE_TYPES = (
    ("urban_management", "green_spaces"),
    ("urban_management", "common_area_cleaning"),
    ("mediation", "night_correspondents"),
    ("new_services", "repair_workshop"),
    ("transport", "social_driving_school"),
)
COMMUNES = ("93066", "75056", "69123", "13055", "2A004", "59350", "97411")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# The current code's `regies`; an earlier release's is its own console script (devtools.releases).
CURRENT_REGIES = (sys.executable, "-m", "federation")


def node_env(**extra: str) -> dict[str, str]:
    """The environment without any REGIES_* setting of the caller's, plus `extra`. These nodes all run on
    127.0.0.1, so they may contact loopback addresses (over http)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("REGIES_")}
    env.update({"REGIES_LOG__ACCESS_LOG": "false", "REGIES_FEDERATION__ALLOW_PRIVATE_ADDRESSES": "true", **extra})
    return env


def _env(private_addresses: bool, extra: dict[str, str]) -> dict[str, str]:
    """node_env, without the private-address setting for a release before 0.2.0, which has no such setting (and
    refuses settings it does not know) but contacts any address."""
    env = node_env(**extra)
    if not private_addresses:
        del env["REGIES_FEDERATION__ALLOW_PRIVATE_ADDRESSES"]
    return env


def run_regies(
    data_dir: Path,
    *args: str,
    timeout: float = 600,
    command: Sequence[str] = CURRENT_REGIES,
    private_addresses: bool = True,
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """Run `regies --data-dir DIR ARGS…` to completion; RuntimeError with its output if it fails."""
    result = subprocess.run(
        [*command, "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env=_env(private_addresses, env),
        timeout=timeout,
    )
    if result.returncode != 0:
        raise RuntimeError(f"regies {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
    return result


class NodeProcess:
    """`regies serve` in a subprocess on a free 127.0.0.1 port, ready when constructed."""

    def __init__(
        self,
        data_dir: Path,
        port: int | None = None,
        *,
        command: Sequence[str] = CURRENT_REGIES,
        private_addresses: bool = True,
        **env: str,
    ) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Its error output goes to a file, not a pipe: a pipe nobody reads would block a long-running server.
        self.log_path = data_dir / "serve.log"
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [*command, "--data-dir", str(data_dir), "serve", "--port", str(self.port)],
                stdout=subprocess.DEVNULL,
                stderr=log,
                # Its own URL follows the port it was given (`init` wrote the default one).
                env=_env(private_addresses, {"REGIES_SERVER__BASE_URL": self.url, **env}),
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                tail = self.log_path.read_text(errors="replace")[-2000:]
                raise RuntimeError(f"regies serve for {data_dir} exited with {self.process.returncode}:\n{tail}")
            # Ready when it answers HTTP, not when the port accepts: `regies serve` binds its socket before the
            # app's start-up hooks have run.
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=0.5):
                    return
            except (OSError, http.client.HTTPException):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"regies serve for {data_dir} did not listen on {self.url}")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()


def bulk_load_activities(
    data_dir: Path,
    origin: str,
    count: int,
    *,
    batch: int = 5000,
    progress: Callable[[int], None] | None = None,
) -> set[tuple[str, int]]:
    """Write `count` activities and their change-log entries straight into a node's SQLite database with Core
    inserts (as the API would store them); returns the (id, version) pairs written."""
    engine = create_engine(f"sqlite:///{data_dir / 'regies.db'}")
    written: set[tuple[str, int]] = set()
    try:
        for start in range(0, count, batch):
            rows, log = [], []
            for n in range(start, min(start + batch, count)):
                category, service_type = SERVICE_TYPES[n % len(SERVICE_TYPES)]
                record = Activity.model_validate(
                    {
                        "origin": origin,
                        "id": uuid.uuid4(),
                        "version": 1 + n % 3,
                        "updated_at": "2026-02-01T10:00:00Z",
                        "category": category,
                        "service_type": service_type,
                        "title": f"Activité n°{n}",
                        "description": "Action menée avec les habitants du quartier. " * (1 + n % 4),
                        "place": {"commune": COMMUNES[n % len(COMMUNES)]},
                        "inhabitants_involved": n % 40,
                    }
                )
                row = record_row(RECORD_KINDS["activity"], record)
                rows.append(row)
                log.append(change_row(row))
                written.add((row["id"], row["version"]))
            with engine.begin() as connection:
                connection.execute(insert(records), rows)
                connection.execute(insert(changes), log)
                connection.execute(text(REVISE_ALL_SQL))  # storage.service.count_bulk_load, on this sync engine
            if progress is not None:
                progress(min(start + batch, count))
    finally:
        engine.dispose()
    return written


def replica_versions(data_dir: Path, origin: str) -> list[tuple[str, int]]:
    """(id, version) of every activity row of `origin` in a node's SQLite database, duplicates included."""
    engine = create_engine(f"sqlite:///{data_dir / 'regies.db'}")
    try:
        with engine.connect() as connection:
            query = select(records.c.id, records.c.version).where(
                records.c.origin == origin, records.c.kind == "activity"
            )
            return [(row[0], row[1]) for row in connection.execute(query)]
    finally:
        engine.dispose()


def wait_for_progress(
    measure: Callable[[], int], processes: list[subprocess.Popen[bytes]], timeout: float = 30
) -> None:
    """Wait until `measure()` grows past its value now, or every process has exited, or `timeout` seconds: a kill
    timed from here lands while work is under way, whatever the machine's load does to start-up times."""
    before = measure()
    deadline = time.monotonic() + timeout
    while measure() == before and time.monotonic() < deadline:
        if all(process.poll() is not None for process in processes):
            return
        time.sleep(0.02)


def set_checker(expected: set[tuple[str, int]], found: list[tuple[str, int]]) -> dict[str, int]:
    """Jepsen-style set check: lost (expected, absent), duplicated (same id twice), unexpected (never written)."""
    present = set(found)
    return {
        "expected": len(expected),
        "found": len(found),
        "lost": len(expected - present),
        "duplicated": len(found) - len({record_id for record_id, _ in found}),
        "unexpected": len(present - expected),
    }
