"""Record writes: every create, replace or delete bumps the version and appends to the change log atomically."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID, uuid4

from pydantic import BaseModel
from sqlalchemy import insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from federation.schema.kinds import RecordKind
from federation.schema.records import RECORD_KINDS, utcnow
from federation.storage.mapping import change_row, record_row, tombstone_row
from federation.storage.tables import changes, node_meta, records

# Serialises writers on PostgreSQL so that change-log sequence numbers are handed out in commit order,
# which the feed relies on (a reader must never see seq 11 committed before seq 10). SQLite already has a
# single writer (BEGIN IMMEDIATE).
_CHANGE_LOG_LOCK_KEY = 0x5245_4749  # "REGI"


class RecordError(Exception):
    """Base of the domain errors a write can raise; the API maps each to an HTTP status."""


class RecordNotFound(RecordError):
    pass


class RecordGone(RecordError):
    """The record existed and was deleted (it is a tombstone)."""


class VersionMismatch(RecordError):
    def __init__(self, expected: int, actual: int) -> None:
        super().__init__(f"the record is at version {actual}, not {expected}")
        self.expected = expected
        self.actual = actual


class WriteConflict(RecordError):
    """The write is refused in the record's current state (replica, locked report, duplicate period…)."""


@dataclass(frozen=True)
class StoredRecord:
    kind: str
    origin: str
    id: str
    version: int
    deleted: bool
    body: str

    @property
    def etag(self) -> str:
        return f'"{self.id}.{self.version}"'


# Builds the full record from the stored document (None on create) and the new envelope values.
RecordBuilder = Callable[[dict[str, Any] | None, dict[str, Any]], BaseModel]


class RecordStore:
    """Writes records of this node. Reads go through a RecordReader, which is tuned for throughput.

    `kinds`: the record kinds the node knows (its plugins' registry; the core's kinds by default), whose
    declarations say which columns a record fills and which uniqueness rule it obeys.
    """

    def __init__(self, engine: AsyncEngine, node_id: str, kinds: Mapping[str, RecordKind] = RECORD_KINDS) -> None:
        self._engine = engine
        self.node_id = node_id
        self.kinds = kinds

    def _kind(self, name: str) -> RecordKind:
        try:
            return self.kinds[name]
        except KeyError:
            raise ValueError(f"this node knows no record kind '{name}'") from None

    async def _begin_write(self, connection: AsyncConnection) -> None:
        if connection.dialect.name == "postgresql":
            await connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CHANGE_LOG_LOCK_KEY})

    async def _append_change(self, connection: AsyncConnection, row: dict[str, Any]) -> None:
        await connection.execute(insert(changes).values(**change_row(row)))

    async def create(self, kind: str, build: RecordBuilder, record_id: UUID | None = None) -> StoredRecord:
        envelope = {
            "origin": self.node_id,
            "id": record_id or uuid4(),
            "version": 1,
            "updated_at": utcnow(),
            "deleted": False,
        }
        async with self._engine.begin() as connection:
            await self._begin_write(connection)
            record = build(None, envelope)
            row = record_row(self._kind(kind), record)
            await _check_unique(connection, self._kind(kind), row)
            await connection.execute(insert(records).values(**row))
            await self._append_change(connection, row)
        return _stored(row)

    async def create_many(self, kind: str, builds: Sequence[RecordBuilder]) -> list[StoredRecord]:
        """Create several records in one transaction with two bulk statements (records, then change log):
        all of them or, if one build raises, none. Kinds with a uniqueness rule (a report per period) are not
        created this way."""
        declared = self._kind(kind)
        if declared.unique_per_origin is not None:
            raise ValueError(f"{kind} records are created one at a time: each is unique per origin")
        now = utcnow()
        rows = []
        for build in builds:
            envelope = {"origin": self.node_id, "id": uuid4(), "version": 1, "updated_at": now, "deleted": False}
            rows.append(record_row(declared, build(None, envelope)))
        if rows:
            async with self._engine.begin() as connection:
                await self._begin_write(connection)
                await connection.execute(insert(records), rows)
                await connection.execute(insert(changes), [change_row(row) for row in rows])
        return [_stored(row) for row in rows]

    async def replace(
        self, kind: str, record_id: str, build: RecordBuilder, if_match: int | None = None
    ) -> StoredRecord:
        async with self._engine.begin() as connection:
            await self._begin_write(connection)
            current = await self._current(connection, kind, record_id, if_match)
            envelope = {
                "origin": self.node_id,
                "id": UUID(record_id),
                "version": current["version"] + 1,
                "updated_at": utcnow(),
                "deleted": False,
            }
            record = build(json.loads(current["body"]), envelope)
            row = record_row(self._kind(kind), record)
            await _check_unique(connection, self._kind(kind), row)
            await connection.execute(update(records).where(records.c.rid == current["rid"]).values(**row))
            await self._append_change(connection, row)
        return _stored(row)

    async def delete(
        self,
        kind: str,
        record_id: str,
        if_match: int | None = None,
        check: Callable[[dict[str, Any]], None] | None = None,
    ) -> StoredRecord:
        """Turn the record into a tombstone; `check` may refuse by raising a RecordError."""
        async with self._engine.begin() as connection:
            await self._begin_write(connection)
            current = await self._current(connection, kind, record_id, if_match)
            if check is not None:
                check(json.loads(current["body"]))
            # An addressed record's deletion goes to its addressee alone, like the record.
            row = tombstone_row(kind, self.node_id, record_id, current["version"] + 1, utcnow(), current["audience"])
            await connection.execute(update(records).where(records.c.rid == current["rid"]).values(**row))
            await self._append_change(connection, row)
        return _stored(row)

    async def _current(
        self, connection: AsyncConnection, kind: str, record_id: str, if_match: int | None
    ) -> dict[str, Any]:
        # Only this node's own record: a replica holding the same id is another origin's record.
        query = select(records.c.rid, records.c.version, records.c.deleted, records.c.audience, records.c.body).where(
            records.c.id == record_id, records.c.origin == self.node_id, records.c.kind == kind
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


def _stored(row: dict[str, Any]) -> StoredRecord:
    return StoredRecord(row["kind"], row["origin"], row["id"], row["version"], row["deleted"], row["body"])


async def get_meta(engine: AsyncEngine, key: str) -> str | None:
    async with engine.connect() as connection:
        value = await connection.scalar(select(node_meta.c.value).where(node_meta.c.key == key))
        return None if value is None else str(value)


async def set_meta(engine: AsyncEngine, key: str, value: str) -> None:
    async with engine.begin() as connection:
        existing = await connection.scalar(select(node_meta.c.key).where(node_meta.c.key == key))
        if existing is None:
            await connection.execute(insert(node_meta).values(key=key, value=value))
        else:
            await connection.execute(update(node_meta).where(node_meta.c.key == key).values(value=value))
