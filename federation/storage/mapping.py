"""The one place where wire records (pydantic) become table rows and back."""

from __future__ import annotations

import datetime as dt
import functools
import json
import typing
from collections.abc import Callable
from typing import Any

from pydantic import BaseModel

from federation.schema.kinds import RecordKind, field_type, is_date_field
from federation.schema.records import RECORD_KINDS
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
_AUDIENCE = FILTER_COLUMNS.index("audience")


def filter_values(kind: RecordKind, record: Any) -> tuple[Any, ...]:
    """The fields the API filters on, and the node a record is addressed to, copied into their own columns (in
    FILTER_COLUMNS order) as the kind declares them; `record` is the kind's record model, or anything with its
    fields (the fast path's structs, federation.protocol.fastpage)."""
    return kind_filters(kind)(record)


@functools.cache
def kind_filters(kind: RecordKind) -> Callable[[Any], tuple[Any, ...]]:
    """The function that reads a record's filter columns, built once per kind from its declaration.

    Replication maps every received record through it, so it is compiled to what one would write by hand for the
    kind (`return (record.category, …, None)`): a loop over the declared columns cost a tenth of the row's
    mapping more. Field paths are checked against the model when the kind is registered, and match a plain
    dotted-identifier pattern (federation.schema.kinds), so the generated source holds nothing but attribute reads.
    """
    sources = {kind_filter.column: kind_filter.field for kind_filter in kind.filters}
    if kind.audience.field is not None:
        sources["audience"] = kind.audience.field
    parts = []
    for column in FILTER_COLUMNS:
        path = sources.get(column)
        if path is None:
            parts.append("None")
            continue
        if field_type(kind.record_model, path) is None:
            raise ValueError(f"record kind '{kind.name}': no field '{path}' in {kind.record_model.__name__}")
        read = f"record.{path}" if _never_none_before_last(kind, path) else f"_read(record, {tuple(path.split('.'))!r})"
        parts.append(f"_iso({read})" if is_date_field(kind.record_model, path) else read)
    source = f"def filters(record):\n    return ({', '.join(parts)},)\n"
    namespace: dict[str, Any] = {"_iso": _iso, "_read": _read}
    exec(compile(source, f"<filter columns of record kind {kind.name}>", "exec"), namespace)
    filters: Callable[[Any], tuple[Any, ...]] = namespace["filters"]
    return filters


def _never_none_before_last(kind: RecordKind, path: str) -> bool:
    """Whether every step of `path` but the last is a field that is never None (`place` of `place.commune`)."""
    parts = path.split(".")
    for depth in range(1, len(parts)):
        prefix = ".".join(parts[:depth])
        model_field = _model_field(kind.record_model, prefix)
        if model_field is None or not (model_field.is_required() or model_field.default_factory is not None):
            return False
        if type(None) in typing.get_args(model_field.annotation):
            return False
    return True


def _model_field(model: type[BaseModel], path: str) -> Any:
    *parents, last = path.split(".")
    owner: Any = model
    for part in parents:
        owner = field_type(owner, part)
    fields = getattr(owner, "model_fields", {})
    return fields.get(last)


def _read(record: Any, path: tuple[str, ...]) -> Any:
    for part in path:
        if record is None:
            return None
        record = getattr(record, part)
    return record


def _iso(value: dt.date | None) -> str | None:
    return None if value is None else value.isoformat()


def tombstone_values(
    kind: str, origin: str, record_id: str, version: int, updated_at: dt.datetime, audience: str | None = None
) -> tuple[Any, ...]:
    """The `records` row (RECORD_COLUMNS order) of a deleted record: the envelope only, no filterable fields but
    the node it was addressed to (its deletion is served to that node alone, like the record)."""
    body = {
        "origin": origin,
        "id": record_id,
        "version": version,
        "updated_at": updated_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "deleted": True,
    }
    encoded = json.dumps(body, separators=(",", ":"))
    filters = _NO_FILTERS if audience is None else (*_NO_FILTERS[:_AUDIENCE], audience, *_NO_FILTERS[_AUDIENCE + 1 :])
    return (kind, origin, record_id, version, to_micros(updated_at), True, *filters, encoded)


def record_values(kind: RecordKind, record: BaseModel) -> tuple[Any, ...]:
    """The `records` row (RECORD_COLUMNS order) of a live (non-deleted) record of `kind`."""
    envelope: Any = record
    return _live_values(kind.name, envelope, str(envelope.id), kind_filters(kind)(record), encode_body(record))


# Replicated rows (pull and push) carry the body as the UTF-8 bytes pydantic writes: the replica write paths
# store them as text without a decode in Python (SQLite: CAST AS TEXT; PostgreSQL: a bytea staging column
# converted by the server), which saves a decode and an encode of every body on a node's busiest path.


def replica_values(kind: RecordKind, record: BaseModel, record_id: str) -> tuple[Any, ...]:
    """`record_values` of a replicated record (`record_id`: its id as text), the body as UTF-8 bytes."""
    return _live_values(kind.name, record, record_id, kind_filters(kind)(record), canonical_json(record))


_ACTIVITY_FILTERS = kind_filters(RECORD_KINDS["activity"])


def replica_activity_values(record: Any, record_id: str, body: bytes) -> tuple[Any, ...]:
    """`replica_values` of a live activity checked by the fast path (its struct, federation.protocol.fastpage),
    the body as the origin's UTF-8 bytes."""
    return _live_values("activity", record, record_id, _ACTIVITY_FILTERS(record), body)


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


def tombstone_row(
    kind: str, origin: str, record_id: str, version: int, updated_at: dt.datetime, audience: str | None = None
) -> dict[str, Any]:
    """`tombstone_values` keyed by column name."""
    values = tombstone_values(kind, origin, record_id, version, updated_at, audience)
    return dict(zip(RECORD_COLUMNS, values, strict=True))


def record_row(kind: RecordKind, record: BaseModel) -> dict[str, Any]:
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
