"""The record service: the one write path of records on this node, local or replicated, single or bulk.

A local write (`create`, `replace`, `delete`, `create_many`) goes validate → store → notify: the client's data is
checked (the kind's data model, service types and indicators, then plugins' `validate_record`), built into the
record (a report's workflow and audit trail), stored with its change-log entry in one transaction (a new version,
or a tombstone), and plugins hear of it (`record_committed`) once it committed. Records the node builds itself
rather than receives from a client (the first profile, a hub's review, the hub's decision applied to one of this
node's reports) go through `create_built` / `replace_built`: checked by the kind's record model, stored and
notified the same way.

Replicated rows (a pulled page, a pushed batch) go in through `apply_replicas`, inside the caller's transaction
(which also moves the pull checkpoint or records the inbox batch id, so a crash leaves both or neither), and
`replicated` tells plugins (`records_replicated`) once that transaction committed. The boundary, kept for speed:
an SQLite node's pull backlog is written by the writer process (federation/protocol/sqlite_writer.py), which runs
the same upsert statement (federation/storage/upsert.py) in a process of its own, several pages per transaction;
its commits reach plugins through `replicated` like every other replica write. No other code changes `records`,
`changes` or `record_revisions` (tests/storage/test_write_path.py enumerates the call sites); every write increases
its (kind, origin) revisions in its transaction (federation/storage/upsert.py).

What the node adds around a write (its plugins, its report workflow) comes in as `WriteHooks` at construction
(federation/record_rules.py builds them from the node's plugins), so storage imports neither the plugins nor the API.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, overload
from uuid import UUID

from federation.storage import _writes
from federation.storage.records import RecordBuilder, StoredRecord
from federation.storage.upsert import RECORD_COLUMNS, Row

if TYPE_CHECKING:
    from pydantic import BaseModel
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

    from federation.schema.records import RecordKind

# A condition on the stored version (If-Match), or how to read it once the data is known to be valid: an invalid
# body is refused whatever the condition says.
IfMatch = int | None | Callable[[], Awaitable[int | None]]


class WriteHooks(Protocol):
    """What the node adds around a write; federation.record_rules.PluginWriteHooks is the node's."""

    def validate(self, kind: RecordKind, data: Mapping[str, Any], previous: dict[str, Any] | None) -> BaseModel:
        """The client's data checked as the API checks it, or the 422 problem listing every error."""
        ...

    async def compose(
        self, kind: RecordKind, data: BaseModel, previous: dict[str, Any] | None, actor: str
    ) -> RecordBuilder:
        """How valid data becomes the record, given the stored document inside the transaction."""
        ...

    def check_delete(self, kind: RecordKind, document: dict[str, Any]) -> None:
        """Raise a RecordError if the stored record may not be deleted."""
        ...

    async def record_committed(self, stored: StoredRecord, action: str) -> None:
        """Tell plugins about a committed local write (`created`, `updated` or `deleted`)."""
        ...

    def wants_replicas(self) -> bool:
        """Whether anything listens to replicated records (otherwise their rows need not be kept)."""
        ...

    async def records_replicated(self, origin: str, documents: Sequence[dict[str, Any]], context: Any) -> None:
        """Tell plugins about committed replicas of `origin`'s records."""
        ...


class RecordService:
    """Writes records: this node's own (validated, with their change-log entries) and other nodes' replicas.

    Reads go through a RecordReader, which is tuned for throughput.
    """

    def __init__(self, engine: AsyncEngine, node_id: str, kinds: Mapping[str, RecordKind], hooks: WriteHooks) -> None:
        self.engine = engine
        self.node_id = node_id
        self.kinds = kinds
        self._hooks = hooks

    def _kind(self, name: str) -> RecordKind:
        try:
            return self.kinds[name]
        except KeyError:
            raise ValueError(f"unknown record kind '{name}' (known: {', '.join(sorted(self.kinds))})") from None

    # --- Local writes of client data -------------------------------------------------------------------------

    def validate(self, kind: str, data: Mapping[str, Any], previous: dict[str, Any] | None = None) -> BaseModel:
        """Check data as a write would, writing nothing (a preview); the 422 problem if it is refused."""
        return self._hooks.validate(self._kind(kind), data, previous)

    async def create(
        self, kind: str, data: Mapping[str, Any], actor: str, *, record_id: UUID | None = None
    ) -> StoredRecord:
        declared = self._kind(kind)
        build = await self._hooks.compose(declared, self._hooks.validate(declared, data, None), None, actor)
        return await self.create_built(kind, build, record_id=record_id)

    async def replace(
        self, kind: str, record_id: str, data: Mapping[str, Any], actor: str, *, if_match: IfMatch = None
    ) -> StoredRecord:
        """Replace this node's record with `data`, validated against the stored record; `if_match` is read only
        once the data is valid."""
        declared = self._kind(kind)
        previous = await _writes.live_document(self.engine, self.node_id, kind, record_id)
        valid = self._hooks.validate(declared, data, previous)
        version = await if_match() if callable(if_match) else if_match
        build = await self._hooks.compose(declared, valid, previous, actor)
        return await self.replace_built(kind, record_id, build, if_match=version)

    async def delete(self, kind: str, record_id: str, *, if_match: IfMatch = None) -> StoredRecord:
        """Turn this node's record into a tombstone, if the kind's rules allow it."""
        declared = self._kind(kind)
        version = await if_match() if callable(if_match) else if_match
        stored = await _writes.delete(
            self.engine,
            self.node_id,
            declared,
            record_id,
            version,
            lambda document: self._hooks.check_delete(declared, document),
        )
        await self._hooks.record_committed(stored, "deleted")
        return stored

    async def create_many(self, kind: str, data: Sequence[Mapping[str, Any]], actor: str) -> list[StoredRecord]:
        """Create records in one transaction (two bulk statements): all of them, or none if one is refused."""
        declared = self._kind(kind)
        builds = [
            await self._hooks.compose(declared, self._hooks.validate(declared, item, None), None, actor)
            for item in data
        ]
        stored = await _writes.create_many(self.engine, self.node_id, declared, builds)
        for record in stored:
            await self._hooks.record_committed(record, "created")
        return stored

    # --- Local records the node builds itself ----------------------------------------------------------------

    async def create_built(self, kind: str, build: RecordBuilder, *, record_id: UUID | None = None) -> StoredRecord:
        """Store a record built by this node's own code (checked by the kind's record model), then tell plugins."""
        declared = self._kind(kind)
        stored = await _writes.create(self.engine, self.node_id, declared, build, record_id)
        await self._hooks.record_committed(stored, "created")
        return stored

    async def replace_built(
        self, kind: str, record_id: str, build: RecordBuilder, *, if_match: int | None = None
    ) -> StoredRecord:
        """Replace this node's record with what `build` makes of the stored one, then tell plugins."""
        declared = self._kind(kind)
        stored = await _writes.replace(self.engine, self.node_id, declared, record_id, build, if_match)
        await self._hooks.record_committed(stored, "updated")
        return stored

    # --- Replicas ------------------------------------------------------------------------------------------

    async def apply_replicas(self, connection: AsyncConnection, rows: list[Row]) -> int:
        """Upsert replicated rows in the caller's transaction; how many were inserted or changed.

        ReplicaConflict if a row would give its origin a second live profile. Plugins hear of the rows through
        `replicated`, called once the caller's transaction committed.
        """
        return await _writes.upsert_replicas(connection, rows)

    def wants_replicas(self) -> bool:
        return self._hooks.wants_replicas()

    async def replicated(self, origin: str, rows: list[Row], context: Any) -> None:
        """Committed replica rows of `origin` (applied here or by the SQLite writer process): tell plugins."""
        if rows and self._hooks.wants_replicas():
            await self._hooks.records_replicated(origin, StoredDocuments(rows), context)


async def count_bulk_load(connection: AsyncConnection) -> None:
    """After rows were loaded into `records` by a development tool rather than through the service (benchmarks, test
    fixtures, the load generator): every (kind, origin) there counts as revised, so that readers keeping results by
    revision (the hub's activity counts, figure_cache.py) read them again. Nothing in the product needs it."""
    await _writes.revise_all(connection)


_KIND = RECORD_COLUMNS.index("kind")
_BODY = RECORD_COLUMNS.index("body")


class StoredDocuments(Sequence[dict[str, Any]]):
    """The stored documents of applied rows, parsed only when a plugin reads them (most never do)."""

    def __init__(self, rows: list[Row]) -> None:
        self._rows = rows
        self._kinds: frozenset[str] | None = None

    @property
    def kinds(self) -> frozenset[str]:
        """The record kinds among the documents, known without decoding any: a plugin interested in one kind
        skips the others' pages for free (the hub client did a database read for every pulled page)."""
        if self._kinds is None:
            self._kinds = frozenset(row[_KIND] for row in self._rows)
        return self._kinds

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> dict[str, Any]: ...

    @overload
    def __getitem__(self, index: slice) -> list[dict[str, Any]]: ...

    def __getitem__(self, index: int | slice) -> dict[str, Any] | list[dict[str, Any]]:
        if isinstance(index, slice):
            return [json.loads(row[_BODY]) for row in self._rows[index]]
        document: dict[str, Any] = json.loads(self._rows[index][_BODY])
        return document
