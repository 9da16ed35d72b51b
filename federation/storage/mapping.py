"""The one place where wire records (pydantic) become table rows and back."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from pydantic import BaseModel

from federation.schema.records import Activity, NodeProfile, PeriodReport, ReportReview, SharedResource

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def to_micros(moment: dt.datetime) -> int:
    """Microseconds since the Unix epoch: a dialect-neutral, sortable timestamp column."""
    delta = moment.astimezone(dt.UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(micros: int) -> dt.datetime:
    return _EPOCH + dt.timedelta(microseconds=micros)


def encode_body(record: BaseModel) -> str:
    """The canonical JSON document stored in `records.body` and served as-is."""
    return record.model_dump_json()


FILTER_COLUMNS = (
    "category",
    "service_type",
    "status",
    "commune",
    "resource_kind",
    "period",
    "start_date",
    "end_date",
    "audience",
)


def filter_columns(record: BaseModel) -> dict[str, Any]:
    """Copy the fields the API filters on into their own columns."""
    columns: dict[str, Any] = dict.fromkeys(FILTER_COLUMNS)
    if isinstance(record, Activity):
        columns.update(
            category=record.category,
            service_type=record.service_type,
            status=record.status,
            commune=record.place.commune,
            start_date=record.start_date.isoformat() if record.start_date else None,
            end_date=record.end_date.isoformat() if record.end_date else None,
        )
    elif isinstance(record, SharedResource):
        columns.update(status=record.status, commune=record.place.commune, resource_kind=record.kind)
    elif isinstance(record, PeriodReport):
        columns.update(status=record.state, period=record.period.key)
    elif isinstance(record, NodeProfile):
        columns.update(status=record.label_status, commune=record.commune)
    elif isinstance(record, ReportReview):
        columns.update(status=record.decision, audience=record.report_origin)
    return columns


def tombstone_row(kind: str, origin: str, record_id: str, version: int, updated_at: dt.datetime) -> dict[str, Any]:
    """The `records` row of a deleted record: the envelope only, no filterable fields."""
    body = {
        "origin": origin,
        "id": record_id,
        "version": version,
        "updated_at": updated_at.astimezone(dt.UTC).isoformat().replace("+00:00", "Z"),
        "deleted": True,
    }
    return {
        "kind": kind,
        "origin": origin,
        "id": record_id,
        "version": version,
        "updated_at_us": to_micros(updated_at),
        "deleted": True,
        "body": json.dumps(body, separators=(",", ":")),
        **dict.fromkeys(FILTER_COLUMNS),
    }


def record_row(kind: str, record: BaseModel) -> dict[str, Any]:
    """All columns of a `records` row for a live (non-deleted) record."""
    envelope: Any = record
    return {
        "kind": kind,
        "origin": envelope.origin,
        "id": str(envelope.id),
        "version": envelope.version,
        "updated_at_us": to_micros(envelope.updated_at),
        "deleted": False,
        "body": encode_body(record),
        **filter_columns(record),
    }
