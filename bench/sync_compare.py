"""Alternating timed pulls of two checkouts (or one) on one kept pair of nodes, with each process's CPU time.

Single runs of bench/sync.py differ by 10–20 % on this machine class, more than most changes to the pull: this
benchmark loads the source once, keeps a pristine copy of the receiver, and times `regies sync bench-source
--pull-only` again and again from that copy, alternating the checkout under test with a reference checkout
(`--against`, e.g. a `git worktree` of the previous commit), so that drift hits both alike. It prints, per run,
the wall time and the CPU time of the pulling process, its helper processes and the serving node, and at the end
the mean of each side and their ratio. `--timeline` adds each process's CPU use over the run (which process
waits, which is busy).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sync import (
    PROJECT,
    SOURCE_ID,
    compile_bytecode,
    header,
    init_pair,
    node_env,
    proc_cpu_seconds,
    regies,
    start_server,
)

SAMPLE_S = 0.1


@dataclass
class Run:
    side: str
    wall: float
    source_cpu: float
    cpu: dict[str, float]  # process role → CPU seconds
    timeline: list[tuple[float, dict[str, float]]] = field(default_factory=list)  # (t, role → % of a core)

    @property
    def total_cpu(self) -> float:
        return self.source_cpu + sum(self.cpu.values())


def role(pid: int) -> str:
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return "?"
    for module, name in (("page_parsers", "parser"), ("sqlite_writer", "writer")):
        if module in command:
            return name
    return "sync"


def descendants(pid: int) -> list[int]:
    try:
        children = [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except OSError:
        return []
    return [grandchild for child in children for grandchild in (child, *descendants(child))]


def checkout_env(env: dict[str, str], checkout: Path) -> dict[str, str]:
    # PYTHONPATH comes before the venv's editable install: every process of the run imports this checkout.
    # Older checkouts know no allow_private_addresses (and need none: they contact loopback anyway).
    kept = {key: value for key, value in env.items() if key != "REGIES_FEDERATION__ALLOW_PRIVATE_ADDRESSES"}
    return {**kept, "PYTHONPATH": f"{checkout}{os.pathsep}{checkout / 'plugins'}"}


def prepare(root: Path, records: int, batch: int, seed: int) -> Path:
    """A source with `records` activities and a receiver that pins it; returns the pristine receiver copy."""
    env = node_env(batch)
    source_dir, receiver_dir = root / "source", root / "receiver"
    init_pair(source_dir, receiver_dir, records, seed, keep_rows=False, env=env)
    server = start_server(source_dir, env, root / "source-server.log")
    try:
        regies(receiver_dir, "peer", "add", server.base, "--yes", env=env)
    finally:
        server.stop()
    pristine = root / "receiver-pristine"
    shutil.copytree(receiver_dir, pristine)
    return pristine


def timed_run(root: Path, pristine: Path, side: str, checkout: Path, batch: int, timeline: bool) -> Run:
    env = checkout_env(node_env(batch), checkout)
    receiver_dir = root / "receiver"
    shutil.rmtree(receiver_dir, ignore_errors=True)
    shutil.copytree(pristine, receiver_dir)
    server = start_server(root / "source", env, root / "source-server.log")
    # The server listens on a new port each run: point the pinned peer at it.
    with sqlite3.connect(receiver_dir / "regies.db") as database:
        database.execute("UPDATE peers SET base_url = ? WHERE node_id = ?", (server.base, SOURCE_ID))
    try:
        source_before = proc_cpu_seconds(server.process.pid) or 0.0
        argv = [sys.executable, "-m", "federation", "--data-dir", str(receiver_dir), "sync", SOURCE_ID, "--pull-only"]
        started = time.perf_counter()
        process = subprocess.Popen(
            argv, env=env, cwd=checkout, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        last: dict[int, tuple[str, float]] = {}
        samples: list[tuple[float, float, dict[int, float]]] = []
        while process.poll() is None:
            now = time.perf_counter() - started
            seen = {}
            for pid in (process.pid, *descendants(process.pid)):
                seconds = proc_cpu_seconds(pid)
                if seconds is not None:
                    last[pid] = (last.get(pid, (role(pid), 0.0))[0], seconds)
                    seen[pid] = seconds
            samples.append((now, proc_cpu_seconds(server.process.pid) or 0.0, seen))
            time.sleep(SAMPLE_S)
        wall = time.perf_counter() - started
        output = process.stdout.read().decode(errors="replace") if process.stdout else ""
        source_cpu = (proc_cpu_seconds(server.process.pid) or 0.0) - source_before
    finally:
        server.stop()
    if process.returncode != 0:
        raise RuntimeError(f"the sync ({side}) exited with {process.returncode}:\n{output[-3000:]}")
    by_role: dict[str, float] = {}
    for name, seconds in last.values():
        by_role[name] = by_role.get(name, 0.0) + seconds
    return Run(side, wall, source_cpu, by_role, usage_timeline(samples, last) if timeline else [])


def usage_timeline(
    samples: list[tuple[float, float, dict[int, float]]], last: dict[int, tuple[str, float]]
) -> list[tuple[float, dict[str, float]]]:
    """Each process's CPU use, in % of one core, over steps of half a second."""
    step = max(1, round(0.5 / SAMPLE_S))
    rows = []
    for first in range(0, len(samples) - step, step):
        (t0, source0, cpu0), (t1, source1, cpu1) = samples[first], samples[first + step]
        span = t1 - t0
        use = {"source": (source1 - source0) / span * 100}
        for pid, (name, _) in last.items():
            if pid in cpu0 and pid in cpu1:
                use[name] = use.get(name, 0.0) + (cpu1[pid] - cpu0[pid]) / span * 100
        rows.append((t0, use))
    return rows


ROLES = ("sync", "parser", "writer")


def describe(run: Run) -> str:
    parts = ", ".join(f"{name} {run.cpu.get(name, 0.0):.2f}" for name in ROLES)
    return (
        f"  {run.side:9s} wall {run.wall:6.2f} s   CPU s: {parts}, serving node {run.source_cpu:.2f}, "
        f"total {run.total_cpu:.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000, help="activities on the source (default 100000)")
    parser.add_argument("--batch", type=int, default=2000, help="records per feed page (default 2000, as a node)")
    parser.add_argument("--runs", type=int, default=4, help="timed pulls per side (default 4)")
    parser.add_argument("--against", type=Path, help="reference checkout to alternate with (default: none)")
    parser.add_argument("--timeline", action="store_true", help="print each process's CPU use over each run")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if args.against is not None and not (args.against / "federation" / "__init__.py").is_file():
        parser.error(f"--against {args.against}: not a checkout of this project (no federation/__init__.py)")
    compile_bytecode()
    if args.against is not None:
        compile_command = [sys.executable, "-m", "compileall", "-q", "federation", "plugins"]
        subprocess.run(compile_command, cwd=args.against, check=True)
    print(header(args, script="bench/sync_compare.py"), flush=True)
    sides = [("this", PROJECT)] + ([("reference", args.against.resolve())] if args.against else [])
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="regies-bench-compare-") as tmp:
        root = Path(tmp)
        print(f"[{args.records:,} records] preparing a kept pair of nodes in {root}", flush=True)
        pristine = prepare(root, args.records, args.batch, args.seed)
        for index in range(args.runs):
            # The reference goes first every other round: neither side always follows the other.
            order = sides if index % 2 else sides[::-1]
            for side, checkout in order:
                run = timed_run(root, pristine, side, checkout, args.batch, args.timeline)
                runs.append(run)
                print(describe(run), flush=True)
                for moment, use in run.timeline:
                    columns = "  ".join(f"{name} {use.get(name, 0.0):4.0f}%" for name in (*ROLES, "source"))
                    print(f"      {moment:6.2f} s  {columns}")
    print()
    means = {}
    for side, _ in sides:
        walls = [run.wall for run in runs if run.side == side]
        means[side] = statistics.mean(walls)
        print(
            f"{side}: {len(walls)} run{'s' * (len(walls) > 1)}, wall mean {means[side]:.2f} s "
            f"(min {min(walls):.2f}, max {max(walls):.2f}), "
            f"{args.records / means[side]:,.0f} records/s; total CPU mean "
            f"{statistics.mean(run.total_cpu for run in runs if run.side == side):.2f} s"
        )
    if args.against is not None:
        print(f"ratio this/reference (wall means): {means['this'] / means['reference']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
