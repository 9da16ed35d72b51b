"""The statements that change `records`, `changes` and `record_revisions`, owned by the record service
(federation/storage/service.py).

Nothing else imports this module (tests/storage/test_write_path.py enumerates the call sites): a local write bumps
the version and appends to the change log in one transaction; replicated rows go in with the idempotent upsert of
federation/storage/upsert.py, inside the caller's transaction. Either way the written (kind, origin) pairs' revisions
increase in the same transaction, first.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any
from uuid import UUID, uuid4

from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from federation.schema.kinds import RecordKind
from federation.schema.records import utcnow
from federation.storage.mapping import change_row, record_row, tombstone_row
from federation.storage.records import (
    RecordBuilder,
    RecordGone,
    RecordNotFound,
    ReplicaConflict,
    StoredRecord,
    VersionMismatch,
    WriteConflict,
    stored_record,
)
from federation.storage.tables import changes, records
from federation.storage.upsert import (
    POSTGRES_STAGE,
    POSTGRES_STAGE_DDL,
    POSTGRES_STAGE_UPSERT_SQL,
    RECORD_COLUMNS,
    REVISE_ALL_SQL,
    REVISION_SQL,
    SQLITE_UPSERT_SQL,
    Row,
    revised,
)

# Serialises writers on PostgreSQL so that change-log sequence numbers are handed out in commit order,
# which the feed relies on (a reader must never see seq 11 committed before seq 10). SQLite already has a
# single writer (BEGIN IMMEDIATE).
_CHANGE_LOG_LOCK_KEY = 0x5245_4749  # "REGI"


async def _begin_write(connection: AsyncConnection) -> None:
    if connection.dialect.name == "postgresql":
        await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHANGE_LOG_LOCK_KEY})


_REVISION = text(REVISION_SQL.format(kind=":kind", origin=":origin"))
_POSTGRES_REVISION = REVISION_SQL.format(kind="$1", origin="$2")


async def _revise(connection: AsyncConnection, pairs: Sequence[tuple[str, str]]) -> None:
    """Increase the revision of each (kind, origin) in `pairs` (sorted: counters are locked in that order)."""
    parameters = [{"kind": kind, "origin": origin} for kind, origin in pairs]
    if len(parameters) == 1:  # the usual case (a local write, a member's push): one statement, not a batch of one
        await connection.execute(_REVISION, parameters[0])
    elif parameters:
        await connection.execute(_REVISION, parameters)


async def revise_all(connection: AsyncConnection) -> None:
    """Increase the revision of every (kind, origin) that `records` holds."""
    await connection.execute(text(REVISE_ALL_SQL))


async def _append_change(connection: AsyncConnection, row: dict[str, Any]) -> None:
    await connection.execute(insert(changes).values(**change_row(row)))


async def create(
    engine: AsyncEngine, node_id: str, kind: RecordKind, build: RecordBuilder, record_id: UUID | None = None
) -> StoredRecord:
    envelope = {"origin": node_id, "id": record_id or uuid4(), "version": 1, "updated_at": utcnow(), "deleted": False}
    async with engine.begin() as connection:
        await _begin_write(connection)
        await _revise(connection, [(kind.name, node_id)])
        record = build(None, envelope)
        row = record_row(kind, record)
        await _check_unique(connection, kind, row)
        await connection.execute(insert(records).values(**row))
        await _append_change(connection, row)
    return stored_record(row)


async def create_many(
    engine: AsyncEngine, node_id: str, kind: RecordKind, builds: Sequence[RecordBuilder]
) -> list[StoredRecord]:
    """Create several records in one transaction with two bulk statements (records, then change log): all of them
    or, if one build raises, none. Kinds with a uniqueness rule (a report per period) are not created this way."""
    if kind.unique_per_origin is not None:
        raise ValueError(f"{kind.name} records are created one at a time: each is unique per origin")
    now = utcnow()
    rows = []
    for build in builds:
        envelope = {"origin": node_id, "id": uuid4(), "version": 1, "updated_at": now, "deleted": False}
        rows.append(record_row(kind, build(None, envelope)))
    if rows:
        async with engine.begin() as connection:
            await _begin_write(connection)
            await _revise(connection, [(kind.name, node_id)])
            await connection.execute(insert(records), rows)
            await connection.execute(insert(changes), [change_row(row) for row in rows])
    return [stored_record(row) for row in rows]


async def replace(
    engine: AsyncEngine,
    node_id: str,
    kind: RecordKind,
    record_id: str,
    build: RecordBuilder,
    if_match: int | None = None,
) -> StoredRecord:
    async with engine.begin() as connection:
        await _begin_write(connection)
        await _revise(connection, [(kind.name, node_id)])
        current = await _current(connection, node_id, kind.name, record_id, if_match)
        envelope = {
            "origin": node_id,
            "id": UUID(record_id),
            "version": current["version"] + 1,
            "updated_at": utcnow(),
            "deleted": False,
        }
        record = build(json.loads(current["body"]), envelope)
        row = record_row(kind, record)
        await _check_unique(connection, kind, row)
        await connection.execute(update(records).where(records.c.rid == current["rid"]).values(**row))
        await _append_change(connection, row)
    return stored_record(row)


async def delete(
    engine: AsyncEngine,
    node_id: str,
    kind: RecordKind,
    record_id: str,
    if_match: int | None,
    check: Callable[[dict[str, Any]], None],
) -> StoredRecord:
    """Turn the record into a tombstone; `check(document)` may refuse by raising a RecordError."""
    async with engine.begin() as connection:
        await _begin_write(connection)
        await _revise(connection, [(kind.name, node_id)])
        current = await _current(connection, node_id, kind.name, record_id, if_match)
        check(json.loads(current["body"]))
        # An addressed record's deletion goes to its addressee alone, like the record.
        row = tombstone_row(kind.name, node_id, record_id, current["version"] + 1, utcnow(), current["audience"])
        await connection.execute(update(records).where(records.c.rid == current["rid"]).values(**row))
        await _append_change(connection, row)
    return stored_record(row)


async def live_document(engine: AsyncEngine, node_id: str, kind: str, record_id: str) -> dict[str, Any] | None:
    """This node's own live record, as stored, or None (what a replacement is validated against)."""
    async with engine.connect() as connection:
        body = await connection.scalar(
            select(records.c.body).where(
                records.c.id == record_id,
                records.c.origin == node_id,
                records.c.kind == kind,
                records.c.deleted.is_(False),
            )
        )
    return None if body is None else dict(json.loads(body))


async def _current(
    connection: AsyncConnection, node_id: str, kind: str, record_id: str, if_match: int | None
) -> dict[str, Any]:
    # Only this node's own record: a replica holding the same id is another origin's record.
    query = select(records.c.rid, records.c.version, records.c.deleted, records.c.audience, records.c.body).where(
        records.c.id == record_id, records.c.origin == node_id, records.c.kind == kind
    )
    if connection.dialect.name == "postgresql":
        query = query.with_for_update()
    found = (await connection.execute(query)).mappings().first()
    if found is None:
        owner = await connection.scalar(
            select(records.c.origin).where(records.c.id == record_id, records.c.kind == kind).limit(1)
        )
        if owner is not None:
            raise WriteConflict(
                f"{kind} {record_id} is a replica owned by node '{owner}'; only its origin can change it"
            )
        raise RecordNotFound(f"no {kind} with id {record_id}")
    if found["deleted"]:
        raise RecordGone(f"{kind} {record_id} was deleted")
    if if_match is not None and if_match != found["version"]:
        raise VersionMismatch(if_match, found["version"])
    return dict(found)


async def _check_unique(connection: AsyncConnection, kind: RecordKind, row: dict[str, Any]) -> None:
    """WriteConflict if the kind's uniqueness rule (`unique_per_origin`: a report per period) would be broken."""
    if not kind.unique_per_origin:  # None: no rule; (): one per origin, which an index enforces (storage.tables)
        return
    clash = await connection.scalar(
        select(records.c.id).where(
            records.c.kind == kind.name,
            records.c.origin == row["origin"],
            *(records.c[column] == row[column] for column in kind.unique_per_origin),
            records.c.deleted.is_(False),
            records.c.id != row["id"],
        )
    )
    if clash is not None:
        values = ", ".join(f"{column} {row[column]}" for column in kind.unique_per_origin)
        # "a report for period 2025 already exists": clients and tests read this sentence.
        raise WriteConflict(f"a {kind.name} for {values} already exists (id {clash})")


# --- Replicated rows ----------------------------------------------------------------------------------------

# How each engine names the violated one-profile index in its error (PostgreSQL: the index; SQLite: its column).
_ONE_PROFILE_INDEX = "ix_records_one_profile_per_origin"
_ONE_PROFILE_SQLITE = "UNIQUE constraint failed: records.origin"


async def upsert_replicas(connection: AsyncConnection, rows: list[Row]) -> int:
    """Upsert rows keyed by record identity (origin, id); a stored row changes only for a newer version.

    Returns how many rows were inserted or changed. ReplicaConflict if a row would give its origin a second live
    profile (the transaction is then rolled back by the caller).
    """
    if not rows:
        return 0
    try:
        if connection.dialect.name == "postgresql":
            return await _upsert_postgres(connection, rows)
        await _revise(connection, revised(rows))
        result = await connection.exec_driver_sql(SQLITE_UPSERT_SQL, rows)
    except Exception as exc:
        if _ONE_PROFILE_INDEX in str(exc) or _ONE_PROFILE_SQLITE in str(exc):
            raise ReplicaConflict("replicated rows would give an origin a second live profile") from exc
        raise
    return max(int(result.rowcount or 0), 0)


async def _upsert_postgres(connection: AsyncConnection, rows: list[Row]) -> int:
    # Through SQLAlchemy first: its asyncpg adapter opens the transaction on the first statement, and the
    # staging rows must live in that transaction (ON COMMIT DELETE ROWS).
    await connection.exec_driver_sql(POSTGRES_STAGE_DDL)
    raw = await connection.get_raw_connection()
    driver: Any = raw.driver_connection  # asyncpg, now inside the transaction SQLAlchemy opened
    # The revisions first (upsert.py says why), on the driver too: SQLAlchemy's execution layer around a one-row
    # statement cost a push about half a millisecond of the hub's CPU (bench/load.py, pushes only).
    await driver.executemany(_POSTGRES_REVISION, revised(rows))
    await driver.copy_records_to_table(POSTGRES_STAGE, records=rows, columns=RECORD_COLUMNS)
    status: str = await driver.execute(POSTGRES_STAGE_UPSERT_SQL)  # "INSERT 0 <rows inserted or updated>"
    return int(status.rsplit(" ", 1)[-1])
