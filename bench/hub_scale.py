"""Scale check: 200 simulated régies push at once to two hub processes sharing one PostgreSQL database.

Run by hand:  .venv/bin/python bench/hub_scale.py [--regies 200] [--batches 5] [--per-batch 100] [--processes 2]

Every régie pushes its batches concurrently through the real signed inbox, alternating hub processes, and
every fifth batch a second time to another process (a lost acknowledgement). Then the hub's database is
checked like a Jepsen set: lost, duplicated and unexpected records must be 0, and the national activity table
computed by the hub must equal the ground truth of what was generated.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import tempfile
import time
from collections import Counter
from pathlib import Path

import asyncpg
import repo_root  # noqa: F401  (puts devtools/ on the path before it is imported)
from regies_hub import aggregates
from regies_hub.aggregates import Scope
from sqlalchemy import select
from sqlalchemy.engine import make_url

from devtools.hub_simulation import enrol, make_regies, push_all
from devtools.loadgen import NodeProcess, run_regies
from federation.indicators import parse_period_key
from federation.storage.engine import create_engine
from federation.storage.tables import records

ADMIN_URL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--regies", type=int, default=200)
    parser.add_argument("--batches", type=int, default=5)
    parser.add_argument("--per-batch", type=int, default=100)
    parser.add_argument("--processes", type=int, default=2)
    args = parser.parse_args()
    name = f"regies_scale_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(make_url(ADMIN_URL).set(drivername="postgresql").render_as_string(False))
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    processes: list[NodeProcess] = []
    engine = create_engine(url)
    try:
        with tempfile.TemporaryDirectory(prefix="regies-hub-scale-") as tmp:
            hub_dir = Path(tmp) / "hub"
            env = {"REGIES_DATABASE__URL": url, "REGIES_FEDERATION__WORKER": "false"}
            run_regies(hub_dir, "hub", "init", **env)
            started = time.perf_counter()
            regies, truth = make_regies(args.regies, args.batches, args.per_batch)
            total = sum(len(regie.ids) for regie in regies)
            print(
                f"generated {args.regies} régies × {args.batches} batches × {args.per_batch} = {total:,} activities "
                f"in {time.perf_counter() - started:.1f} s"
            )
            await enrol(engine, regies)
            processes = [NodeProcess(hub_dir, **env) for _ in range(args.processes)]
            print(f"hub processes: {', '.join(process.url for process in processes)} (one PostgreSQL database)")
            report = await push_all(regies, [process.url for process in processes])
            print(
                f"pushed {report.sent} batches + {report.duplicates_sent} duplicate deliveries in "
                f"{report.seconds:.1f} s = {total / report.seconds:,.0f} records/s into the hub "
                f"({len(report.errors)} errors; {report.answered_duplicate} duplicates recognised)"
            )
            for error in report.errors[:5]:
                print(f"  error: {error}")
            expected = {record_id for regie in regies for record_id in regie.ids}
            async with engine.connect() as connection:
                found = [
                    row[0] for row in await connection.execute(select(records.c.id).where(records.c.kind == "activity"))
                ]
            present = set(found)
            lost, unexpected, duplicated = len(expected - present), len(present - expected), len(found) - len(present)
            table = await aggregates.activity_table(engine, parse_period_key("2026"), Scope())
            detail = Counter(
                {
                    (r["area"], r["category"], r["service_type"]): r["activities"]
                    for r in table
                    if r["area"] and r["category"] and r["service_type"]
                }
            )
            matches = detail == truth
            print(
                f"set check: expected {len(expected):,} found {len(found):,} lost {lost} duplicated {duplicated} "
                f"unexpected {unexpected}; national table equals the ground truth: {matches}"
            )
            ok = not (lost or unexpected or duplicated or report.errors) and matches
            print("OK" if ok else "FAIL")
            return 0 if ok else 1
    finally:
        for process in processes:
            process.stop()
        await engine.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
