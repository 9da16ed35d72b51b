"""Benchmark of a node's reads while it pulls a backlog: how long a read through its engine takes during the pull,
against the same read on the same node when idle.

What it stands for: while `regies sync` (or the server's sync worker) writes a peer's pages, the node's other work
still reads its database through the engine: every signed request it answers looks up its peer, the API checks
tokens, `regies peers` lists peers. On SQLite such a read must not wait for the pull's writer process, which holds
a transaction across several pages of the feed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from load import percentile
from sync import (
    RECEIVER_ID,
    REGIES,
    SOURCE_ID,
    bulk_load,
    node_env,
    pin_receiver_on_source,
    regies,
    start_server,
)

from federation.config import load_settings
from federation.protocol import persistence
from federation.storage.engine import create_engine


async def read_latencies(database_url: str, going_on: Callable[[], bool], interval: float) -> list[float]:
    """Milliseconds taken by each peer lookup (what answering a signed request reads first), one every `interval`
    seconds, as long as `going_on()`."""
    engine = create_engine(database_url)
    latencies: list[float] = []
    try:
        while going_on():
            started = time.perf_counter()
            if await persistence.get_peer(engine, SOURCE_ID) is None:
                raise RuntimeError("the receiver does not know the source")
            latencies.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(interval)
    finally:
        await engine.dispose()
    return latencies


def describe(latencies: list[float]) -> tuple[float, float, float]:
    return percentile(latencies, 0.5), percentile(latencies, 0.95), max(latencies)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--records", type=int, default=100_000, help="activities the receiver pulls (default 100000)")
    parser.add_argument("--batch", type=int, default=2000, help="records per feed page (default 2000, as a node)")
    parser.add_argument("--interval", type=float, default=0.02, help="seconds between two reads (default 0.02)")
    parser.add_argument("--idle-seconds", type=float, default=3.0, help="length of the idle baseline (default 3)")
    args = parser.parse_args()
    if args.records < 1 or not 1 <= args.batch <= 5000 or args.interval <= 0 or args.idle_seconds <= 0:
        parser.error("--records >= 1, --batch 1..5000, --interval and --idle-seconds > 0")

    print(
        f"bench/reads_during_pull.py  records={args.records} batch={args.batch} interval={args.interval}s  "
        f"load average {' '.join(f'{value:.2f}' for value in os.getloadavg())}",
        flush=True,
    )
    root = Path(tempfile.mkdtemp(prefix="regies-bench-reads-"))
    env = node_env(args.batch)
    source_dir, receiver_dir = root / "source", root / "receiver"
    try:
        regies(source_dir, "init", "--node-id", SOURCE_ID, "--name", "Régie source (banc d'essai)", env=env)
        regies(receiver_dir, "init", "--node-id", RECEIVER_ID, "--name", "Régie réceptrice (banc d'essai)", env=env)
        bulk_load(source_dir, args.records, 1, keep_rows=False)
        pin_receiver_on_source(source_dir, receiver_dir)
        server = start_server(source_dir, env, root / "source-server.log")
        try:
            regies(receiver_dir, "peer", "add", server.base, "--yes", env=env)
            database_url = load_settings(data_dir=receiver_dir).database_url
            idle_until = time.monotonic() + args.idle_seconds
            idle = asyncio.run(read_latencies(database_url, lambda: time.monotonic() < idle_until, args.interval))
            argv = [str(REGIES), "--data-dir", str(receiver_dir), "sync", SOURCE_ID, "--pull-only"]
            started = time.perf_counter()
            sync = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            during = asyncio.run(read_latencies(database_url, lambda: sync.poll() is None, args.interval))
            wall = time.perf_counter() - started
            if sync.wait() != 0:
                raise RuntimeError(f"sync failed: {sync.stderr.read().decode() if sync.stderr else ''}")
        finally:
            server.stop()
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(root, ignore_errors=True)

    idle_median, idle_p95, idle_max = describe(idle)
    median, p95, worst = describe(during)
    print(
        f"  idle node: {len(idle)} reads, median {idle_median:.1f} ms, 95th percentile {idle_p95:.1f} ms, "
        f"max {idle_max:.1f} ms"
    )
    print(
        f"  during the pull ({wall:.1f} s): {len(during)} reads, median {median:.1f} ms, 95th percentile "
        f"{p95:.1f} ms, max {worst:.1f} ms"
    )
    print(
        f"ratio to idle: median {median / idle_median:.1f}, 95th percentile {p95 / idle_p95:.1f}, "
        f"max {worst / idle_max:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
