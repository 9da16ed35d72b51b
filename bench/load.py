"""Load test: a fixed request rate for a fixed time against a node and against the hub on 127.0.0.1.

Run by hand:  .venv/bin/python bench/load.py [--rate 200] [--duration 60] [--concurrency 32] [--records 20000]
                  [--target node|hub|both] [--read-only] [--seed N]
              .venv/bin/python bench/load.py --database postgresql [--regies 200] [--push-rate 20] [--per-batch 20]
                  [--read-rate 4] [--activities 100000] [--reports 2000] [--duration 60] [--concurrency 32]
                  [--profile-hub FILE] [--hub-env REGIES_FEDERATION__INBOX_PARSE_WORKERS=2]

Set-up: a hub (SQLite), a node holding `--records` activities that joined the hub and pushed them all to it,
and a second node whose keys sign the load's federation pulls. Then, for each target, a bounded client (at most
`--concurrency` requests in flight) sends an open-loop schedule: request i is due at start + i / rate, and its
latency is measured from that due time, so time spent queueing behind slow answers counts (no coordinated
omission). The mix is what a node or a hub sees: reads by id, filtered lists, a few writes, signed federation
pulls (node) and pushes (hub), hub report tables. It prints errors (anything but the expected status), p50/p99
per kind, the achieved rate, and the server's resident memory sampled every 0.5 s: the mean of the first and
last 10 s and the least-squares slope over the run and over its second half (flat memory: a slope near
0 MB/min once warm). Writes and pushes make the database grow, and SQLite's page cache with it; `--read-only`
leaves them out to look at memory alone. Exit status 1 if any request failed.

With `--database postgresql`, the coordinator-under-push scenario instead (bench/push_load.py): a hub on a throwaway
PostgreSQL database (127.0.0.1:5432, user postgres) with `--regies` approved members and their data; the members
push signed batches of `--per-batch` activities to its inbox at `--push-rate` batches/s in total (round robin, each
signed with the member's own key) while a national coordinator reads the dashboard (`/hub`, logged in) and the
national tables (`/plugins/hub/tables/…`) at `--read-rate` requests/s, on the same open-loop schedule; the members
(at most `--concurrency` pushes in flight) and the coordinator (at most 6 reads in flight, as a browser) are two
clients with connections of their own. It also prints the CPU time the hub ran during the run and the time it waited,
runnable, for a core other work held (Linux schedstat): on a shared machine the second says how much of the latency
is the machine's. Before the load, the coordinator opens the dashboard and each table once, which computes the
national figures the cache then serves; those first views are timed and printed apart.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import repo_root  # noqa: F401  (puts devtools/ on the path before it is imported)

from devtools.hubcrash import hub_versions, set_up_network
from devtools.loadgen import COMMUNES, SERVICE_TYPES, NodeProcess, run_regies
from federation.config import load_settings
from federation.protocol import persistence
from federation.protocol.keys import KeyStore
from federation.protocol.signing import sign_request
from federation.storage.engine import create_engine

NODE_ID = "load-regie"
PEER_ID = "load-peer"
PERIOD = "2026"
WRITES = ("write", "federation_push")


@dataclass(frozen=True)
class Call:
    """One request of the mix, ready to send."""

    kind: str
    method: str
    url: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    expect: int = 200


Signer = Callable[[str, str, bytes | None], dict[str, str]]


def signer_for(data_dir: Path, node_id: str) -> Signer:
    """Signs requests as the node in `data_dir`, with its current key (what its own federation client does)."""
    settings = load_settings(data_dir=data_dir)

    async def load() -> tuple[str, Any]:
        engine = create_engine(settings.database_url)
        try:
            return (await KeyStore.load(engine, settings.keys_dir)).signing
        finally:
            await engine.dispose()

    kid, private_key = asyncio.run(load())

    def sign(method: str, url: str, body: bytes | None) -> dict[str, str]:
        headers = dict(sign_request(method, url, body, node_id=node_id, kid=kid, private_key=private_key))
        if body is not None:
            headers["Content-Type"] = "application/json"
        return headers

    return sign


def new_activity(rng: random.Random, n: int) -> dict[str, Any]:
    category, service_type = SERVICE_TYPES[n % len(SERVICE_TYPES)]
    return {
        "category": category,
        "service_type": service_type,
        "title": f"Activité de charge n°{n}",
        "description": "Action menée avec les habitants du quartier.",
        "place": {"commune": rng.choice(COMMUNES)},
        "inhabitants_involved": rng.randrange(40),
    }


class Mix:
    """Builds the requests of one target's mix with their weights."""

    def __init__(self, url: str, ids: list[str], records: int, rng: random.Random) -> None:
        self.url, self.ids, self.records, self.rng = url, ids, records, rng
        self.counter = 0
        self.kinds: list[tuple[str, int, Callable[[], Call]]] = [
            ("by_id", 35, self.by_id),
            ("list_filtered", 30, self.filtered_list),
        ]

    def pick(self) -> Call:
        total = sum(weight for _, weight, _ in self.kinds)
        point = self.rng.uniform(0, total)
        for _, weight, make in self.kinds:
            point -= weight
            if point <= 0:
                return make()
        return self.kinds[-1][2]()

    def by_id(self) -> Call:
        return Call("by_id", "GET", f"{self.url}/api/v1/activities/{self.rng.choice(self.ids)}")

    def filtered_list(self) -> Call:
        category, service_type = self.rng.choice(SERVICE_TYPES)
        query = self.rng.choice(
            [f"category={category}", f"service_type={service_type}", f"commune={self.rng.choice(COMMUNES)}"]
        )
        return Call("list_filtered", "GET", f"{self.url}/api/v1/activities?{query}&origin={NODE_ID}&limit=20")


class NodeMix(Mix):
    def __init__(self, url: str, ids: list[str], records: int, rng: random.Random, token: str, peer: Signer) -> None:
        super().__init__(url, ids, records, rng)
        self.auth = {"Authorization": f"Bearer {token}"}
        self.peer = peer
        self.kinds += [("write", 5, self.write), ("federation_pull", 15, self.pull), ("profile", 15, self.profile)]

    def write(self) -> Call:
        self.counter += 1
        body = json.dumps(new_activity(self.rng, self.counter)).encode()
        headers = {**self.auth, "Content-Type": "application/json"}
        return Call("write", "POST", f"{self.url}/api/v1/activities", body, headers, 201)

    def pull(self) -> Call:
        cursor = persistence.encode_feed_cursor(self.rng.randrange(self.records))
        url = f"{self.url}/federation/v1/changes?since={cursor}&limit=100"
        return Call("federation_pull", "GET", url, None, self.peer("GET", url, None))

    def profile(self) -> Call:
        return Call("profile", "GET", f"{self.url}/api/v1/node")


class HubMix(Mix):
    def __init__(self, url: str, ids: list[str], records: int, rng: random.Random, token: str, member: Signer) -> None:
        super().__init__(url, ids, records, rng)
        self.coordinator = {"Authorization": f"Bearer {token}"}
        self.member = member
        self.kinds += [
            ("report_table", 15, self.report_table),
            ("report_list", 10, self.report_list),
            ("federation_push", 10, self.push),
        ]

    def report_table(self) -> Call:
        table = self.rng.choice(["activities", "indicators", "completeness"])
        url = f"{self.url}/plugins/hub/tables/{table}?period={PERIOD}"
        return Call("report_table", "GET", url, headers=self.coordinator)

    def report_list(self) -> Call:
        return Call("report_list", "GET", f"{self.url}/plugins/hub/reports?period={PERIOD}", headers=self.coordinator)

    def push(self) -> Call:
        """A member's batch of 5 new activities into the hub's inbox, signed as that member."""
        envelopes = []
        for _ in range(5):
            self.counter += 1
            record = {
                **new_activity(self.rng, self.counter),
                "origin": NODE_ID,
                "id": str(uuid.uuid4()),
                "version": 1,
                "updated_at": "2026-03-01T10:00:00Z",
            }
            keys = ("origin", "id", "version", "updated_at")
            envelopes.append(
                {**{key: record[key] for key in keys}, "kind": "activity", "deleted": False, "payload": record}
            )
        body = json.dumps({"origin": NODE_ID, "batch_id": str(uuid.uuid4()), "records": envelopes}).encode()
        url = f"{self.url}/federation/v1/inbox"
        return Call("federation_push", "POST", url, body, self.member("POST", url, body), 202)


def rss_mb(pid: int) -> float:
    """Resident memory of a process (Linux /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for process {pid}")


def process_tree(pid: int) -> set[int]:
    """A process and its live descendants, such as a server's worker processes (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                # The command name may hold spaces: the fields that follow it start after its closing parenthesis.
                parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                continue  # the process ended meanwhile
    tree, frontier = {pid}, [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, of in parents.items() if of == parent and child not in tree]
        tree.update(children)
        frontier.extend(children)
    return tree


def scheduler_seconds(pid: int) -> tuple[float, float]:
    """Seconds a process tree's threads ran on a CPU, and seconds they waited, runnable, for one (the run queue:
    time the machine's other work took from them), from Linux's per-thread schedstat."""
    ran = waited = 0.0
    for member in process_tree(pid):
        for task in Path(f"/proc/{member}/task").glob("*"):
            try:
                on_cpu, on_queue, _ = (task / "schedstat").read_text().split()
            except (OSError, ValueError):
                continue
            ran += int(on_cpu) / 1e9
            waited += int(on_queue) / 1e9
    return ran, waited


@dataclass
class RunResult:
    duration: float
    latencies: dict[str, list[float]]
    errors: list[str]
    rss: list[tuple[float, float]]  # (seconds since start, MB)
    server_cpu: float = 0.0  # seconds the server (and its worker processes) ran on a CPU during the run
    server_waited: float = 0.0  # seconds they were runnable but waited for a CPU taken by other work

    @property
    def count(self) -> int:
        return sum(len(values) for values in self.latencies.values()) + len(self.errors)


@dataclass(frozen=True)
class Client:
    """One client of a load: its mix of requests, their rate and how many it keeps in flight at most."""

    mix: Any  # a Mix, or push_load.CoordinatorMix
    rate: float
    concurrency: int


async def run_load(clients: list[Client], pid: int, duration: float) -> RunResult:
    """Each client's open-loop schedule, all at once: its request i is due at start + i / rate, and its
    `concurrency` workers (over its own connections) send them. `mix.pick()` builds the request due."""
    latencies: dict[str, list[float]] = {}
    errors: list[str] = []
    rss: list[tuple[float, float]] = []
    timeout = aiohttp.ClientTimeout(total=30)
    start = time.monotonic()

    async def run_client(client: Client) -> None:
        total = int(client.rate * duration)
        next_index = 0
        connector = aiohttp.TCPConnector(limit=client.concurrency)
        async with aiohttp.ClientSession(timeout=timeout, connector=connector) as session:

            async def worker() -> None:
                nonlocal next_index
                while next_index < total:
                    index, next_index = next_index, next_index + 1
                    due = start + index / client.rate
                    await asyncio.sleep(max(0.0, due - time.monotonic()))
                    call = client.mix.pick()  # built when due: signatures are fresh and nonces single-use
                    try:
                        async with session.request(
                            call.method, call.url, data=call.body, headers=call.headers
                        ) as answer:
                            await answer.read()
                            status = answer.status
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        errors.append(f"{call.kind}: {type(exc).__name__}: {exc}")
                        continue
                    if status != call.expect:
                        errors.append(
                            f"{call.kind}: {call.method} {call.url} answered {status}, expected {call.expect}"
                        )
                        continue
                    latencies.setdefault(call.kind, []).append(time.monotonic() - due)

            await asyncio.gather(*(worker() for _ in range(client.concurrency)))

    async def sample_memory() -> None:
        while True:
            rss.append((time.monotonic() - start, rss_mb(pid)))
            await asyncio.sleep(0.5)

    scheduler_before = scheduler_seconds(pid)
    sampler = asyncio.create_task(sample_memory())
    await asyncio.gather(*(run_client(client) for client in clients if client.rate > 0))
    elapsed = time.monotonic() - start
    ran, waited = (after - before for after, before in zip(scheduler_seconds(pid), scheduler_before, strict=True))
    sampler.cancel()
    return RunResult(elapsed, latencies, errors, rss, ran, waited)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def mb_per_minute(samples: list[tuple[float, float]]) -> float:
    """Least-squares slope of (seconds, MB) samples, in MB per minute (a warm-up shows as a steeper first half)."""
    if len(samples) < 2:
        return 0.0
    return statistics.linear_regression([at for at, _ in samples], [mb for _, mb in samples]).slope * 60


def report(name: str, result: RunResult, rate: float, concurrency: int) -> None:
    achieved = result.count / result.duration
    print(
        f"{name}: {result.count} requests in {result.duration:.1f} s, achieved {achieved:.1f} req/s "
        f"(target {rate:g}, concurrency {concurrency}), errors {len(result.errors)}"
    )
    print(f"  {'kind':<20} {'count':>6} {'req/s':>6} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    everything = [value for values in result.latencies.values() for value in values]
    for kind, values in [*sorted(result.latencies.items()), ("all", everything)]:
        print(
            f"  {kind:<20} {len(values):>6} {len(values) / result.duration:>6.1f} "
            f"{1000 * percentile(values, 0.5):>8.1f} {1000 * percentile(values, 0.99):>8.1f} {1000 * max(values):>8.1f}"
        )
    print(
        f"  server CPU: ran {result.server_cpu:.1f} s over the run's {result.duration:.1f} s "
        f"({100 * result.server_cpu / result.duration:.0f} % of one core), waited {result.server_waited:.1f} s "
        "for a core taken by other work"
    )
    first = [mb for at, mb in result.rss if at < 10]
    last = [mb for at, mb in result.rss if at >= result.duration - 10]
    sizes = [mb for _, mb in result.rss]
    second_half = [(at, mb) for at, mb in result.rss if at >= result.duration / 2]
    print(
        f"  server RSS: first 10 s {statistics.mean(first):.1f} MB, last 10 s {statistics.mean(last):.1f} MB, "
        f"max {max(sizes):.1f} MB, slope {mb_per_minute(result.rss):+.2f} MB/min over the run, "
        f"{mb_per_minute(second_half):+.2f} MB/min over its second half ({len(result.rss)} samples)"
    )
    for error in result.errors[:10]:
        print(f"  error: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200, help="requests per second")
    parser.add_argument("--duration", type=float, default=60, help="seconds per target")
    parser.add_argument("--concurrency", type=int, default=32, help="requests in flight at most")
    parser.add_argument("--records", type=int, default=20000, help="activities of the node (pushed to the hub)")
    parser.add_argument("--target", choices=["node", "hub", "both"], default="both")
    parser.add_argument("--read-only", action="store_true", help="no writes or pushes (memory without data growth)")
    parser.add_argument("--seed", type=int, default=20261127)
    scenario = parser.add_argument_group("the hub on PostgreSQL under pushes (--database postgresql)")
    scenario.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    scenario.add_argument("--regies", type=int, default=200, help="approved members pushing")
    scenario.add_argument("--push-rate", type=float, default=20, help="pushed batches per second, all members")
    scenario.add_argument("--per-batch", type=int, default=20, help="activities per pushed batch")
    scenario.add_argument("--read-rate", type=float, default=4, help="coordinator's reads per second")
    scenario.add_argument("--activities", type=int, default=100_000, help="activities the hub holds at the start")
    scenario.add_argument("--reports", type=int, default=2000, help="reports the hub holds (all periods)")
    scenario.add_argument("--profile-hub", type=Path, help="run the hub under cProfile, its stats written here")
    scenario.add_argument(
        "--hub-env", action="append", default=[], metavar="REGIES_X=V", help="a setting of the hub process (repeatable)"
    )
    args = parser.parse_args()
    rng = random.Random(args.seed)
    if args.database == "postgresql":
        return push_scenario(args, rng)
    failed = False
    with tempfile.TemporaryDirectory(prefix="regies-load-") as tmp:
        root = Path(tmp)
        print(f"setting up a hub and a node with {args.records} activities (pushed to the hub)…", flush=True)
        network = set_up_network(root, [NODE_ID], args.records, {})
        hub, coordinator = network.hub, network.coordinator_token
        node = peer = None
        try:
            run_regies(root / NODE_ID, "sync", "--push-only", REGIES_FEDERATION__BATCH_SIZE="2000")
            if len(hub_versions(root / "hub", None, NODE_ID)) != args.records:
                raise RuntimeError("the node's push to the hub did not deliver every activity")
            ids = sorted(record_id for record_id, _ in network.expected[NODE_ID])
            run_regies(root / PEER_ID, "init", "--node-id", PEER_ID)
            node = NodeProcess(root / NODE_ID, REGIES_FEDERATION__WORKER="false")
            peer = NodeProcess(root / PEER_ID, REGIES_FEDERATION__WORKER="false")
            run_regies(root / NODE_ID, "peer", "add", peer.url, "--yes")
            peer.stop()
            token = (root / NODE_ID / "admin-token").read_text().strip()
            mixes: dict[str, tuple[Mix, NodeProcess]] = {
                "node": (
                    NodeMix(node.url, ids, args.records, rng, token, signer_for(root / PEER_ID, PEER_ID)),
                    node,
                ),
                "hub": (
                    HubMix(hub.url, ids, args.records, rng, coordinator, signer_for(root / NODE_ID, NODE_ID)),
                    hub,
                ),
            }
            for name in ["node", "hub"] if args.target == "both" else [args.target]:
                mix, server = mixes[name]
                if args.read_only:
                    mix.kinds = [kind for kind in mix.kinds if kind[0] not in WRITES]
                print(f"{name}: {args.rate:g} req/s for {args.duration:g} s…", flush=True)
                client = Client(mix, args.rate, args.concurrency)
                result = asyncio.run(run_load([client], server.process.pid, args.duration))
                report(name, result, args.rate, args.concurrency)
                failed |= bool(result.errors)
        finally:
            for process in (node, peer, hub):
                if process is not None:
                    process.stop()
    print("FAIL: some requests failed" if failed else "OK: 0 errors")
    return 1 if failed else 0


def push_scenario(args: argparse.Namespace, rng: random.Random) -> int:
    """The coordinator's reads while the members push, on a PostgreSQL hub."""
    from push_load import CoordinatorMix, first_views, push_hub  # imports this module: only once it is loaded

    with tempfile.TemporaryDirectory(prefix="regies-load-") as tmp, push_hub(Path(tmp), args, print) as hub:
        # The members and the coordinator are different clients: pushes waiting for the hub do not hold the
        # connections the coordinator's browser reads over.
        members = Client(CoordinatorMix(hub, args.push_rate, 0, args.per_batch, rng), args.push_rate, args.concurrency)
        coordinator = Client(CoordinatorMix(hub, 0, args.read_rate, args.per_batch, rng), args.read_rate, 6)
        rate = args.push_rate + args.read_rate
        print(
            f"hub on PostgreSQL: {args.push_rate:g} pushes/s of {args.per_batch} activities from {args.regies} "
            f"members, {args.read_rate:g} coordinator reads/s, for {args.duration:g} s; "
            f"load average before {' '.join(f'{value:.2f}' for value in os.getloadavg())}",
            flush=True,
        )
        views = asyncio.run(first_views(coordinator.mix))
        print(f"first views (figures computed): {', '.join(f'{kind} {ms:.0f} ms' for kind, ms in views)}", flush=True)
        result = asyncio.run(run_load([members, coordinator], hub.process.process.pid, args.duration))
        report("hub (PostgreSQL, under pushes)", result, rate, args.concurrency)
        print(f"  load average after {' '.join(f'{value:.2f}' for value in os.getloadavg())}")
    print("FAIL: some requests failed" if result.errors else "OK: 0 errors")
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
