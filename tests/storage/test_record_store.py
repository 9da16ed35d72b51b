"""The record service's store: versions, change log written in the same transaction, replicas read-only, migrations."""

from __future__ import annotations

from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import insert, select

from federation.config import Settings
from federation.plugins import build_plugins
from federation.problems import Problem
from federation.record_rules import record_service
from federation.schema.records import RECORD_KINDS, Activity, SharedResource
from federation.storage import migrate
from federation.storage.engine import create_engine
from federation.storage.mapping import record_row, replica_values
from federation.storage.reader import ListQuery, open_reader
from federation.storage.records import WriteConflict
from federation.storage.service import RecordService
from federation.storage.tables import changes, record_revisions, records, tokens

RESOURCE = {"kind": "tool", "name": "Perforateur"}


def _build(fields: dict[str, Any]) -> Any:
    return lambda _previous, envelope: SharedResource.model_validate({**fields, **envelope})


def _service(engine: Any) -> RecordService:
    return record_service(engine, "rq-test", build_plugins(load_entry_points=False))


@pytest.fixture
async def engine(settings: Settings, admin_token: str) -> Any:
    engine = create_engine(settings.database_url)
    yield engine
    await engine.dispose()


async def _log(engine: Any) -> list[tuple[str, int, bool]]:
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(changes.c.id, changes.c.version, changes.c.deleted)
            .where(changes.c.kind == "resource")
            .order_by(changes.c.seq)
        )
        return [tuple(row) for row in rows]


async def test_every_write_appends_to_the_change_log(engine: Any) -> None:
    store = _service(engine)
    created = await store.create("resource", RESOURCE, "test")
    updated = await store.replace("resource", created.id, {**RESOURCE, "name": "Perceuse"}, "test")
    deleted = await store.delete("resource", created.id)
    assert (created.version, updated.version, deleted.version) == (1, 2, 3)
    assert await _log(engine) == [(created.id, 1, False), (created.id, 2, False), (created.id, 3, True)]


async def test_a_failing_write_leaves_neither_record_nor_change(engine: Any) -> None:
    store = _service(engine)
    created = await store.create_built("resource", _build(RESOURCE))

    def explode(_previous: Any, _envelope: Any) -> Any:
        raise WriteConflict("refused by a rule")

    with pytest.raises(WriteConflict):
        await store.replace_built("resource", created.id, explode)
    with pytest.raises(WriteConflict):
        await store.create_built("resource", explode)
    assert await _log(engine) == [(created.id, 1, False)]


async def test_replicas_are_read_only_and_queryable(engine: Any, settings: Settings) -> None:
    replica = Activity.model_validate(
        {
            "origin": "rq-voisine",
            "id": uuid4(),
            "version": 4,
            "updated_at": "2026-01-01T00:00:00Z",
            "category": "mediation",
            "service_type": "night_correspondents",
            "title": "Correspondants de nuit",
        }
    )
    async with engine.begin() as connection:
        await connection.execute(insert(records).values(**record_row(RECORD_KINDS["activity"], replica)))
    store = _service(engine)
    with pytest.raises(WriteConflict, match="rq-voisine"):
        await store.delete("activity", str(replica.id))
    reader = await open_reader(engine, settings.database_url)
    try:
        page = await reader.page(ListQuery(kind="activity", equals={"origin": "rq-voisine"}))
        row = await reader.get("activity", str(replica.id), "rq-voisine")
    finally:
        await reader.close()
    assert len(page) == 1
    assert row is not None and row.origin == "rq-voisine" and row.version == 4


async def test_migrations_are_idempotent(engine: Any) -> None:
    before, after = await migrate.upgrade(engine)
    assert before == after == migrate.head_revision()


async def test_tokens_are_stored_hashed(engine: Any, admin_token: str) -> None:
    async with engine.connect() as connection:
        stored = [tuple(row) for row in await connection.execute(select(tokens))]
    assert stored
    assert all(admin_token not in str(value) for row in stored for value in row)


async def test_create_many_writes_all_records_and_their_changes_or_nothing(engine: Any) -> None:
    store = _service(engine)
    names = ["Perforateur", "Tondeuse", "Escabeau"]
    created = await store.create_many("resource", [{**RESOURCE, "name": name} for name in names], "test")
    assert [stored.version for stored in created] == [1, 1, 1]
    assert await _log(engine) == [(stored.id, 1, False) for stored in created]

    with pytest.raises(Problem) as refused:
        await store.create_many("resource", [RESOURCE, {**RESOURCE, "kind": "spaceship"}], "test")
    assert refused.value.status == 422
    assert len(await _log(engine)) == 3  # the batch with a refused record wrote nothing


async def _revisions(engine: Any) -> dict[tuple[str, str], int]:
    async with engine.connect() as connection:
        rows = await connection.execute(select(record_revisions))
        return {(kind, origin): revision for kind, origin, revision in rows}


def _neighbours_activity(origin: str, version: int, record_id: Any) -> tuple[Any, ...]:
    activity = Activity.model_validate(
        {
            "origin": origin,
            "id": record_id,
            "version": version,
            "updated_at": "2026-01-01T00:00:00Z",
            "category": "mediation",
            "service_type": "night_correspondents",
            "title": "Correspondants de nuit",
        }
    )
    return replica_values(RECORD_KINDS["activity"], activity, str(record_id))


async def test_every_write_increases_the_revision_of_its_kind_and_origin_and_a_failed_one_does_not(
    engine: Any,
) -> None:
    """What a reader relies on to know that nothing of an origin's records of a kind changed (the hub's activity
    counts): each committed write, local or replicated, moves its (kind, origin) revision; a refused one does not."""
    store = _service(engine)
    before = await _revisions(engine)
    assert ("resource", "rq-test") not in before

    created = await store.create("resource", RESOURCE, "test")
    await store.replace("resource", created.id, {**RESOURCE, "name": "Perceuse"}, "test")
    await store.delete("resource", created.id)
    await store.create_many("resource", [RESOURCE, {**RESOURCE, "name": "Tondeuse"}], "test")
    assert (await _revisions(engine))[("resource", "rq-test")] == 4

    def explode(_previous: Any, _envelope: Any) -> Any:
        raise WriteConflict("refused by a rule")

    with pytest.raises(WriteConflict):
        await store.create_built("resource", explode)
    assert (await _revisions(engine))[("resource", "rq-test")] == 4

    first, second = uuid4(), uuid4()
    async with engine.begin() as connection:  # one batch, two origins: each origin's revision moves once
        await store.apply_replicas(
            connection,
            [
                _neighbours_activity("rq-voisine", 1, first),
                _neighbours_activity("rq-voisine", 1, second),
                _neighbours_activity("rq-lointaine", 1, first),
            ],
        )
    async with engine.begin() as connection:
        await store.apply_replicas(connection, [_neighbours_activity("rq-voisine", 2, first)])
    with pytest.raises(RuntimeError):
        async with engine.begin() as connection:  # rolled back: neither the rows nor the revision
            await store.apply_replicas(connection, [_neighbours_activity("rq-lointaine", 2, first)])
            raise RuntimeError("the batch's claim failed")
    revisions = await _revisions(engine)
    assert revisions[("activity", "rq-voisine")] == 2
    assert revisions[("activity", "rq-lointaine")] == 1
    assert {key: value for key, value in revisions.items() if key not in before} == {
        ("resource", "rq-test"): 4,
        ("activity", "rq-voisine"): 2,
        ("activity", "rq-lointaine"): 1,
    }
