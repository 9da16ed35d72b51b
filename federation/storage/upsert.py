"""The column order of a `records` row on every replica write path, and the idempotent upsert they all run.

Kept free of heavy imports: the SQLite writer process imports it and nothing else from the schema.
"""

from __future__ import annotations

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

# The body comes last (the PostgreSQL staging table relies on it).
RECORD_COLUMNS = ("kind", "origin", "id", "version", "updated_at_us", "deleted", *FILTER_COLUMNS, "body")
_UPDATED = [column for column in RECORD_COLUMNS if column not in ("id", "origin")]


def upsert_sql(paramstyle: str) -> str:
    """INSERT of one row keyed by record id; a stored row changes only for a newer version from the same origin."""
    if paramstyle == "qmark":
        # SQLite: the body may come as UTF-8 bytes (replicated rows); CAST stores them as text, not as a blob.
        placeholders = ", ".join("CAST(? AS TEXT)" if column == "body" else "?" for column in RECORD_COLUMNS)
    elif paramstyle in ("numeric_dollar", "numeric"):
        prefix = "$" if paramstyle == "numeric_dollar" else ":"
        placeholders = ", ".join(f"{prefix}{n}" for n in range(1, len(RECORD_COLUMNS) + 1))
    else:
        placeholders = ", ".join("%s" for _ in RECORD_COLUMNS)
    assignments = ", ".join(f"{column} = excluded.{column}" for column in _UPDATED)
    return (
        f"INSERT INTO records ({', '.join(RECORD_COLUMNS)}) VALUES ({placeholders}) "
        f"ON CONFLICT (id) DO UPDATE SET {assignments} "
        "WHERE records.version < excluded.version AND records.origin = excluded.origin"
    )


# PostgreSQL: rows are copied (binary COPY) into a per-session staging table, then upserted in one statement.
# Per row this costs the client a third of executemany's encoding and the server one statement instead of one
# per row; rows go in id order so concurrent batches lock shared ids in the same order (no deadlock).
POSTGRES_STAGE = "replica_stage"
# The body is staged as bytea: replicated rows carry it as UTF-8 bytes, and the server turns it into text.
POSTGRES_STAGE_DDL = (
    f"CREATE TEMP TABLE IF NOT EXISTS {POSTGRES_STAGE} ON COMMIT DELETE ROWS "
    f"AS SELECT {', '.join(RECORD_COLUMNS[:-1])}, convert_to(body, 'UTF8') AS body FROM records WITH NO DATA"
)


def postgres_stage_upsert_sql() -> str:
    columns = ", ".join(RECORD_COLUMNS)
    staged = ", ".join(RECORD_COLUMNS[:-1]) + ", convert_from(body, 'UTF8')"
    assignments = ", ".join(f"{column} = excluded.{column}" for column in _UPDATED)
    # The rows leave the staging table as they are upserted, so a second batch in the same transaction starts
    # from an empty table; the commit truncates what the deletes leave behind (ON COMMIT DELETE ROWS).
    return (
        f"WITH staged AS (DELETE FROM {POSTGRES_STAGE} RETURNING {columns}) "
        f"INSERT INTO records ({columns}) SELECT {staged} FROM staged ORDER BY id "
        f"ON CONFLICT (id) DO UPDATE SET {assignments} "
        "WHERE records.version < excluded.version AND records.origin = excluded.origin"
    )
