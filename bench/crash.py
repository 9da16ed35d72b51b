"""Crash test: SIGKILL the pulling node, the source node or the hub at random points of a sync, then check the set.

Run by hand:  .venv/bin/python bench/crash.py [--records 20000] [--kills 20] [--target receiver|source|hub|all]
                  [--hub-backend sqlite|postgresql|both] [--postgres-url postgresql+asyncpg://…]

receiver, source: each round starts `regies sync` on the receiver (pages of `--batch` records), waits a random
time, and kills either that process (receiver) or the source's server (source, which is then restarted on the
same port). After the last kill a final sync runs to completion, and a Jepsen-style set checker compares the
receiver's replicas with what the source holds: lost, duplicated and unexpected must all be 0.

hub: `--nodes` régies that joined a hub push their activities through their outboxes (`regies sync
--push-only`, batches of `--batch`) while the hub's server is SIGKILLed at a random point and restarted, on
SQLite and on PostgreSQL (a throwaway database on `--postgres-url`'s server). At the end every régie's
activities must be on the hub exactly once, at their latest version.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path

import repo_root  # noqa: F401  (puts devtools/ on the path before it is imported)

from devtools.hubcrash import run_hub_crashes, temporary_postgres_database
from devtools.loadgen import (
    NodeProcess,
    bulk_load_activities,
    node_env,
    replica_versions,
    run_regies,
    set_checker,
    wait_for_progress,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--kills", type=int, default=20, help="kills per target")
    parser.add_argument("--batch", type=int, default=200, help="records per pulled page")
    parser.add_argument("--target", choices=["receiver", "source", "hub", "all"], default="all")
    parser.add_argument("--hub-backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--nodes", type=int, default=2, help="régies pushing to the hub")
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("REGIES_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"),
        help="a PostgreSQL server where the hub run may create and drop a database",
    )
    parser.add_argument("--seed", type=int, default=20261127)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    targets = ["receiver", "source", "hub"] if args.target == "all" else [args.target]
    failed = False
    for target in targets:
        if target == "hub":
            failed |= run_hub(args, rng)
            continue
        with tempfile.TemporaryDirectory(prefix="regies-crash-") as tmp:
            result = run_target(Path(tmp), target, args, rng)
        print(
            f"{target:>8}: kills={result['kills']} mid-sync={result['mid_sync']} expected={result['expected']} "
            f"found={result['found']} lost={result['lost']} duplicated={result['duplicated']} "
            f"unexpected={result['unexpected']}"
        )
        failed |= any(result[key] for key in ("lost", "duplicated", "unexpected"))
    print("FAIL" if failed else "OK: nothing lost, duplicated or unexpected")
    return 1 if failed else 0


def run_hub(args: argparse.Namespace, rng: random.Random) -> bool:
    """The hub target on each backend; True if anything was lost, duplicated or unexpected."""
    failed = False
    backends = ["sqlite", "postgresql"] if args.hub_backend == "both" else [args.hub_backend]
    origins = [f"crash-regie-{n}" for n in range(1, args.nodes + 1)]
    for backend in backends:
        # SQLite: the hub's database file in its data directory; PostgreSQL: a database made for this run.
        database: AbstractContextManager[str | None] = (
            temporary_postgres_database(args.postgres_url) if backend == "postgresql" else nullcontext(None)
        )
        with tempfile.TemporaryDirectory(prefix="regies-crash-hub-") as tmp, database as url:
            result = run_hub_crashes(
                Path(tmp),
                origins=origins,
                records=args.records,
                kills=args.kills,
                batch=args.batch,
                rng=rng,
                database_url=url,
                say=progress_printer(f"[hub/{backend}]"),
            )
        totals = result.totals()
        print(
            f"hub/{backend}: kills={result.kills} mid-push={result.mid_push} régies={len(origins)} "
            f"expected={totals['expected']} found={totals['found']} lost={totals['lost']} "
            f"duplicated={totals['duplicated']} unexpected={totals['unexpected']}"
        )
        failed |= result.failed
    return failed


def progress_printer(prefix: str) -> Callable[[str], None]:
    return lambda line: print(f"{prefix} {line}", flush=True)


def run_target(tmp: Path, target: str, args: argparse.Namespace, rng: random.Random) -> dict[str, int]:
    source_dir, receiver_dir = tmp / "source", tmp / "receiver"
    run_regies(source_dir, "init", "--node-id", "crash-source")
    run_regies(receiver_dir, "init", "--node-id", "crash-receiver")
    print(f"[{target}] loading {args.records} activities into the source…", flush=True)
    expected = bulk_load_activities(source_dir, "crash-source", args.records)
    source = NodeProcess(source_dir, REGIES_FEDERATION__WORKER="false")
    receiver = NodeProcess(receiver_dir, REGIES_FEDERATION__WORKER="false")
    try:
        run_regies(receiver_dir, "peer", "add", source.url, "--yes")
        run_regies(source_dir, "peer", "add", receiver.url, "--yes")
    finally:
        receiver.stop()
    sync_env = {"REGIES_FEDERATION__BATCH_SIZE": str(args.batch), "REGIES_FEDERATION__REQUEST_TIMEOUT_S": "5"}
    kills = mid_sync = rounds = 0
    try:
        while kills < args.kills and rounds < 3 * args.kills:
            rounds += 1
            if len(replica_versions(receiver_dir, "crash-source")) >= len(expected):
                # Caught up: start over so every kill lands during a sync.
                wipe_replicas(receiver_dir)
            puller = subprocess.Popen(
                [sys.executable, "-m", "federation", "--data-dir", str(receiver_dir), "sync", "--pull-only"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=node_env(**sync_env),
            )
            # Kill after the receiver's first write of the round plus a random delay: kills land all over the pull.
            wait_for_progress(lambda: len(replica_versions(receiver_dir, "crash-source")), [puller])
            time.sleep(rng.uniform(0.0, 0.5))
            if target == "receiver":
                if puller.poll() is None:
                    puller.send_signal(signal.SIGKILL)
                    kills += 1
                puller.wait()
            else:
                source.kill()
                kills += 1
                puller.wait(timeout=120)
                source = NodeProcess(source_dir, port=source.port, REGIES_FEDERATION__WORKER="false")
            count = len(replica_versions(receiver_dir, "crash-source"))
            mid_sync += 0 < count < len(expected)
            print(f"[{target}] round {rounds}, kills {kills}/{args.kills}: receiver holds {count} replicas", flush=True)
        run_regies(receiver_dir, "sync", "--pull-only", **sync_env)
    finally:
        source.stop()
    check = set_checker(expected, replica_versions(receiver_dir, "crash-source"))
    return {"kills": kills, "mid_sync": mid_sync, **check}


def wipe_replicas(data_dir: Path) -> None:
    """Forget everything pulled so far (rows and checkpoint), so the next round syncs from the start again."""
    from sqlalchemy import create_engine, delete, update

    from federation.storage.tables import peers, records

    engine = create_engine(f"sqlite:///{data_dir / 'regies.db'}")
    with engine.begin() as connection:
        connection.execute(delete(records).where(records.c.origin == "crash-source"))
        connection.execute(update(peers).values(cursor=None))
    engine.dispose()


if __name__ == "__main__":
    raise SystemExit(main())
