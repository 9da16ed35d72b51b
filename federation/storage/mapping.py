"""The one place where wire records (pydantic) become table rows and back."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import BaseModel

from federation.schema.records import Activity, NodeProfile, PeriodReport, ReportReview, SharedResource
from federation.storage.upsert import FILTER_COLUMNS, RECORD_COLUMNS

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_micros(moment: dt.datetime) -> int:
    """Microseconds since the Unix epoch: a dialect-neutral, sortable timestamp column."""
    # Subtracting aware datetimes accounts for their offsets; only a naive one needs astimezone (local time).
    delta = (moment if moment.tzinfo is not None else moment.astimezone(dt.UTC)) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=micros)


def canonical_json(record: BaseModel) -> bytes:
    """The canonical JSON document of a record, as UTF-8 bytes."""
    # model_dump_json() with its defaults, without its keyword plumbing (this runs for every replicated record).
    return record.__pydantic_serializer__.to_json(record)


def encode_body(record: BaseModel) -> str:
    """The canonical JSON document stored in `records.body` and served as-is."""
    return canonical_json(record).decode()


_NO_FILTERS: tuple[Any, ...] = (None,) * len(FILTER_COLUMNS)


def filter_values(record: BaseModel) -> tuple[Any, ...]:
    """The fields the API filters on, copied into their own columns (in FILTER_COLUMNS order)."""
    # Replication maps every received record through here: plain tuples, no per-record dict.
    if isinstance(record, Activity):
        return activity_filters(record)
    if isinstance(record, SharedResource):
        return (None, None, record.status, record.place.commune, record.kind, None, None, None, None)
    if isinstance(record, PeriodReport):
        return (None, None, record.state, None, None, record.period.key, None, None, None)
    if isinstance(record, NodeProfile):
        return (None, None, record.label_status, record.commune, None, None, None, None, None)
    if isinstance(record, ReportReview):
        return (None, None, record.decision, None, None, None, None, None, record.report_origin)
    return _NO_FILTERS


def activity_filters(record: Any) -> tuple[Any, ...]:
    """An activity's FILTER_COLUMNS values; `record` is an Activity or anything with its fields (the fast path's
    structs, federation.protocol.fastpage)."""
    start, end = record.start_date, record.end_date
    return (
        record.category,
        record.service_type,
        record.status,
        record.place.commune,
        None,
        None,
        start.isoformat() if start else None,
        end.isoformat() if end else None,
        None,
    )


def filter_columns(record: BaseModel) -> dict[str, Any]:
    return dict(zip(FILTER_COLUMNS, filter_values(record), strict=True))


def tombstone_values(kind: str, origin: str, record_id: str, version: int, updated_at: dt.datetime) -> tuple[Any, ...]:
    """The `records` row (RECORD_COLUMNS order) of a deleted record: the envelope only, no filterable fields."""
    body = {
        "origin": origin,
        "id": record_id,
        "version": version,
        "updated_at": updated_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "deleted": True,
    }
    encoded = json.dumps(body, separators=(",", ":"))
    return (kind, origin, record_id, version, to_micros(updated_at), True, *_NO_FILTERS, encoded)


def record_values(kind: str, record: BaseModel) -> tuple[Any, ...]:
    """The `records` row (RECORD_COLUMNS order) of a live (non-deleted) record."""
    envelope: Any = record
    return _live_values(kind, envelope, str(envelope.id), filter_values(record), encode_body(record))


# Replicated rows (pull and push) carry the body as the UTF-8 bytes pydantic writes: the replica write paths
# store them as text without a decode in Python (SQLite: CAST AS TEXT; PostgreSQL: a bytea staging column
# converted by the server), which saves a decode and an encode of every body on a node's busiest path.


def replica_values(kind: str, record: BaseModel, record_id: str) -> tuple[Any, ...]:
    """`record_values` of a replicated record (`record_id`: its id as text), the body as UTF-8 bytes."""
    return _live_values(kind, record, record_id, filter_values(record), canonical_json(record))


def replica_activity_values(record: Any, record_id: str, body: bytes) -> tuple[Any, ...]:
    """`replica_values` of a live activity checked by the fast path (its struct, federation.protocol.fastpage),
    the body as the origin's UTF-8 bytes."""
    return _live_values("activity", record, record_id, activity_filters(record), body)


def replica_tombstone_values(
    kind: str, origin: str, record_id: str, version: int, updated_at: dt.datetime
) -> tuple[Any, ...]:
    """`tombstone_values` of a replicated record, the body as UTF-8 bytes (tombstones are rare: no shortcut)."""
    row = tombstone_values(kind, origin, record_id, version, updated_at)
    return (*row[:-1], row[-1].encode())


def _live_values(
    kind: str, record: Any, record_id: str, filters: tuple[Any, ...], body: str | bytes
) -> tuple[Any, ...]:
    return (
        kind,
        record.origin,
        record_id,
        record.version,
        to_micros(record.updated_at),
        False,
        *filters,
        body,
    )


def tombstone_row(kind: str, origin: str, record_id: str, version: int, updated_at: dt.datetime) -> dict[str, Any]:
    """`tombstone_values` keyed by column name."""
    return dict(zip(RECORD_COLUMNS, tombstone_values(kind, origin, record_id, version, updated_at), strict=True))


def record_row(kind: str, record: BaseModel) -> dict[str, Any]:
    """`record_values` keyed by column name."""
    return dict(zip(RECORD_COLUMNS, record_values(kind, record), strict=True))


def change_row(row: dict[str, Any]) -> dict[str, Any]:
    """The change-log (`changes`) entry of a `records` row just written by this node."""
    return {
        "kind": row["kind"],
        "origin": row["origin"],
        "id": row["id"],
        "version": row["version"],
        "deleted": row["deleted"],
        "committed_at_us": row["updated_at_us"],
    }
