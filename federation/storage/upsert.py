"""The column order of a `records` row on every replica write path, the idempotent upsert they all run, and the
revision counters every write of records increases.

Kept free of heavy imports: the SQLite writer process imports it and nothing else from the schema.
"""

from __future__ import annotations

from typing import Any

# Fields copied out of the record document into their own columns, so lists and reports filter on them.
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

# The profile's kind (federation.schema.records): the migrations created its one-live-record-per-origin index
# (storage.tables) before kinds were data; a plugin kind with `unique_per_origin=()` is checked by the record store
# and the receiver instead.
ONE_PROFILE_KIND = "node"

# The body comes last (the PostgreSQL staging table relies on it).
RECORD_COLUMNS = ("kind", "origin", "id", "version", "updated_at_us", "deleted", *FILTER_COLUMNS, "body")
# A `records` row in RECORD_COLUMNS order; replicated rows carry the body as UTF-8 bytes (mapping.replica_values).
Row = tuple[Any, ...]
_UPDATED = [column for column in RECORD_COLUMNS if column not in ("id", "origin")]


# A record is (origin, id): a row conflicts only with the same origin's record of that id, never with another
# origin's (which is a different record), and replaces it only with a newer version.
_ON_CONFLICT = (
    "ON CONFLICT (id, origin) DO UPDATE SET "
    + ", ".join(f"{column} = excluded.{column}" for column in _UPDATED)
    + " WHERE records.version < excluded.version"
)

# SQLite: one row per execution (executemany). The body may come as UTF-8 bytes (replicated rows): CAST stores
# them as text, not as a blob.
SQLITE_UPSERT_SQL = (
    f"INSERT INTO records ({', '.join(RECORD_COLUMNS)}) "
    f"VALUES ({', '.join('CAST(? AS TEXT)' if column == 'body' else '?' for column in RECORD_COLUMNS)}) " + _ON_CONFLICT
)


# PostgreSQL: rows are copied (binary COPY) into a per-session staging table, then upserted in one statement.
# Per row this costs the client a third of executemany's encoding and the server one statement instead of one
# per row; rows go in (id, origin) order so concurrent batches lock shared keys in the same order (no deadlock).
POSTGRES_STAGE = "replica_stage"
# The body is staged as bytea: replicated rows carry it as UTF-8 bytes, and the server turns it into text.
POSTGRES_STAGE_DDL = (
    f"CREATE TEMP TABLE IF NOT EXISTS {POSTGRES_STAGE} ON COMMIT DELETE ROWS "
    f"AS SELECT {', '.join(RECORD_COLUMNS[:-1])}, convert_to(body, 'UTF8') AS body FROM records WITH NO DATA"
)


_COLUMNS = ", ".join(RECORD_COLUMNS)
# The rows leave the staging table as they are upserted, so a second batch in the same transaction starts from an
# empty table; the commit truncates what the deletes leave behind (ON COMMIT DELETE ROWS).
POSTGRES_STAGE_UPSERT_SQL = (
    f"WITH staged AS (DELETE FROM {POSTGRES_STAGE} RETURNING {_COLUMNS}) "
    f"INSERT INTO records ({_COLUMNS}) SELECT {', '.join(RECORD_COLUMNS[:-1])}, convert_from(body, 'UTF8') "
    f"FROM staged ORDER BY id, origin " + _ON_CONFLICT
)


# Every transaction that writes records of a kind from an origin increases that pair's counter in `record_revisions`
# (federation/storage/tables.py), before it writes them: a reader that saw the same revision before knows that
# nothing of those records changed since, without reading them (the hub's activity counts). Before, so that two
# writers of one origin's records queue on its counter row, taken in sorted order, and never deadlock on the records.
# The same statement on SQLite (from 3.24) and PostgreSQL; `?` or `:name` placeholders as each caller binds.
REVISION_SQL = (
    "INSERT INTO record_revisions (kind, origin, revision) VALUES ({kind}, {origin}, 1) "
    "ON CONFLICT (kind, origin) DO UPDATE SET revision = record_revisions.revision + 1"
)
SQLITE_REVISION_SQL = REVISION_SQL.format(kind="?", origin="?")
# Every (kind, origin) that `records` holds, after rows were loaded without the service (`WHERE true`: SQLite needs a
# WHERE before an upsert's ON CONFLICT when the rows come from a SELECT).
REVISE_ALL_SQL = (
    "INSERT INTO record_revisions (kind, origin, revision) SELECT DISTINCT kind, origin, 1 FROM records WHERE true "
    "ON CONFLICT (kind, origin) DO UPDATE SET revision = record_revisions.revision + 1"
)
_KIND, _ORIGIN = RECORD_COLUMNS.index("kind"), RECORD_COLUMNS.index("origin")


def revised(rows: list[Row]) -> list[tuple[str, str]]:
    """The (kind, origin) pairs whose revision writing `rows` increases, in the order their counters are locked."""
    return sorted({(row[_KIND], row[_ORIGIN]) for row in rows})
