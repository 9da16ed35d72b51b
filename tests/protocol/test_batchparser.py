"""Pushed batches validated in worker processes: same rows, same refusals, and a node that uses them."""

from __future__ import annotations

import json
import uuid

import pytest

from federation.protocol import persistence, sender
from federation.protocol.apply import BatchRejected
from federation.protocol.batchparser import BatchParser
from federation.schema.records import RECORD_KINDS, Activity
from federation.storage.mapping import replica_values, to_micros
from tests.protocol.conftest import NodeFactory, activity


def batch(origin: str, records: list[Activity], batch_id: str = "batch-0001") -> bytes:
    items = [
        persistence.feed_item(
            json.dumps(origin), "activity", str(r.id), r.version, to_micros(r.updated_at), False, r.model_dump_json()
        )
        for r in records
    ]
    return f'{{"origin":"{origin}","batch_id":"{batch_id}","records":[{",".join(items)}]}}'.encode()


def record(origin: str, n: int) -> Activity:
    return Activity.model_validate(
        {**activity(n), "origin": origin, "id": str(uuid.uuid4()), "version": 1, "updated_at": "2026-01-01T00:00:00Z"}
    )


def _replica(item: Activity) -> tuple[object, ...]:
    return replica_values(RECORD_KINDS["activity"], item, str(item.id))


@pytest.mark.parametrize("workers", [0, 1])
async def test_workers_give_the_same_rows_and_the_same_refusals(workers: int) -> None:
    parser = BatchParser(workers)
    try:
        records = [record("rq-a", n) for n in range(3)]
        parsed = await parser.parse(batch("rq-a", records), "rq-a")
        assert (parsed.origin, parsed.batch_id) == ("rq-a", "batch-0001")
        assert parsed.rows == [replica_values(RECORD_KINDS["activity"], r, str(r.id)) for r in records]

        with pytest.raises(BatchRejected, match="signed by 'rq-b'") as refused:
            await parser.parse(batch("rq-a", records), "rq-b")
        assert refused.value.status == 403
        with pytest.raises(BatchRejected, match="invalid batch") as invalid:
            await parser.parse(b'{"origin":"rq-a","batch_id":"x","records":[]}', "rq-a")
        assert invalid.value.status == 422
    finally:
        parser.close()


async def test_a_node_with_parse_workers_applies_pushed_batches(make_node: NodeFactory) -> None:
    a, b = await make_node("rq-a"), await make_node("rq-b", inbox_parse_workers=2)
    await b.add_peer(a, pull=False)
    await a.add_peer(b, push=True, pull=False)
    created = [await a.create("activities", activity(n)) for n in range(5)]

    assert await sender.push_all(a.context) == {"peer:rq-b": 1}
    assert await b.records("rq-a") == {item["id"]: item for item in created}


async def test_two_batches_applied_in_one_transaction_are_both_stored(database_url: str) -> None:
    from sqlalchemy import func, select

    from federation.plugins import build_plugins
    from federation.protocol.apply import apply_rows
    from federation.record_rules import record_service
    from federation.storage.engine import create_engine
    from federation.storage.migrate import upgrade
    from federation.storage.tables import records

    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        first = [_replica(record("rq-a", n)) for n in range(3)]
        second = [_replica(record("rq-a", n)) for n in range(3, 5)]
        store = record_service(engine, "rq-b", build_plugins(load_entry_points=False))
        async with engine.begin() as connection:
            assert await apply_rows(store, connection, first) == 3
            assert await apply_rows(store, connection, second) == 2  # the staging table starts empty again
            assert await apply_rows(store, connection, first) == 0  # same versions: nothing changes
        async with engine.connect() as connection:
            assert await connection.scalar(select(func.count()).select_from(records)) == 5
            # Replicated bodies arrive as UTF-8 bytes and are stored as the canonical text, never as a blob.
            stored = dict((await connection.execute(select(records.c.id, records.c.body))).all())
            assert stored == {row[2]: row[-1].decode() for row in first + second}
            assert all(isinstance(body, str) for body in stored.values())
    finally:
        await engine.dispose()
