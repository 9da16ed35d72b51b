"""Record reads on the API's hot path: point gets and keyset-paginated lists returning stored JSON as-is.

The ORM and even SQLAlchemy Core's async layer cost more per point read than the query itself (measured: a
naive SQLAlchemy + aiosqlite read reaches ~0.09 of a bare aiohttp endpoint). On SQLite the reader therefore
keeps one read-only aiosqlite connection open (WAL lets it read while the writer commits) and runs the few
fixed SQL statements below directly; on PostgreSQL it runs them on the asyncpg connections of SQLAlchemy's pool.
Both run the same SQL text with named parameters, so they cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import aiosqlite
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.storage.engine import SQLITE_BUSY_TIMEOUT_MS, is_sqlite, pooled_driver, sqlite_path
from federation.storage.upsert import FILTER_COLUMNS as RECORD_FILTER_COLUMNS


@dataclass(frozen=True)
class RecordRow:
    origin: str
    version: int
    deleted: bool
    body: str


@dataclass(frozen=True)
class ListQuery:
    """Filters of a list request; every field is optional except the record kind."""

    kind: str
    after_rid: int = 0
    limit: int = 50
    # A column equal to the value, or to any of a tuple's values (a city and its municipal arrondissements).
    equals: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)
    updated_since_us: int | None = None
    include_deleted: bool = False


# Columns a list may filter on by equality: the origin, and every filter column a record kind may fill but the
# addressee (storage.upsert); mapping API names to columns happens in the API layer, from the kinds' declarations.
FILTER_COLUMNS = frozenset({"origin", *RECORD_FILTER_COLUMNS}) - {"audience"}

# A record is (origin, id). A lookup by id alone may find one record per origin holding that id (at most a few:
# an id is a random UUID, so only a copy or a squatter shares one); the caller chooses among them.
_GET_SQL = "SELECT origin, version, deleted, body FROM records WHERE id = :id AND origin = :origin AND kind = :kind"
_FIND_SQL = "SELECT origin, version, deleted, body FROM records WHERE id = :id AND kind = :kind ORDER BY origin"


def list_sql(query: ListQuery) -> tuple[str, dict[str, Any]]:
    """Keyset pagination in insertion order: stable under concurrent writes, no OFFSET scans."""
    clauses = ["kind = :kind", "rid > :after_rid"]
    params: dict[str, Any] = {"kind": query.kind, "after_rid": query.after_rid, "limit": query.limit + 1}
    for column, value in sorted(query.equals.items()):
        if column not in FILTER_COLUMNS:
            raise ValueError(f"cannot filter on {column}")
        if isinstance(value, tuple):
            names = [f"{column}_{position}" for position in range(len(value))]
            clauses.append(f"{column} IN ({', '.join(':' + name for name in names)})")
            params.update(zip(names, value, strict=True))
        else:
            clauses.append(f"{column} = :{column}")
            params[column] = value
    if query.updated_since_us is not None:
        clauses.append("updated_at_us >= :updated_since")
        params["updated_since"] = query.updated_since_us
    if not query.include_deleted:
        clauses.append("NOT deleted")
    sql = f"SELECT rid, body FROM records WHERE {' AND '.join(clauses)} ORDER BY rid LIMIT :limit"
    return sql, params


class RecordReader(Protocol):
    dialect: str  # "sqlite" or "postgresql": the SQL text some callers choose depends on it

    async def get(self, kind: str, record_id: str, origin: str) -> RecordRow | None:
        """The record `(origin, record_id)` of this kind."""
        ...

    async def find(self, kind: str, record_id: str) -> list[RecordRow]:
        """Every origin's record of this kind with this id, by origin."""
        ...

    async def page(self, query: ListQuery) -> list[tuple[int, str]]:
        """Up to `query.limit + 1` rows (the extra one tells whether another page exists)."""
        ...

    async def rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        """Rows of any read-only statement with named parameters (the federation feed uses it)."""
        ...

    async def close(self) -> None: ...


class SqliteReader:
    """Reads through one dedicated read-only aiosqlite connection."""

    dialect = "sqlite"

    def __init__(self, connection: aiosqlite.Connection) -> None:
        self._connection = connection

    @classmethod
    async def open(cls, url: str) -> SqliteReader:
        path = sqlite_path(url)
        connection = await aiosqlite.connect(f"file:{path}?mode=ro", uri=True)
        await connection.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        return cls(connection)

    # execute_fetchall is one hand-off to the connection's thread; execute + fetchone + close would be three,
    # each waking the event loop (measured: 26 µs against 33–57 µs per point read under load).
    async def get(self, kind: str, record_id: str, origin: str) -> RecordRow | None:
        params = {"id": record_id, "origin": origin, "kind": kind}
        rows = list(await self._connection.execute_fetchall(_GET_SQL, params))
        return _record_row(rows[0]) if rows else None

    async def find(self, kind: str, record_id: str) -> list[RecordRow]:
        rows = await self._connection.execute_fetchall(_FIND_SQL, {"id": record_id, "kind": kind})
        return [_record_row(row) for row in rows]

    async def page(self, query: ListQuery) -> list[tuple[int, str]]:
        sql, params = list_sql(query)
        rows = await self._connection.execute_fetchall(sql, params)
        return [(row[0], row[1]) for row in rows]

    async def rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self._connection.execute_fetchall(sql, params)]

    async def close(self) -> None:
        await self._connection.close()


class EngineReader:
    """Reads through connections of the SQLAlchemy engine's pool (PostgreSQL), each statement run on the pooled
    asyncpg connection itself.

    SQLAlchemy checks the connection out (storage.engine.pooled_driver) and compiles each statement's text once to
    asyncpg's numbered parameters; the statement then runs without SQLAlchemy's execution layer, which with its
    implicit BEGIN and ROLLBACK cost half of a peer lookup's CPU in this process (every signed request starts with
    one; docs/performance.md). As on SQLite, one statement sees one snapshot.
    """

    dialect = "postgresql"
    _COMPILED_LIMIT = 512  # distinct statement texts kept compiled (lists vary with their filters)

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._compiled: dict[str, tuple[str, tuple[str, ...]]] = {}

    def _positional(self, sql: str) -> tuple[str, tuple[str, ...]]:
        """The statement as asyncpg takes it ($1, $2, …) and the names of its parameters in that order."""
        compiled = self._compiled.get(sql)
        if compiled is None:
            statement = text(sql).compile(dialect=self._engine.dialect)
            compiled = (statement.string, tuple(statement.positiontup or ()))
            if len(self._compiled) >= self._COMPILED_LIMIT:
                self._compiled.clear()
            self._compiled[sql] = compiled
        return compiled

    async def _fetch(self, sql: str, params: Mapping[str, Any]) -> list[Any]:
        positional_sql, names = self._positional(sql)
        async with pooled_driver(self._engine) as driver:
            return list(await driver.fetch(positional_sql, *(params[name] for name in names)))

    async def get(self, kind: str, record_id: str, origin: str) -> RecordRow | None:
        rows = await self._fetch(_GET_SQL, {"id": record_id, "origin": origin, "kind": kind})
        return _record_row(rows[0]) if rows else None

    async def find(self, kind: str, record_id: str) -> list[RecordRow]:
        return [_record_row(row) for row in await self._fetch(_FIND_SQL, {"id": record_id, "kind": kind})]

    async def page(self, query: ListQuery) -> list[tuple[int, str]]:
        sql, params = list_sql(query)
        return [(row[0], row[1]) for row in await self._fetch(sql, params)]

    async def rows(self, sql: str, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [tuple(row) for row in await self._fetch(sql, params)]

    async def close(self) -> None:
        return None


def local_first(rows: list[RecordRow], node_id: str) -> RecordRow | None:
    """Among one id's records (RecordReader.find), this node's own, else the first other origin's."""
    for row in rows:
        if row.origin == node_id:
            return row
    return rows[0] if rows else None


def _record_row(row: Any) -> RecordRow:
    return RecordRow(row[0], row[1], bool(row[2]), row[3])


async def open_reader(engine: AsyncEngine, url: str) -> RecordReader:
    if is_sqlite(url):
        return await SqliteReader.open(url)
    return EngineReader(engine)
