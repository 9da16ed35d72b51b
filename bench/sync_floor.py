"""The CPU floor of a replicated record: each stage of a pull measured alone on one core, and the highest rate
two cores could reach if nothing else cost anything.

bench/sync.py times the real thing and prints the CPU its processes spent per record; this benchmark asks the
other question: what the unavoidable work costs by itself, without the HTTP exchange, the signatures, the
processes' hand-offs or the other processes sharing the machine. Stages, on pages built exactly as a serving
node sends them (bench/pull_page.py):

- serving node: the feed query (`persistence.feed_sql`) over plain sqlite3, rows in and envelopes out;
- receiver: pydantic validation of the page (`apply.parse_page`) and row building (`apply.wire_rows`);
- receiver: the idempotent upsert (`upsert.SQLITE_UPSERT_SQL`) with the writer process's pragmas and group
  commits (`puller.GROUP_ROWS` rows per transaction) into a table with the node's indexes;
- the start-up of `regies sync` (a new process, on a node with no peers: imports, settings, database).

Each stage is timed in CPU seconds (user + system) of this process, as a mean over its repeats: a sync pays the
mean, not the best case. The baseline, measured in the same run, is bench/sync.py's: raw sqlite3 `executemany`
of the same rows, 1,000 per transaction. The figures are a lower bound for a pull: every real cost left out
(HTTP, signatures, nonces, frames between processes, the event loop) only adds to them.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from pull_page import build_page
from sync import RATE_TARGET, SOURCE_ID, executemany_baseline, header, regies

from federation.protocol.apply import parse_page, wire_rows
from federation.protocol.persistence import feed_sql, feed_visibility
from federation.protocol.puller import GROUP_ROWS
from federation.protocol.sqlite_writer import PRAGMAS
from federation.schema.records import CORE_KINDS
from federation.storage.upsert import RECORD_COLUMNS, SQLITE_UPSERT_SQL, Row

CORES = 2  # the machine class the target is set for
RECEIVER_ID = "bench-receiver"


def remove_database(path: Path) -> None:
    """An SQLite file gone with its WAL and shared-memory files (stages repeat on the same names)."""
    for suffix in ("", "-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)


@contextmanager
def fresh_database(directory: Path, name: str) -> Iterator[sqlite3.Connection]:
    """A new SQLite file with the node's `records` and `changes` tables (its own DDL and indexes), in WAL mode."""
    from sqlalchemy import create_engine

    from federation.storage.tables import changes, metadata, records

    path = directory / name
    remove_database(path)
    engine = create_engine(f"sqlite:///{path}")
    metadata.create_all(engine, tables=[records, changes])
    engine.dispose()
    connection = sqlite3.connect(path, isolation_level=None)
    try:
        yield connection
    finally:
        connection.close()


def cpu_seconds(stage: Callable[[], Any]) -> float:
    started = time.process_time()
    stage()
    return time.process_time() - started


def upsert_all(connection: sqlite3.Connection, rows: list[Row], group: int, statement: str) -> None:
    for first in range(0, len(rows), group):
        connection.execute("BEGIN IMMEDIATE")
        connection.executemany(statement, rows[first : first + group])
        connection.execute("COMMIT")


def receiver_stages(pages: list[bytes]) -> tuple[float, float]:
    """CPU seconds of validating every page, then of building the rows of the validated pages."""
    validated: list[Any] = []
    gc.disable()  # as during a pull (apply.gc_paused)
    try:
        validation = cpu_seconds(lambda: validated.extend(map(parse_page, pages)))
        rows_building = cpu_seconds(lambda: [wire_rows(page.records, SOURCE_ID) for page in validated])
        validated.clear()  # freed while the collector is still off, as apply.page_rows does
    finally:
        gc.enable()
    return validation, rows_building


def writer_stage(directory: Path, rows: list[Row]) -> float:
    """CPU seconds of the writer's work for `rows`: its pragmas, GROUP_ROWS per transaction, into empty tables."""
    with fresh_database(directory, "writer.db") as connection:
        for pragma in PRAGMAS:
            connection.execute(f"PRAGMA {pragma}")
        return cpu_seconds(lambda: upsert_all(connection, rows, GROUP_ROWS, SQLITE_UPSERT_SQL))


def baseline_stage(directory: Path, rows: list[Row]) -> float:
    """CPU seconds of bench/sync.py's baseline for the same rows (their bodies as text, as the node stores them)."""
    path = directory / "baseline.db"
    remove_database(path)
    named = [dict(zip(RECORD_COLUMNS, (*row[:-1], row[-1].decode()), strict=True)) for row in rows]
    return executemany_baseline(path, named, 1000, clock=time.process_time)


def feed_stage(connection: sqlite3.Connection, total: int, limit: int) -> float:
    """CPU seconds to read the whole feed, `limit` envelopes per query, as the serving node's reader does."""
    sql = feed_sql("sqlite", feed_visibility(CORE_KINDS, reader_is_hub=False), as_bytes=True)
    params: dict[str, Any] = {
        "origin": SOURCE_ID,
        "quoted_origin": json.dumps(SOURCE_ID),
        "limit": limit,
        "reader": RECEIVER_ID,
    }

    def read_all() -> None:
        since, read = 0, 0
        while read < total:
            page = connection.execute(sql, {**params, "since": since}).fetchall()
            if not page:
                raise RuntimeError(f"the feed ended after {read} of {total} records")
            read += len(page)
            since = page[-1][0]

    return cpu_seconds(read_all)


def source_database(directory: Path, rows: list[Row]) -> sqlite3.Connection:
    """A serving node's tables holding `rows` as its own records, each with its change-log entry."""
    with fresh_database(directory, "source.db") as connection:
        upsert_all(connection, rows, GROUP_ROWS, SQLITE_UPSERT_SQL)
        connection.execute(
            "INSERT INTO changes (kind, origin, id, version, deleted, committed_at_us) "
            "SELECT kind, origin, id, version, deleted, 0 FROM records ORDER BY rid"
        )
    return sqlite3.connect(f"file:{directory / 'source.db'}?mode=ro", uri=True)


def startup_seconds(directory: Path, runs: int) -> float:
    """Mean wall time of `regies sync --pull-only` on a node with no peers: the fixed cost of the command."""
    data_dir = directory / "node"
    env = {**os.environ, "REGIES_FEDERATION__WORKER": "false"}
    regies(data_dir, "init", "--node-id", RECEIVER_ID, "--name", "Régie de mesure", env=env)
    argv = [sys.executable, "-m", "federation", "--data-dir", str(data_dir), "sync", "--pull-only"]
    walls = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(argv, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        walls.append(time.perf_counter() - started)
    return statistics.mean(walls)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pages", type=int, default=20, help="distinct feed pages (default 20)")
    parser.add_argument("--batch", type=int, default=1000, help="records per page (default 1000)")
    parser.add_argument("--repeats", type=int, default=3, help="passes over all pages per stage (default 3)")
    parser.add_argument("--records", type=int, default=100_000, help="records of the sync to project (default 100000)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    if min(args.pages, args.batch, args.repeats, args.records) < 1:
        parser.error("--pages, --batch, --repeats and --records must be >= 1")
    print(header(args, "bench/sync_floor.py"))

    pages = [build_page(args.batch, args.seed + index) for index in range(args.pages)]
    rows = [row for raw in pages for row in wire_rows(parse_page(raw).records, SOURCE_ID)]
    total = len(rows)
    print(f"  {args.pages} pages of {args.batch:,} activities ({total:,} records, {sum(map(len, pages)):,} bytes)")

    receiver_stages(pages[:1])  # warm-up: first calls build caches (pydantic, regexes) that a long pull has
    samples: dict[str, list[float]] = {"feed": [], "validation": [], "rows": [], "writer": [], "baseline": []}
    with tempfile.TemporaryDirectory(prefix="regies-bench-floor-") as tmp:
        directory = Path(tmp)
        source = source_database(directory, rows)
        try:
            for _ in range(args.repeats):
                # Interleaved, so that the machine's drift hits every stage alike.
                samples["baseline"].append(baseline_stage(directory, rows))
                samples["feed"].append(feed_stage(source, total, args.batch))
                validation, rows_building = receiver_stages(pages)
                samples["validation"].append(validation)
                samples["rows"].append(rows_building)
                samples["writer"].append(writer_stage(directory, rows))
        finally:
            source.close()
        startup = startup_seconds(directory, runs=3)

    per_record = {stage: statistics.mean(values) / total * 1e6 for stage, values in samples.items()}
    baseline = per_record.pop("baseline")
    print(f"[baseline] raw sqlite3 executemany, 1000 per transaction: {baseline:.1f} µs of CPU per record")
    labels = {
        "feed": "serving node: feed query",
        "validation": "receiver: pydantic validation of the page",
        "rows": "receiver: row building (checks, canonical bodies)",
        "writer": f"receiver: idempotent upsert, {GROUP_ROWS:,} rows per transaction",
    }
    for stage, label in labels.items():
        print(f"  {label:52s} {per_record[stage]:6.1f} µs/record  ratio {per_record[stage] / baseline:.2f}")
    floor = sum(per_record.values())
    print(f"  {'floor: the four stages together':52s} {floor:6.1f} µs/record  ratio {floor / baseline:.2f}")
    print(f"  start-up of `regies sync` (no peers, mean of 3, wall): {startup:.2f} s")

    loop_ceiling = CORES / floor * 1e6
    whole_seconds = startup + args.records * floor / CORES / 1e6
    whole_ceiling = args.records / whole_seconds
    loop_budget = CORES / RATE_TARGET * 1e6
    whole_budget = (args.records / RATE_TARGET - startup) * CORES / args.records * 1e6
    print(
        f"with {CORES} cores busy all the time on these stages alone: at most {loop_ceiling:,.0f} records/s for the "
        f"pull loop and {whole_ceiling:,.0f} for a whole `regies sync` of {args.records:,} records"
    )
    print(
        f"{RATE_TARGET:,} records/s allows {loop_budget:.1f} µs of CPU per record for the loop and "
        f"{whole_budget:.1f} µs for the whole command; the floor is {floor:.1f} µs "
        f"({floor / loop_budget:.2f} and {floor / whole_budget:.2f} of those budgets)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
