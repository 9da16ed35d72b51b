"""The feed's envelopes built in SQL are exactly the reference text (`persistence.feed_item`), on both engines."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any
from uuid import uuid4

import pytest
from sqlalchemy import insert, text

from federation.config import Settings
from federation.protocol import persistence
from federation.schema.records import CORE_KINDS
from federation.storage.engine import create_engine
from federation.storage.mapping import to_micros
from federation.storage.reader import open_reader
from federation.storage.tables import changes, records
from federation.storage.upsert import FILTER_COLUMNS

ORIGIN = "rq-envelopes"  # not the node's own id: its profile record would be in the feed too
CHANGE_KEYS = ("kind", "origin", "id", "version", "deleted")
TOMBSTONE = json.dumps({"origin": ORIGIN, "deleted": True})  # stored for a deleted record, never served

# updated_at in microseconds: whole seconds (no fraction in isoformat), fractions with leading zeros, the epoch,
# before 1970 (floor, not truncation), far dates.
MOMENTS = [
    1_767_225_600_000_000,
    1_767_225_600_000_001,
    1_767_225_600_123_456,
    1_767_225_600_999_999,
    1_767_225_600_100_000,
    0,
    -1,
    -1_500_000,
    -2_208_988_800_000_000,  # 1900-01-01
    253_402_300_799_999_999,  # 9999-12-31T23:59:59.999999
]


def _row(updated_us: int, deleted: bool, body: str) -> dict[str, Any]:
    return {
        "kind": "activity",
        "origin": ORIGIN,
        "id": str(uuid4()),
        "version": 7,
        "updated_at_us": updated_us,
        "deleted": deleted,
        **dict.fromkeys(FILTER_COLUMNS),
        "body": body,
    }


@pytest.fixture
async def engine(settings: Settings, admin_token: str) -> Any:
    engine = create_engine(settings.database_url)
    yield engine
    await engine.dispose()


async def test_sql_envelopes_match_the_reference(settings: Settings, engine: Any) -> None:
    body = json.dumps({"title": 'Jardin "partagé" — été', "note": "a\\b\nc", "n": 1}, ensure_ascii=False)
    rows = [_row(moment, False, body) for moment in MOMENTS]
    rows += [_row(MOMENTS[2], True, TOMBSTONE), _row(0, True, TOMBSTONE)]
    async with engine.begin() as connection:
        await connection.execute(insert(records), rows)
        await connection.execute(
            insert(changes),
            [{**{key: row[key] for key in CHANGE_KEYS}, "committed_at_us": 1} for row in rows],
        )
    quoted = json.dumps(ORIGIN)
    expected = [
        persistence.feed_item(quoted, "activity", row["id"], 7, row["updated_at_us"], row["deleted"], row["body"])
        for row in rows
    ]
    params = {"since": 0, "origin": ORIGIN, "quoted_origin": quoted, "limit": 100, "reader": "rq-peer"}
    dialect = engine.dialect.name

    # As text (the outbox), through SQLAlchemy.
    async with engine.connect() as connection:
        result = await connection.execute(
            text(persistence.feed_sql(dialect, persistence.feed_visibility(CORE_KINDS, reader_is_hub=False))), params
        )
        as_text = [row[1] for row in result]
    assert as_text == expected

    # As bytes (the feed), through the node's record reader.
    reader = await open_reader(engine, settings.database_url)
    try:
        page = await persistence.read_feed(
            reader, ORIGIN, 0, 100, persistence.feed_visibility(CORE_KINDS, False), reader="rq-peer"
        )
    finally:
        await reader.close()
    assert page.items == [item.encode() for item in expected]
    for item in page.items:
        json.loads(item)  # every envelope is a JSON document on its own


async def test_feed_sql_names_an_unknown_engine() -> None:
    with pytest.raises(ValueError, match="mysql"):
        persistence.feed_sql("mysql", "")


def test_reference_envelope_format() -> None:
    moment = to_micros(dt.datetime(2026, 1, 1, 10, 0, 0, 1230, tzinfo=dt.UTC))
    item = persistence.feed_item('"rq-a"', "activity", "0" * 8 + "-0000-4000-8000-" + "0" * 12, 3, moment, False, "{}")
    assert json.loads(item) == {
        "origin": "rq-a",
        "id": "00000000-0000-4000-8000-000000000000",
        "kind": "activity",
        "version": 3,
        "updated_at": "2026-01-01T10:00:00.001230Z",
        "deleted": False,
        "payload": {},
    }
