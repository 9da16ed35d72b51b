"""Many régies pushing at once to two hub processes sharing one PostgreSQL database: every record arrives
exactly once, duplicated deliveries are recognised, and the national table equals the ground truth.

The short version of `bench/hub_scale.py` (200 régies), run in CI.
"""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from regies_hub import aggregates
from regies_hub.aggregates import Scope
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from devtools.hub_simulation import enrol, make_regies, push_all
from devtools.loadgen import NodeProcess, run_regies
from federation.indicators import parse_period_key
from federation.storage.engine import create_engine
from federation.storage.tables import records
from tests.prerequisites import dsn


@pytest.fixture
async def hub_database(postgres_admin_url: str) -> AsyncIterator[str]:
    name = f"regies_scale_{secrets.token_hex(4)}"
    connection = await asyncpg.connect(dsn(postgres_admin_url))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
        yield make_url(postgres_admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await connection.close()


async def test_concurrent_pushes_to_two_hub_processes(tmp_path: Path, hub_database: str) -> None:
    hub_dir = tmp_path / "hub"
    env = {"REGIES_DATABASE__URL": hub_database, "REGIES_FEDERATION__WORKER": "false"}
    await asyncio.to_thread(run_regies, hub_dir, "hub", "init", **env)
    regies, truth = make_regies(count=24, batches=3, per_batch=40)
    engine = create_engine(hub_database)
    processes: list[NodeProcess] = []
    try:
        await enrol(engine, regies)
        processes = [await asyncio.to_thread(NodeProcess, hub_dir, None, **env) for _ in range(2)]
        report = await push_all(regies, [process.url for process in processes], duplicate_every=2)
        assert report.errors == []
        assert report.sent == 24 * 3
        assert report.duplicates_sent == report.answered_duplicate == 24 * 2

        expected = {record_id: regie.node_id for regie in regies for record_id in regie.ids}
        async with engine.connect() as connection:
            rows = (
                await connection.execute(select(records.c.id, records.c.origin).where(records.c.kind == "activity"))
            ).all()
            distinct = await connection.scalar(
                select(func.count(func.distinct(records.c.id))).where(records.c.kind == "activity")
            )
        assert len(rows) == distinct == len(expected)  # nothing duplicated
        assert {record_id: origin for record_id, origin in rows} == expected  # nothing lost, nothing foreign

        table = await aggregates.activity_table(engine, parse_period_key("2026"), Scope())
        detail = Counter(
            {
                (row["area"], row["category"], row["service_type"]): row["activities"]
                for row in table
                if row["area"] and row["category"] and row["service_type"]
            }
        )
        assert detail == truth
        total = next(row for row in table if row["area"] is None and row["category"] is None)
        assert total["activities"] == len(expected) and total["regies"] == len(regies)
    finally:
        for process in processes:
            await asyncio.to_thread(process.stop)
        await engine.dispose()
