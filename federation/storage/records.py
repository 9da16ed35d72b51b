"""What a record write answers: the stored record, or the domain error that refused it; and the node's settings rows
(`node_meta`).

The writes themselves belong to the record service (federation/storage/service.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.storage.tables import node_meta

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


class ReplicaConflict(WriteConflict):
    """Replicated rows would give an origin a second live profile (the caller's transaction stores none of them)."""


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


def stored_record(row: dict[str, Any]) -> StoredRecord:
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
