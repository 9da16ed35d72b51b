"""Benchmark of the node's read API over HTTP, reported as ratios against a bare aiohttp endpoint in the same run."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import gc
import importlib.metadata
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import repo_root  # noqa: F401  (puts devtools/ on the path before it is imported)
from aiohttp import ClientError, ClientSession, ClientTimeout, TCPConnector, web
from yarl import URL

from devtools.loadgen import free_port

BIN_DIR = Path(sys.executable).parent
REGIES = BIN_DIR / "regies"
NODE_ID = "bench-node"
# The brief's built-in plugin names; entry points found at run time are added to the "disabled" list too.
BUILTIN_PLUGINS = ("urban", "services", "mediation", "insertion", "mobility", "democracy")
# Access logging would dominate a request this small; every server of the run has it off.
SERVER_ENV = {"REGIES_LOG__ACCESS_LOG": "false"}
BY_ID_TARGET = 0.25
FALLBACK_SERVICE_TYPES = {"green_spaces": "urban_management"}
WARMUP_SECONDS = 1.0
ROUND_WARMUP_SECONDS = 0.25  # later rounds: connections to that server are reopened, caches are warm
BATCH_ROWS = 5_000

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
    ("63113", "Clermont-Ferrand"),
    ("76540", "Rouen"),
    ("34172", "Montpellier"),
    ("06088", "Nice"),
    ("57463", "Metz"),
)
# Big cities host more régies: weight the communes so filters see a skewed, realistic distribution.
COMMUNE_WEIGHTS = (18, 8, 9, 6, 5, 5, 4, 4, 3, 7, 3, 1, 2, 2, 2, 2, 3, 3, 2, 2)
STATUSES = (("active", 60), ("ended", 20), ("planned", 12), ("suspended", 8))
SITES = ("cité des Lilas", "quartier des Tilleuls", "résidence Bellevue", "les Hauts-de-Rouvray", "la Croix-Rouge")
PARTNERS = (
    ("Ville", "local_authority"),
    ("Office public de l'habitat", "social_landlord"),
    ("Préfecture", "state"),
    ("Centre social", "association"),
    ("Entreprise de propreté", "business"),
    ("Régie voisine", "regie"),
)


# --- Data -------------------------------------------------------------------------------------------------


def usable_service_types() -> tuple[dict[str, str], list[str], str]:
    """(service type key → category, plugins the node server must leave out, a note for the report)."""
    from federation.plugins import build_plugins
    from federation.registry import PluginError

    entry_points = sorted(ep.name for ep in importlib.metadata.entry_points(group="regies.plugins"))
    broken: list[str] = []
    try:
        plugins = build_plugins()
    except PluginError as exc:
        # Another plugin may be half-written: find which ones fail alone so the node can still start.
        for name in entry_points:
            try:
                build_plugins(disabled=[other for other in entry_points if other != name])
            except PluginError:
                broken.append(name)
        note = f"plugins failing to load ({exc}); left out: {', '.join(broken) or 'all'}"
        if not broken:
            broken = list(entry_points)
        return dict(FALLBACK_SERVICE_TYPES), broken, note
    types: dict[str, str] = {}
    for key, service_type in sorted(plugins.registry.service_types.items()):
        try:
            service_type.details_model.model_validate({})
        except Exception:
            continue  # needs details we cannot invent generically
        types[key] = str(service_type.category)
    if not types:
        note = f"no service type registered (plugin entry points: {', '.join(entry_points) or 'none'})"
        return dict(FALLBACK_SERVICE_TYPES), [], note + f"; data uses only {', '.join(FALLBACK_SERVICE_TYPES)}"
    return types, [], f"{len(types)} service types from plugins {', '.join(sorted(plugins.infos)) or '-'}"


def activity_document(rng: random.Random, index: int, service_types: list[tuple[str, str]]) -> dict[str, Any]:
    key, category = rng.choice(service_types)
    commune, city = rng.choices(COMMUNES, weights=COMMUNE_WEIGHTS)[0]
    department = f"{commune[:3] if commune.startswith('97') else commune[:2]:0>3}"
    status = rng.choices([s for s, _ in STATUSES], weights=[w for _, w in STATUSES])[0]
    start = dt.date(2019, 1, 1) + dt.timedelta(days=rng.randrange(2400))
    end = start + dt.timedelta(days=rng.randrange(30, 900)) if status == "ended" else None
    site = rng.choice(SITES)
    partners = [
        {"name": f"{name} ({city})", "kind": kind} for name, kind in rng.sample(PARTNERS, k=rng.randrange(0, 3))
    ]
    place: dict[str, Any] = {
        "commune": commune,
        "point": {"lat": round(rng.uniform(43.0, 50.5), 5), "lon": round(rng.uniform(-1.5, 7.5), 5)},
    }
    if rng.random() < 0.7:
        place["qpv"] = [f"QN{department}{rng.randrange(1, 40):02d}M"]
    if rng.random() < 0.5:
        place["address"] = f"{rng.randrange(1, 200)} rue de la République, {city}"
    updated = dt.datetime(2025, 1, 1, tzinfo=dt.UTC) + dt.timedelta(seconds=index * 90 + rng.randrange(90))
    return {
        "origin": NODE_ID,
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "version": 1,
        "updated_at": updated.isoformat(),
        "deleted": False,
        "category": category,
        "service_type": key,
        "title": f"{key.replace('_', ' ').capitalize()} — {site}, {city} (n° {index})",
        "description": "Chantier mené par une équipe de salariés en insertion encadrée par la régie, "
        "en lien avec les habitants et les bailleurs du quartier.",
        "status": status,
        "start_date": start.isoformat(),
        "end_date": end.isoformat() if end else None,
        "place": place,
        "partners": partners,
        "inhabitants_involved": rng.randrange(0, 120),
        "details": {},
    }


def stored_row(document: dict[str, Any]) -> dict[str, Any]:
    """The `records` row the API would write for this activity (same models, same serialisation)."""
    from federation.schema.records import RECORD_KINDS, Activity
    from federation.storage.mapping import record_row

    return record_row(RECORD_KINDS["activity"], Activity.model_validate(document))


def init_node(data_dir: Path) -> None:
    from federation.bootstrap import init_node as init
    from federation.config import load_settings

    asyncio.run(init(load_settings(data_dir=data_dir), name="Régie de banc d'essai", node_id=NODE_ID))


@dataclass
class LoadedData:
    ids: list[str]
    categories: list[str]
    sample_body: str
    body_bytes_mean: float
    seconds: float
    insert_seconds: float


def bulk_load(data_dir: Path, count: int, service_types: dict[str, str], seed: int) -> LoadedData:
    """Insert `count` activities and their change-log rows in batches with SQLAlchemy Core."""
    from sqlalchemy import create_engine, insert, text

    from federation.storage.mapping import change_row
    from federation.storage.tables import changes, records

    rng = random.Random(seed)
    types = sorted(service_types.items())
    engine = create_engine(f"sqlite:///{data_dir / 'regies.db'}")
    ids: list[str] = []
    categories: set[str] = set()
    body_bytes = 0
    sample_body = ""
    insert_seconds = 0.0
    started = time.perf_counter()
    interactive = sys.stdout.isatty()
    try:
        for first in range(0, count, BATCH_ROWS):
            rows = [stored_row(activity_document(rng, i, types)) for i in range(first, min(first + BATCH_ROWS, count))]
            change_rows = [change_row(row) for row in rows]
            insert_started = time.perf_counter()
            with engine.begin() as connection:
                connection.execute(insert(records), rows)
                connection.execute(insert(changes), change_rows)
            insert_seconds += time.perf_counter() - insert_started
            for row in rows:
                ids.append(row["id"])
                categories.add(row["category"])
                body_bytes += len(row["body"].encode("utf-8"))
            sample_body = sample_body or rows[0]["body"]
            done = len(ids)
            elapsed = time.perf_counter() - started
            line = f"  loading activities: {done:>7}/{count} ({done / elapsed:,.0f} rows/s)"
            if interactive:
                print(line, end="\r", flush=True)
            elif done % 20_000 < BATCH_ROWS or done == count:
                print(line, flush=True)
        with engine.begin() as connection:
            connection.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
            connection.execute(text("ANALYZE"))
    finally:
        engine.dispose()
    seconds = time.perf_counter() - started
    if interactive:
        print()
    return LoadedData(ids, sorted(categories), sample_body, body_bytes / max(count, 1), seconds, insert_seconds)


# --- Servers ----------------------------------------------------------------------------------------------


def serve_bare(port: int) -> None:
    """The baseline: a route with a path parameter answering a fixed activity-sized JSON body."""
    rng = random.Random(0)
    body = stored_row(activity_document(rng, 0, sorted(FALLBACK_SERVICE_TYPES.items())))["body"].encode("utf-8")

    async def handler(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/bare/{id}", handler, allow_head=False)
    app.router.add_get("/readyz", handler, allow_head=False)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


@dataclass
class Server:
    name: str
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

    def cpu_seconds(self) -> float | None:
        """User + system CPU time of the server process (Linux /proc), to cost a request server-side."""
        try:
            fields = Path(f"/proc/{self.process.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)


def start_server(
    name: str, argv: list[str], log_dir: Path, extra_env: dict[str, str] | None = None, ready_timeout_s: float = 60
) -> Server:
    port = free_port()
    env = {**os.environ, **SERVER_ENV, **(extra_env or {}), "REGIES_SERVER__BASE_URL": f"http://127.0.0.1:{port}"}
    log_path = log_dir / f"{name.replace(' ', '-')}.log"
    with log_path.open("wb") as log:
        # A session of its own: Ctrl-C reaches only the bench, which then stops the servers itself.
        process = subprocess.Popen(
            [*argv, str(port)], env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
    server = Server(name, process, port, log_path)
    deadline = time.monotonic() + ready_timeout_s
    while True:
        if process.poll() is not None:
            raise RuntimeError(f"{name} server exited with status {process.returncode}:\n{server.log_tail()}")
        try:
            with urllib.request.urlopen(f"{server.base}/readyz", timeout=2) as response:
                if response.status == 200:
                    return server
        except OSError:
            pass
        if time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"{name} server not ready after {ready_timeout_s:g} s:\n{server.log_tail()}")
        time.sleep(0.1)


def node_argv(data_dir: Path) -> list[str]:
    return [str(REGIES), "--data-dir", str(data_dir), "serve", "--port"]


# --- Client -----------------------------------------------------------------------------------------------


@dataclass
class Result:
    name: str
    requests: int
    seconds: float
    latencies: list[float]
    errors: int
    error_kinds: dict[str, int] = field(default_factory=dict)
    server_cpu: float | None = None
    client_cpu: float | None = None
    round_ratios: list[float] = field(default_factory=list)

    @classmethod
    def merge(cls, segments: list[Result]) -> Result:
        """One figure per target from its rounds: requests and CPU add up over the measured seconds."""

        def total(values: list[float | None]) -> float | None:
            return None if any(value is None for value in values) else sum(value or 0.0 for value in values)

        error_kinds: dict[str, int] = {}
        for segment in segments:
            for kind, count in segment.error_kinds.items():
                error_kinds[kind] = error_kinds.get(kind, 0) + count
        return cls(
            segments[0].name,
            sum(segment.requests for segment in segments),
            sum(segment.seconds for segment in segments),
            [latency for segment in segments for latency in segment.latencies],
            sum(segment.errors for segment in segments),
            error_kinds,
            total([segment.server_cpu for segment in segments]),
            total([segment.client_cpu for segment in segments]),
        )

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def percentile(self, fraction: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] * 1000

    @property
    def cpu_us_per_request(self) -> float | None:
        return None if self.server_cpu is None or not self.requests else self.server_cpu / self.requests * 1e6

    @property
    def client_cpu_share(self) -> float | None:
        """Share of one core the (single-threaded) client used: near 100 % means the client set the pace."""
        return None if self.client_cpu is None else self.client_cpu / self.seconds


async def measure(
    session: ClientSession,
    name: str,
    server: Server,
    next_url: Callable[[], URL],
    duration: float,
    concurrency: int,
    warmup: float,
) -> Result:
    """Run `concurrency` looping workers for `warmup` plus `duration` seconds; keep requests started after warm-up."""
    start = time.perf_counter()
    window_start = start + warmup
    stop = window_start + duration
    latencies: list[float] = []
    error_kinds: dict[str, int] = {}
    cpu: dict[str, float | None] = {}

    async def worker() -> None:
        while (sent := time.perf_counter()) < stop:
            try:
                async with session.get(next_url()) as response:
                    await response.read()
                    outcome = None if response.status == 200 else f"HTTP {response.status}"
            except (ClientError, OSError, TimeoutError) as exc:
                outcome = type(exc).__name__
            if outcome is not None:
                error_kinds[outcome] = error_kinds.get(outcome, 0) + 1
            if sent >= window_start:
                latencies.append(time.perf_counter() - sent)

    async def cpu_probe() -> None:
        await asyncio.sleep(window_start - time.perf_counter())
        cpu["start"], cpu["client_start"] = server.cpu_seconds(), time.process_time()
        await asyncio.sleep(stop - time.perf_counter())
        cpu["stop"], cpu["client_stop"] = server.cpu_seconds(), time.process_time()

    await asyncio.gather(cpu_probe(), *(worker() for _ in range(concurrency)))
    server_cpu = None
    if cpu.get("start") is not None and cpu.get("stop") is not None:
        server_cpu = cpu["stop"] - cpu["start"]  # type: ignore[operator]
    errors = sum(error_kinds.values())
    client_cpu = cpu["client_stop"] - cpu["client_start"]  # type: ignore[operator]
    return Result(name, len(latencies), duration, latencies, errors, error_kinds, server_cpu, client_cpu)


def url_picker(urls: list[URL], rng: random.Random) -> Callable[[], URL]:
    choice = rng.choice
    return lambda: choice(urls)


# --- Report -----------------------------------------------------------------------------------------------


def table(results: list[Result], bare: Result) -> str:
    header = (
        f"{'target':<34} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7} {'errors':>6} {'srv CPU µs/req':>14} "
        f"{'client CPU':>10} {'ratio':>6}"
    )
    lines = [header, "-" * len(header)]
    for result in results:
        cpu, client = result.cpu_us_per_request, result.client_cpu_share
        lines.append(
            f"{result.name:<34} {result.rps:>8.0f} {result.percentile(0.5):>7.1f} {result.percentile(0.99):>7.1f} "
            f"{result.errors:>6} {'n/a' if cpu is None else f'{cpu:.0f}':>14} "
            f"{'n/a' if client is None else f'{client:.0%}':>10} {result.rps / bare.rps:>6.2f}"
        )
    return "\n".join(lines)


def summary_line(result: Result, bare: Result, target: float | None = None) -> str:
    line = (
        f"{result.name}: {result.rps:.0f} req/s  p50 {result.percentile(0.5):.1f} ms  "
        f"p99 {result.percentile(0.99):.1f} ms  ratio {result.rps / bare.rps:.2f} of bare aiohttp"
    )
    if result is not bare and result.round_ratios:
        ratios = sorted(result.round_ratios)
        line += f" [rounds {ratios[0]:.2f}–{ratios[-1]:.2f}, median {ratios[len(ratios) // 2]:.2f}]"
    if target is not None:
        verdict = "ok" if result.rps / bare.rps >= target else "BELOW TARGET"
        line += f" (target >= {target:.2f}: {verdict})"
    cpu, bare_cpu = result.cpu_us_per_request, bare.cpu_us_per_request
    if result is not bare and cpu and bare_cpu:
        line += f"; server CPU {cpu / bare_cpu:.1f}x bare per request"
    if result.errors:
        line += f"  ERRORS {result.errors}: {result.error_kinds}"
    return line


# --- Main -------------------------------------------------------------------------------------------------


async def run_client(
    servers: dict[str, Server], data: LoadedData, args: argparse.Namespace, seed: int
) -> list[tuple[Result, float | None]]:
    rng = random.Random(seed)
    node = servers["node"]

    def by_id(server: Server) -> list[URL]:
        return [URL(f"{server.base}/api/v1/activities/{record_id}") for record_id in data.ids]

    plan: list[tuple[str, Server, list[URL], float | None]] = [
        ("bare aiohttp (baseline)", servers["bare"], [URL(f"{servers['bare'].base}/bare/{i}") for i in data.ids], None),
        ("GET by id", node, by_id(node), BY_ID_TARGET),
    ]
    if "node-no-plugins" in servers:
        no_plugins = servers["node-no-plugins"]
        plan.append(("GET by id, built-in plugins off", no_plugins, by_id(no_plugins), BY_ID_TARGET))
    list_urls = [URL(f"{node.base}/api/v1/activities?limit=50&category={c}") for c in data.categories]
    plan.append(("GET list limit=50&category=…", node, list_urls, None))
    gc.collect()
    gc.freeze()  # the ids and prebuilt URLs stay alive: keep the client's full collections from rescanning them
    connector = TCPConnector(limit=args.concurrency)
    async with ClientSession(connector=connector, timeout=ClientTimeout(total=30)) as session:
        # Sanity check: the API serves the stored body byte for byte.
        check_id = data.ids[0]
        async with session.get(f"{node.base}/api/v1/activities/{check_id}") as response:
            body = await response.text()
            if response.status != 200 or body != data.sample_body:
                raise RuntimeError(f"GET by id sanity check failed: HTTP {response.status}: {body[:200]}")
        # Targets take turns in short rounds, so a burst of background load hits all of them alike.
        segment_seconds = args.duration / args.rounds
        print(
            f"  measuring {len(plan)} targets in {args.rounds} interleaved rounds of {segment_seconds:g} s each "
            f"(warm-up {WARMUP_SECONDS:g} s before a target's first round, {ROUND_WARMUP_SECONDS:g} s before others)",
            flush=True,
        )
        segments: list[list[Result]] = [[] for _ in plan]
        pickers = [url_picker(urls, rng) for _, _, urls, _ in plan]
        for round_index in range(args.rounds):
            warmup = WARMUP_SECONDS if round_index == 0 else ROUND_WARMUP_SECONDS
            for index, (name, server, _, _) in enumerate(plan):
                segment = await measure(
                    session, name, server, pickers[index], segment_seconds, args.concurrency, warmup
                )
                if server.process.poll() is not None:
                    raise RuntimeError(f"{server.name} server died during the run:\n{server.log_tail()}")
                segments[index].append(segment)
            figures = ", ".join(f"{target[-1].rps:,.0f}" for target in segments)
            print(f"  round {round_index + 1}/{args.rounds}: {figures} req/s", flush=True)
    results: list[tuple[Result, float | None]] = []
    for (_, _, _, target), target_segments in zip(plan, segments, strict=True):
        result = Result.merge(target_segments)
        result.round_ratios = [
            segment.rps / bare.rps for segment, bare in zip(target_segments, segments[0], strict=True)
        ]
        results.append((result, target))
    return results


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000, help="activities to load (default 100000)")
    parser.add_argument("--duration", type=float, default=10.0, help="seconds measured per target (default 10)")
    parser.add_argument("--concurrency", type=int, default=32, help="client workers and connections (default 32)")
    parser.add_argument(
        "--plugins-compare", action="store_true", help="also measure GET by id with all built-in plugins disabled"
    )
    parser.add_argument(
        "--rounds", type=int, default=5, help="split each target's duration into this many interleaved rounds"
    )
    parser.add_argument("--seed", type=int, default=20_260_101, help="random seed of data and request order")
    parser.add_argument("--serve-bare", type=int, metavar="PORT", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve_bare is None and min(args.records, args.duration, args.concurrency, args.rounds) <= 0:
        parser.error("--records, --duration, --concurrency and --rounds must be positive")
    return args


@contextlib.contextmanager
def stopping(servers: dict[str, Server]) -> Iterator[None]:
    """Stop the servers however the run ends; SIGTERM is treated like Ctrl-C (asyncio cancels cleanly on SIGINT)."""

    def on_sigterm(_signum: int, _frame: Any) -> None:
        signal.raise_signal(signal.SIGINT)

    previous_int = signal.signal(signal.SIGINT, signal.default_int_handler)  # even when started in the background
    previous_term = signal.signal(signal.SIGTERM, on_sigterm)
    try:
        yield
    finally:
        for server in servers.values():
            server.stop()
        signal.signal(signal.SIGTERM, previous_term)
        signal.signal(signal.SIGINT, previous_int)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.serve_bare is not None:
        serve_bare(args.serve_bare)
        return 0

    print(
        f"bench/api.py  {dt.datetime.now().astimezone():%Y-%m-%d %H:%M %Z}  {platform.node()}  "
        f"{os.cpu_count()} CPUs  Python {platform.python_version()}  load average {load_average()}"
    )
    print(
        f"records={args.records} duration={args.duration:g}s rounds={args.rounds} concurrency={args.concurrency} "
        f"warm-up={WARMUP_SECONDS:g}s; servers run with {' '.join(f'{k}={v}' for k, v in SERVER_ENV.items())} "
        "(access log off)"
    )
    print("client and servers share this machine's cores: compare ratios, not absolute req/s")
    service_types, broken_plugins, note = usable_service_types()
    print(f"service types: {note}")
    servers: dict[str, Server] = {}
    with tempfile.TemporaryDirectory(prefix="regies-bench-") as tmp, stopping(servers):
        log_dir = Path(tmp)
        data_dir = log_dir / "node"
        init_node(data_dir)
        data = bulk_load(data_dir, args.records, service_types, args.seed)
        print(
            f"loaded {len(data.ids)} activities in {data.seconds:.1f} s ({len(data.ids) / data.seconds:,.0f} rows/s "
            f"including pydantic validation; Core inserts alone {len(data.ids) / data.insert_seconds:,.0f} rows/s), "
            f"mean body {data.body_bytes_mean:.0f} B, categories: {', '.join(data.categories)}"
        )
        enabled_env = {"REGIES_DISABLED_PLUGINS": ",".join(broken_plugins)} if broken_plugins else {}
        servers["bare"] = start_server("bare", [sys.executable, str(Path(__file__).resolve()), "--serve-bare"], log_dir)
        servers["node"] = start_server("node", node_argv(data_dir), log_dir, enabled_env)
        print(f"plugins: {plugins_summary(broken_plugins)}")
        if args.plugins_compare:
            all_builtin = sorted(
                set(BUILTIN_PLUGINS) | {ep.name for ep in importlib.metadata.entry_points(group="regies.plugins")}
            )
            servers["node-no-plugins"] = start_server(
                "node-no-plugins",
                node_argv(data_dir),
                log_dir,
                {"REGIES_DISABLED_PLUGINS": ",".join(all_builtin)},
            )
            print(f"plugins: comparison node runs with REGIES_DISABLED_PLUGINS={','.join(all_builtin)}")
        results = asyncio.run(run_client(servers, data, args, args.seed + 1))

    bare = results[0][0]
    print()
    print(table([result for result, _ in results], bare))
    print()
    for result, target in results:
        print(summary_line(result, bare, target))
    by_name = {result.name: result for result, _ in results}
    if args.plugins_compare:
        on, off = by_name["GET by id"], by_name["GET by id, built-in plugins off"]
        loss = (1 - on.rps / off.rps) * 100
        print(
            f"plugins: GET by id with built-in plugins {on.rps:.0f} req/s vs without {off.rps:.0f} req/s: "
            f"loss {loss:.1f} %" + (" (within the ±10 % run-to-run noise)" if abs(loss) < 10 else "")
        )
    print(f"load average at the end: {load_average()} (other processes on the machine skew the figures)")
    errors = sum(result.errors for result, _ in results)
    if errors:
        print(f"FAILED: {errors} request(s) did not answer 200")
        return 1
    return 0


def load_average() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "n/a"


def plugins_summary(broken: list[str]) -> str:
    from federation.plugins import build_plugins

    try:
        plugins = build_plugins(disabled=broken)
    except Exception as exc:
        return f"cannot load ({exc})"
    names = ", ".join(sorted(plugins.infos)) or "none installed"
    return f"main node loads {names} ({len(plugins.registry.service_types)} service types)"


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("\ninterrupted; servers stopped")
        sys.exit(130)
