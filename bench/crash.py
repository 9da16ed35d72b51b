"""Crash test: SIGKILL the pulling node or the source node at random points of a sync, then check the set.

Run by hand:  .venv/bin/python bench/crash.py [--records 20000] [--kills 20] [--target receiver|source|both]

Each round starts `regies sync` on the receiver (pages of `--batch` records), waits a random time, and kills
either that process (receiver) or the source's server (source, which is then restarted on the same port).
After the last kill a final sync runs to completion, and a Jepsen-style set checker compares the receiver's
replicas with what the source holds: lost, duplicated and unexpected must all be 0.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from federation.loadgen import (
    NodeProcess,
    bulk_load_activities,
    node_env,
    replica_versions,
    run_regies,
    set_checker,
)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=20000)
    parser.add_argument("--kills", type=int, default=20, help="kills per target")
    parser.add_argument("--batch", type=int, default=200, help="records per pulled page")
    parser.add_argument("--target", choices=["receiver", "source", "both"], default="both")
    parser.add_argument("--seed", type=int, default=20261127)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    targets = ["receiver", "source"] if args.target == "both" else [args.target]
    failed = False
    for target in targets:
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
            time.sleep(rng.uniform(0.7, 2.0))
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
