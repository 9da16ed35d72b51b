"""Benchmark of node-to-node pull replication (`regies sync`) over HTTP against a raw sqlite3 executemany baseline."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import importlib.metadata
import os
import platform
import random
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import repo_root  # noqa: F401  (puts devtools/ on the path before it is imported)

from devtools.loadgen import free_port

BIN_DIR = Path(sys.executable).parent
PROJECT = Path(__file__).resolve().parent.parent
REGIES = BIN_DIR / "regies"
SOURCE_ID = "bench-source"
RECEIVER_ID = "bench-receiver"
SERVICE_TYPE = ("green_spaces", "urban_management")
RATE_TARGET = 30_000  # records/s for --records
RSS_TARGET_MB = 300  # receiver peak RSS for --rss-records
LOAD_BATCH = 5_000
MB = 1_000_000  # RSS is reported in decimal megabytes (ru_maxrss and VmRSS are KiB): 300 MB = 286 MiB

COMMUNES = (
    ("75056", "Paris"),
    ("69123", "Lyon"),
    ("13055", "Marseille"),
    ("59350", "Lille"),
    ("33063", "Bordeaux"),
    ("31555", "Toulouse"),
    ("67482", "Strasbourg"),
    ("44109", "Nantes"),
    ("35238", "Rennes"),
    ("93066", "Saint-Denis"),
    ("38185", "Grenoble"),
    ("2A004", "Ajaccio"),
    ("97411", "Saint-Denis (La Réunion)"),
    ("80021", "Amiens"),
    ("21231", "Dijon"),
    ("76540", "Rouen"),
    ("34172", "Montpellier"),
    ("06088", "Nice"),
)
COMMUNE_WEIGHTS = (18, 8, 9, 6, 5, 5, 4, 4, 3, 7, 3, 1, 2, 2, 2, 3, 3, 2)
STATUSES = (("active", 60), ("ended", 20), ("planned", 12), ("suspended", 8))
SITES = ("cité des Lilas", "quartier des Tilleuls", "résidence Bellevue", "les Hauts-de-Rouvray", "la Croix-Rouge")
WORKS = ("Entretien des espaces verts", "Tonte et taille", "Jardin partagé", "Fleurissement", "Désherbage manuel")
DESCRIPTIONS = (
    "Tonte, taille et désherbage manuel avec une équipe de salariés en insertion encadrée par la régie.",
    "Entretien zéro pesticide des pieds d'immeubles et des squares, en lien avec le bailleur et les habitants.",
    "Plantations et arrosage des jardinières avec les enfants du centre social pendant les vacances scolaires.",
    "",
)
TASKS = ("mowing", "pruning", "weeding", "planting", "watering")
PARTNERS = (
    ("Ville", "local_authority"),
    ("Office public de l'habitat", "social_landlord"),
    ("Préfecture", "state"),
    ("Centre social", "association"),
    ("Paysagiste", "business"),
    ("Régie voisine", "regie"),
)


# --- Data -------------------------------------------------------------------------------------------------


def activity_document(rng: random.Random, index: int) -> dict[str, Any]:
    """A varied, valid green-spaces activity of the source node."""
    key, category = SERVICE_TYPE
    commune, city = rng.choices(COMMUNES, weights=COMMUNE_WEIGHTS)[0]
    department = f"{commune[:3] if commune.startswith('97') else commune[:2]:0>3}"
    status = rng.choices([s for s, _ in STATUSES], weights=[w for _, w in STATUSES])[0]
    start = dt.date(2019, 1, 1) + dt.timedelta(days=rng.randrange(2400))
    end = start + dt.timedelta(days=rng.randrange(30, 900)) if status == "ended" else None
    place: dict[str, Any] = {
        "commune": commune,
        "point": {"lat": round(rng.uniform(43.0, 50.5), 5), "lon": round(rng.uniform(-1.5, 7.5), 5)},
    }
    if rng.random() < 0.7:
        place["qpv"] = [f"QN{department}{rng.randrange(1, 40):02d}M"]
    if rng.random() < 0.5:
        place["address"] = f"{rng.randrange(1, 200)} rue de la République, {city}"
    details: dict[str, Any] = {}
    if rng.random() < 0.8:
        details["surface_m2"] = round(rng.uniform(200, 40_000), 1)
    if rng.random() < 0.7:
        details["tasks"] = rng.sample(TASKS, k=rng.randrange(1, 4))
    if rng.random() < 0.6:
        details["zero_pesticide"] = rng.random() < 0.8
    updated = dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=index * 30 + rng.randrange(30))
    return {
        "origin": SOURCE_ID,
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "version": rng.choice((1, 1, 1, 2, 3)),
        "updated_at": updated.isoformat(),
        "deleted": False,
        "category": category,
        "service_type": key,
        "title": f"{rng.choice(WORKS)} — {rng.choice(SITES)}, {city} (n° {index})",
        "description": rng.choice(DESCRIPTIONS),
        "status": status,
        "start_date": start.isoformat(),
        "end_date": end.isoformat() if end else None,
        "place": place,
        "partners": [
            {"name": f"{name} ({city})", "kind": kind} for name, kind in rng.sample(PARTNERS, k=rng.randrange(0, 3))
        ],
        "inhabitants_involved": rng.randrange(0, 120),
        "details": details,
    }


@dataclass
class Loaded:
    seconds: float
    body_bytes_mean: float
    rows: list[dict[str, Any]] | None  # the `records` rows, kept for the executemany baseline


def bulk_load(data_dir: Path, count: int, seed: int, keep_rows: bool) -> Loaded:
    """Insert `count` activities and one change-log row each into the node's database with SQLAlchemy Core."""
    from sqlalchemy import create_engine, insert, text

    from federation.schema.records import RECORD_KINDS, Activity
    from federation.storage.mapping import change_row, record_row
    from federation.storage.tables import changes, records

    rng = random.Random(seed)
    engine = create_engine(f"sqlite:///{data_dir / 'regies.db'}")
    kept: list[dict[str, Any]] = []
    body_bytes = 0
    report_every = max(LOAD_BATCH, (count // 5 if count <= 200_000 else 100_000) // LOAD_BATCH * LOAD_BATCH)
    started = time.perf_counter()
    try:
        for first in range(0, count, LOAD_BATCH):
            rows = [
                record_row(RECORD_KINDS["activity"], Activity.model_validate(activity_document(rng, i)))
                for i in range(first, min(first + LOAD_BATCH, count))
            ]
            change_rows = [change_row(row) for row in rows]
            with engine.begin() as connection:
                connection.execute(insert(records), rows)
                connection.execute(insert(changes), change_rows)
            body_bytes += sum(len(row["body"].encode()) for row in rows)
            if keep_rows:
                kept.extend(rows)
            done = first + len(rows)
            if done % report_every == 0 or done == count:
                elapsed = time.perf_counter() - started
                print(f"  loading source: {done:>9,}/{count:,} activities ({done / elapsed:,.0f} rows/s)", flush=True)
        with engine.begin() as connection:
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            connection.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    return Loaded(time.perf_counter() - started, body_bytes / max(count, 1), kept if keep_rows else None)


# --- Nodes ------------------------------------------------------------------------------------------------


def node_env(batch: int) -> dict[str, str]:
    # No background worker (only the timed `regies sync` pulls), no access log, pages of <batch> records.
    return {
        **os.environ,
        "REGIES_FEDERATION__WORKER": "false",
        "REGIES_LOG__ACCESS_LOG": "false",
        "REGIES_FEDERATION__BATCH_SIZE": str(batch),
        "REGIES_FEDERATION__ALLOW_PRIVATE_ADDRESSES": "true",  # both nodes are on 127.0.0.1
    }


def regies(data_dir: Path, *argv: str, env: dict[str, str]) -> str:
    """Run a `regies` command to completion; its output, or RuntimeError with it."""
    result = subprocess.run(
        [str(REGIES), "--data-dir", str(data_dir), *argv],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if result.returncode != 0:
        raise RuntimeError(f"regies {' '.join(argv)} exited with {result.returncode}:\n{result.stdout}{result.stderr}")
    return result.stdout


def pin_receiver_on_source(source_dir: Path, receiver_dir: Path) -> None:
    """Make the source know the receiver (else it answers 401 to the signed feed requests).

    What `regies peer add` would store on the source, without serving the receiver just to read its discovery
    document: the receiver's published keys, read from its own database. The receiver is neither pulled nor
    pushed to, so its base URL is never used.
    """
    from federation.config import load_settings
    from federation.protocol.keys import KeyStore
    from federation.protocol.persistence import save_peer
    from federation.storage.engine import create_engine

    async def run() -> None:
        receiver = load_settings(data_dir=receiver_dir)
        engine = create_engine(receiver.database_url)
        try:
            keys = (await KeyStore.load(engine, receiver.keys_dir)).published
        finally:
            await engine.dispose()
        engine = create_engine(load_settings(data_dir=source_dir).database_url)
        try:
            await save_peer(
                engine,
                node_id=RECEIVER_ID,
                name="Régie réceptrice (banc d'essai)",
                base_url=receiver.public_base_url,
                keys=keys,
                pull=False,
                push=False,
            )
        finally:
            await engine.dispose()

    asyncio.run(run())


def proc_cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a live process (Linux /proc)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def children_rss_kib(pid: int) -> int:
    """Summed VmRSS of a process's children (the SQLite writer and page parser processes of a pull)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return 0
    return sum(proc_rss_kib(int(child)) or 0 for child in children)


def proc_rss_kib(pid: int) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


@dataclass
class Server:
    process: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_server(data_dir: Path, env: dict[str, str], log_path: Path) -> Server:
    port = free_port()
    # `python -m federation`, not the console script: bench/sync_compare.py runs older checkouts through
    # PYTHONPATH, and the script's entry point (federation.entry.run) may not exist in them.
    argv = [sys.executable, "-m", "federation", "--data-dir", str(data_dir), "serve", "--port", str(port)]
    env = {**env, "REGIES_SERVER__BASE_URL": f"http://127.0.0.1:{port}"}  # `init` wrote the default port's
    with log_path.open("wb") as log:
        # A session of its own: Ctrl-C reaches only the bench, which then stops the server itself.
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(process, port, log_path)
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"source server exited with status {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.base}/readyz", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"source server not ready after 60 s:\n{server.log_tail()}")
        time.sleep(0.1)


# --- The measured sync ------------------------------------------------------------------------------------


@dataclass
class SyncRun:
    wall: float
    exit_code: int
    output: str
    peak_rss_kib: int
    user_cpu: float
    system_cpu: float
    rss_samples: list[tuple[float, int]] = field(default_factory=list)
    children_peak_kib: int = 0  # the helper processes together, sampled every 0.25 s

    @property
    def received(self) -> int:
        match = re.search(rf"{SOURCE_ID}: (\d+) records received, (\d+) applied", self.output)
        return int(match.group(1)) if match else 0

    @property
    def applied(self) -> int:
        match = re.search(rf"{SOURCE_ID}: (\d+) records received, (\d+) applied", self.output)
        return int(match.group(2)) if match else 0

    @property
    def loop_rate(self) -> float | None:
        """The rate the CLI's own progress bar shows at the end (pull loop only, no process start-up)."""
        rates = re.findall(r"records\s+([\d,]+)/s", self.output)
        return float(rates[-1].replace(",", "")) if rates else None


# Runs exactly what the `regies` console script runs (federation.entry.run), and at exit writes the process's
# VmHWM (peak resident set of its own address space) on stderr, which goes to the same log as the output.
SYNC_WRAPPER = """
import atexit, sys

def _report_peak_rss():
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                sys.stderr.write("\\nbench-vmhwm-kib: " + line.split()[1] + "\\n")

atexit.register(_report_peak_rss)
from federation.entry import run
sys.argv[0] = "regies"
run()
"""


def timed_sync(receiver_dir: Path, env: dict[str, str], log_path: Path) -> SyncRun:
    """Run `regies sync bench-source --pull-only` as a child process; wall time, CPU time and peak RSS.

    Peak RSS: the child reports its own VmHWM at exit (SYNC_WRAPPER). VmHWM belongs to the address space
    created by exec, so it is the sync's alone and, being a high-water mark, misses no short peak. The
    alternatives are wrong here: os.wait4()'s ru_maxrss and RUSAGE_CHILDREN inherit the *parent's* RSS at
    fork/vfork time (Linux keeps maxrss across exec; this process holds the baseline's rows, so a 110 MB sync
    showed 383 MB), and RUSAGE_CHILDREN is moreover the maximum over every child reaped so far (init commands,
    servers); polling /proc/<pid>/status from here races the exit. CPU times still come from os.wait4() on
    this very child (those are not inherited). A thread samples VmRSS every 0.25 s to show how memory grows.
    """
    argv = [sys.executable, "-c", SYNC_WRAPPER, "--data-dir", str(receiver_dir), "sync", SOURCE_ID, "--pull-only"]
    samples: list[tuple[float, int]] = []
    children_peak = [0]
    done = threading.Event()
    with log_path.open("wb") as log:
        started = time.perf_counter()
        process = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT)

    def sample() -> None:
        while not done.wait(0.25):
            rss = proc_rss_kib(process.pid)
            if rss:
                samples.append((time.perf_counter() - started, rss))
            children_peak[0] = max(children_peak[0], children_rss_kib(process.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
    finally:
        done.set()
        if process.returncode is None:
            process.kill()
            process.wait()
        sampler.join()
    output = log_path.read_text(errors="replace")
    peaks = re.findall(r"bench-vmhwm-kib: (\d+)", output)
    if not peaks:
        raise RuntimeError(f"the sync did not report its peak RSS (exit {process.returncode}):\n{output[-3000:]}")
    return SyncRun(
        wall, process.returncode, output, int(peaks[-1]), usage.ru_utime, usage.ru_stime, samples, children_peak[0]
    )


@dataclass
class Verification:
    replicated: int
    lost: int
    duplicated: int
    extra: int
    different: int
    lag: int | None
    last_error: str | None

    @property
    def ok(self) -> bool:
        return not (self.lost or self.duplicated or self.extra or self.different or self.last_error)


def verify(source_dir: Path, receiver_dir: Path) -> Verification:
    """Compare the receiver's replicas with the source's activities, row by row, in SQL."""
    connection = sqlite3.connect(f"file:{receiver_dir / 'regies.db'}", uri=True)
    connection.execute("ATTACH DATABASE ? AS src", (f"file:{source_dir / 'regies.db'}?mode=ro",))
    try:
        replicated, distinct = connection.execute(
            "SELECT count(*), count(DISTINCT id) FROM main.records"
            " WHERE kind = 'activity' AND origin = ? AND NOT deleted",
            (SOURCE_ID,),
        ).fetchone()
        lost = connection.execute(
            "SELECT count(*) FROM src.records s WHERE s.kind = 'activity'"
            " AND NOT EXISTS (SELECT 1 FROM main.records r WHERE r.id = s.id)"
        ).fetchone()[0]
        extra = connection.execute(
            "SELECT count(*) FROM main.records r WHERE r.kind = 'activity' AND r.origin = ?"
            " AND NOT EXISTS (SELECT 1 FROM src.records s WHERE s.id = r.id)",
            (SOURCE_ID,),
        ).fetchone()[0]
        different = connection.execute(
            "SELECT count(*) FROM src.records s JOIN main.records r ON r.id = s.id WHERE s.kind = 'activity'"
            " AND (r.body <> s.body OR r.version <> s.version OR r.origin <> s.origin OR r.deleted <> s.deleted"
            " OR r.updated_at_us <> s.updated_at_us OR r.commune IS NOT s.commune OR r.status IS NOT s.status)"
        ).fetchone()[0]
        peer = connection.execute("SELECT lag, last_error FROM peers WHERE node_id = ?", (SOURCE_ID,)).fetchone()
    finally:
        connection.close()
    lag, last_error = peer if peer else (None, "no peer row for the source")
    return Verification(replicated, lost, replicated - distinct, extra, different, lag, last_error)


@dataclass
class Round:
    records: int
    loaded: Loaded
    sync: SyncRun
    noop: SyncRun
    check: Verification
    source_cpu: float | None

    @property
    def rate(self) -> float:
        return self.sync.received / self.sync.wall if self.sync.wall else 0.0

    @property
    def peak_rss_mb(self) -> float:
        """The sync process's peak plus its helper processes' sampled peak: an upper bound of the receiver's."""
        return (self.sync.peak_rss_kib + self.sync.children_peak_kib) * 1024 / MB


def init_pair(
    source_dir: Path, receiver_dir: Path, count: int, seed: int, keep_rows: bool, env: dict[str, str]
) -> Loaded:
    """Two new nodes, `count` activities on the source, and the receiver known to the source."""
    regies(source_dir, "init", "--node-id", SOURCE_ID, "--name", "Régie source (banc d'essai)", env=env)
    regies(receiver_dir, "init", "--node-id", RECEIVER_ID, "--name", "Régie réceptrice (banc d'essai)", env=env)
    loaded = bulk_load(source_dir, count, seed, keep_rows)
    print(
        f"  loaded {count:,} activities in {loaded.seconds:.1f} s ({count / loaded.seconds:,.0f} rows/s incl. "
        f"pydantic validation), mean body {loaded.body_bytes_mean:.0f} B",
        flush=True,
    )
    pin_receiver_on_source(source_dir, receiver_dir)
    return loaded


def run_round(root: Path, count: int, batch: int, seed: int, keep_rows: bool) -> Round:
    """Two fresh nodes, `count` activities on the source, one timed pull into the receiver, then checks."""
    env = node_env(batch)
    source_dir, receiver_dir = root / "source", root / "receiver"
    print(f"[{count:,} records] initialising {SOURCE_ID} and {RECEIVER_ID} in {root}", flush=True)
    loaded = init_pair(source_dir, receiver_dir, count, seed, keep_rows, env)
    server = start_server(source_dir, env, root / "source-server.log")
    try:
        print(f"  source serving on {server.base}; pinning it on the receiver (regies peer add … --yes)", flush=True)
        regies(receiver_dir, "peer", "add", server.base, "--yes", env=env)
        cpu_before = proc_cpu_seconds(server.process.pid)
        print(
            f"  timing: regies --data-dir {receiver_dir.name} sync {SOURCE_ID} --pull-only "
            "(federation.entry.run in a child reporting its VmHWM at exit)",
            flush=True,
        )
        sync = timed_sync(receiver_dir, env, root / "sync.log")
        cpu_after = proc_cpu_seconds(server.process.pid)
        if sync.exit_code != 0:
            raise RuntimeError(f"sync exited with {sync.exit_code}:\n{sync.output[-3000:]}")
        # A second sync with nothing new: the fixed cost of a `regies sync` run (start-up, one empty page).
        noop = timed_sync(receiver_dir, env, root / "sync-noop.log")
    finally:
        server.stop()
    check = verify(source_dir, receiver_dir)
    source_cpu = cpu_after - cpu_before if cpu_before is not None and cpu_after is not None else None
    return Round(count, loaded, sync, noop, check, source_cpu)


def report_round(result: Round, batch: int) -> None:
    sync, noop, check = result.sync, result.noop, result.check
    pages = -(-sync.received // batch)
    print(
        f"  sync: {sync.received:,} records received, {sync.applied:,} applied in {pages:,} pages of {batch} "
        f"in {sync.wall:.2f} s = {result.rate:,.0f} rec/s (whole command)"
    )
    loop = f"{sync.loop_rate:,.0f} rec/s" if sync.loop_rate else "n/a"
    steady = sync.received / (sync.wall - noop.wall) if sync.wall > noop.wall else float("nan")
    print(
        f"        pull loop alone (the CLI's progress bar): {loop}; a no-op sync takes {noop.wall:.2f} s "
        f"(received {noop.received}), so excluding that fixed cost: {steady:,.0f} rec/s"
    )
    source = f"{result.source_cpu:.1f} s" if result.source_cpu is not None else "n/a"
    print(
        f"        CPU: receiver {sync.user_cpu:.1f} s user + {sync.system_cpu:.1f} s sys "
        f"({(sync.user_cpu + sync.system_cpu) / sync.wall:.0%} of one core), source server {source}"
    )
    if result.source_cpu is not None and sync.received:
        # What the CPU time spent allows: per record, both nodes' CPU beyond the fixed cost of a run (the no-op
        # sync's, spent on one core before the pull starts); with every core busy all the time, the rate can be
        # no higher than this, whatever the overlap between processes.
        fixed = noop.user_cpu + noop.system_cpu
        per_record = max(sync.user_cpu + sync.system_cpu + result.source_cpu - fixed, 0.0) / sync.received
        cores = os.cpu_count() or 1
        if per_record > 0:
            loop_ceiling = cores / per_record
            whole_ceiling = sync.received / (noop.wall + sync.received / loop_ceiling)
            print(
                f"        CPU per record (both nodes, without the fixed cost): {per_record * 1e6:.0f} µs; with "
                f"{cores} cores always busy at that cost, at most {loop_ceiling:,.0f} rec/s for the pull loop and "
                f"{whole_ceiling:,.0f} rec/s for the whole command"
            )
    marks = sync.rss_samples
    curve = ", ".join(
        f"{marks[int(q * (len(marks) - 1))][1] * 1024 / MB:.0f}" for q in (0.1, 0.25, 0.5, 0.75, 1.0) if marks
    )
    print(
        f"        receiver peak RSS {result.peak_rss_mb:.0f} MB: "
        f"the sync process {sync.peak_rss_kib * 1024 / MB:.0f} MB "
        f"(VmHWM; VmRSS at 10/25/50/75/100 % of the run: {curve} MB) + its helper processes (SQLite writer, "
        f"page parser) {sync.children_peak_kib * 1024 / MB:.0f} MB (sampled peak); a no-op sync peaks at "
        f"{noop.peak_rss_kib * 1024 / MB:.0f} MB"
    )
    print(
        f"  check: {check.replicated:,} activities from {SOURCE_ID} on the receiver; lost {check.lost}, "
        f"duplicated {check.duplicated}, not in source {check.extra}, differing from source {check.different}; "
        f"peer lag {check.lag}, last error {check.last_error or '-'}",
        flush=True,
    )


# --- Baseline ---------------------------------------------------------------------------------------------

# Fixed, whatever --batch: every ratio in docs/performance.md was measured against transactions of 1,000 rows (the
# pages' size until the node's default became 2,000), and the baseline stays the same yardstick.
BASELINE_ROWS_PER_TRANSACTION = 1000


def executemany_baseline(
    path: Path, rows: list[dict[str, Any]], batch: int, clock: Callable[[], float] = time.perf_counter
) -> float:
    """Seconds (of `clock`: wall time, or CPU time with time.process_time) for raw sqlite3 executemany of the same
    rows into the same `records` table, <batch> per commit; `path` is a new database file."""
    from sqlalchemy import create_engine

    from federation.storage.tables import metadata, records

    engine = create_engine(f"sqlite:///{path}")
    metadata.create_all(engine, tables=[records])  # the node's DDL: same columns and indexes
    engine.dispose()
    columns = [column.name for column in records.columns if column.name != "rid"]
    statement = f"INSERT INTO records ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
    values = [tuple(row[column] for column in columns) for row in rows]
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
        connection.execute("PRAGMA synchronous=NORMAL")  # what the node's engine sets
        started = clock()
        for first in range(0, len(values), batch):
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(statement, values[first : first + batch])
            connection.execute("COMMIT")
        elapsed = clock() - started
        stored = connection.execute("SELECT count(*) FROM records").fetchone()[0]
    finally:
        connection.close()
    if stored != len(rows):
        raise RuntimeError(f"baseline stored {stored} rows, not {len(rows)}")
    return elapsed


# --- Main -------------------------------------------------------------------------------------------------


def compile_bytecode() -> None:
    """Byte-compile the project's packages once, as installing a node does (pip compiles a wheel's modules).

    Run from a checkout with PYTHONDONTWRITEBYTECODE set, every timed process would otherwise compile them
    again at start-up (about 0.15 s per `regies` command), which no installed node pays.
    """
    import compileall

    for package in ("federation", "plugins"):
        if not compileall.compile_dir(PROJECT / package, quiet=1):
            raise RuntimeError(f"could not byte-compile {package}")


def header(args: argparse.Namespace, script: str = "bench/sync.py") -> str:
    """The first lines of a run's output: when, where, with which versions and options."""
    versions = ", ".join(
        f"{name} {importlib.metadata.version(name)}" for name in ("aiohttp", "SQLAlchemy", "aiosqlite", "pydantic")
    )
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    return (
        f"{script}  {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC  {platform.node()}  {os.cpu_count()} CPUs  "
        f"Python {platform.python_version()}  SQLite {sqlite3.sqlite_version}  {versions}\n"
        + " ".join(f"{name.replace('_', '-')}={value}" for name, value in vars(args).items())
        + f"  load average {load}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000, help="activities for the timed sync (default 100000)")
    parser.add_argument(
        "--batch", type=int, default=2000, help="records per feed page (default 2000, the node's default batch_size)"
    )
    parser.add_argument(
        "--rss-records", type=int, default=1_000_000, help="activities for the peak-RSS run (default 1000000; 0 skips)"
    )
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.records < 1 or not 1 <= args.batch <= 5000 or args.rss_records < 0:
        parser.error("--records must be >= 1, --batch 1..5000, --rss-records >= 0")

    def on_sigterm(_signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_sigterm)
    print(header(args), flush=True)
    if os.getloadavg()[0] > 0.5:
        print("warning: other processes are using the CPU (load average above); rates will be lower and noisier")
    compile_bytecode()
    root = Path(tempfile.mkdtemp(prefix="regies-bench-sync-"))
    try:
        main_round = run_round(root / "main", args.records, args.batch, args.seed, keep_rows=True)
        report_round(main_round, args.batch)
        rows = main_round.loaded.rows or []
        print(
            f"[baseline] raw sqlite3 executemany of the same {len(rows):,} rows, {BASELINE_ROWS_PER_TRANSACTION} per "
            "transaction (WAL)"
        )
        baseline_seconds = executemany_baseline(root / "baseline.db", rows, BASELINE_ROWS_PER_TRANSACTION)
        baseline_rate = len(rows) / baseline_seconds
        print(f"  {baseline_seconds:.2f} s = {baseline_rate:,.0f} rec/s", flush=True)
        main_round.loaded.rows = None
        del rows
        rss_round = None
        if args.rss_records:
            rss_round = run_round(root / "rss", args.rss_records, args.batch, args.seed + 1, keep_rows=False)
            report_round(rss_round, args.batch)
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(root, ignore_errors=True)

    rounds = [main_round] + ([rss_round] if rss_round else [])
    lost = sum(r.check.lost for r in rounds)
    duplicated = sum(r.check.duplicated for r in rounds)
    ratio = main_round.rate / baseline_rate
    rate_mark = "ok" if main_round.rate >= RATE_TARGET else "BELOW TARGET"
    if rss_round is not None:
        rss_mark = "ok" if rss_round.peak_rss_mb <= RSS_TARGET_MB else "ABOVE TARGET"
        rss_part = (
            f"receiver peak RSS for {rss_round.records:,} records: {rss_round.peak_rss_mb:.0f} MB "
            f"(target <= {RSS_TARGET_MB} MB: {rss_mark}; {rss_round.rate:,.0f} rec/s)"
        )
    else:
        rss_part = (
            f"receiver peak RSS for {main_round.records:,} records: {main_round.peak_rss_mb:.0f} MB (RSS run skipped)"
        )
    print()
    loop_rate = main_round.sync.loop_rate
    loop_part = f"pull loop {loop_rate:,.0f} rec/s (ratio {loop_rate / baseline_rate:.2f})" if loop_rate else ""
    print(
        f"sync {main_round.records} records: {main_round.rate:,.0f} rec/s (target >= {RATE_TARGET}: {rate_mark}), "
        f"executemany baseline {baseline_rate:,.0f} rec/s, ratio {ratio:.2f}; {loop_part}; {rss_part}; "
        f"lost {lost}, duplicated {duplicated}"
    )
    return 0 if all(r.check.ok for r in rounds) else 1


if __name__ == "__main__":
    with contextlib.suppress(BrokenPipeError):
        sys.exit(main())
