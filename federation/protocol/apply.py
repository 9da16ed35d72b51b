"""Applying replicated records: validate, then one idempotent upsert per batch that keeps only newer versions.

Pull and push both end here, inside the caller's transaction (which also moves the pull checkpoint or records
the inbox batch), so a crash leaves either the whole batch and its checkpoint, or neither.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from federation.schema.records import RECORD_KINDS, RecordEnvelope
from federation.storage.mapping import record_row, tombstone_row
from federation.storage.tables import records


class BatchRejected(Exception):
    """The batch as a whole is refused (nothing is stored); `status` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ApplyResult:
    received: int
    applied: int

    @property
    def ignored(self) -> int:
        return self.received - self.applied


_FEDERATED_KINDS = frozenset(RECORD_KINDS)


def envelope_rows(envelopes: list[Any], sender: str) -> list[dict[str, Any]]:
    """Validate a batch from `sender` into `records` rows; BatchRejected if any record is wrong."""
    rows: list[dict[str, Any]] = []
    seen: set[str] = set()
    for position, raw in enumerate(envelopes):
        try:
            envelope = RecordEnvelope.model_validate(raw)
        except ValidationError as exc:
            raise BatchRejected(422, f"record {position} is not a valid record envelope: {exc.errors()[0]}") from exc
        if envelope.origin != sender:
            raise BatchRejected(
                403, f"record {position} has origin '{envelope.origin}' but the batch is signed by '{sender}'"
            )
        record_id = str(envelope.id)
        if record_id in seen:
            raise BatchRejected(422, f"record {record_id} appears twice in the batch")
        seen.add(record_id)
        if envelope.deleted:
            rows.append(tombstone_row(envelope.kind, envelope.origin, record_id, envelope.version, envelope.updated_at))
            continue
        if envelope.payload is None:
            raise BatchRejected(422, f"record {record_id} is not deleted but has no payload")
        for field in ("origin", "id", "version"):
            if field in envelope.payload and str(envelope.payload[field]) != str(getattr(envelope, field)):
                raise BatchRejected(
                    403 if field == "origin" else 422,
                    f"record {record_id}: payload {field} {envelope.payload[field]!r} contradicts the envelope",
                )
        payload = {**envelope.payload, **envelope.model_dump(include={"origin", "id", "version", "updated_at"})}
        payload["deleted"] = False
        try:
            record = RECORD_KINDS[envelope.kind].record_model.model_validate(payload)
        except ValidationError as exc:
            first = exc.errors()[0]
            raise BatchRejected(
                422, f"record {record_id} ({envelope.kind}) is invalid at {first['loc']}: {first['msg']}"
            ) from exc
        rows.append(record_row(envelope.kind, record))
    return rows


async def apply_rows(connection: AsyncConnection, rows: list[dict[str, Any]]) -> int:
    """Upsert rows keyed by record id; a stored row changes only for a newer version from the same origin."""
    if not rows:
        return 0
    dialect = connection.dialect.name
    statement: Any = postgresql.insert(records) if dialect == "postgresql" else sqlite.insert(records)
    excluded = statement.excluded
    statement = statement.on_conflict_do_update(
        index_elements=[records.c.id],
        set_={column: excluded[column] for column in rows[0] if column not in ("id", "origin")},
        where=(records.c.version < excluded.version) & (records.c.origin == excluded.origin),
    )
    result = await connection.execute(statement, rows)
    return max(int(result.rowcount or 0), 0)
