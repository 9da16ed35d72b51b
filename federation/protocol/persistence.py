"""Federation state in the database: peers and their checkpoints, seen nonces and inbox batches, the feed query."""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from federation.cursors import decode_b64_cursor, encode_b64_cursor
from federation.protocol.keys import PublicKeyInfo
from federation.schema.kinds import RecordKinds
from federation.schema.records import utcnow
from federation.storage.engine import insert_for, pooled_driver
from federation.storage.mapping import from_micros, to_micros
from federation.storage.reader import RecordReader
from federation.storage.tables import inbox_batches, nonces, peers


@dataclass(frozen=True)
class Peer:
    node_id: str
    name: str
    base_url: str
    keys: tuple[PublicKeyInfo, ...]
    role: str
    pull: bool
    push: bool
    status: str
    cursor: str | None
    last_success_at_us: int | None
    last_error: str | None
    consecutive_failures: int
    lag: int | None
    discovery_fetched_at_us: int | None
    # What its discovery document says it speaks (federation.versions.spoken); None until it was read.
    speaks: dict[str, Any] | None = None

    def key(self, kid: str) -> PublicKeyInfo | None:
        return next((key for key in self.keys if key.kid == kid), None)

    @property
    def is_hub(self) -> bool:
        return self.role == "hub"

    def describe(self) -> dict[str, Any]:
        def iso(micros: int | None) -> str | None:
            return None if micros is None else from_micros(micros).isoformat().replace("+00:00", "Z")

        return {
            "node_id": self.node_id,
            "name": self.name,
            "base_url": self.base_url,
            "role": self.role,
            "pull": self.pull,
            "push": self.push,
            "status": self.status,
            "last_sync": iso(self.last_success_at_us),
            "lag": self.lag,
            "last_error": self.last_error,
            "consecutive_failures": self.consecutive_failures,
            "keys": [key.kid for key in self.keys],
            "speaks": self.speaks,
        }


def _peer(row: Any) -> Peer:
    return Peer(
        node_id=row["node_id"],
        name=row["name"],
        base_url=row["base_url"],
        keys=tuple(PublicKeyInfo.from_jwk(jwk) for jwk in json.loads(row["keys"])),
        role=row["role"],
        pull=bool(row["pull"]),
        push=bool(row["push"]),
        status=row["status"],
        cursor=row["cursor"],
        last_success_at_us=row["last_success_at_us"],
        last_error=row["last_error"],
        consecutive_failures=row["consecutive_failures"] or 0,
        lag=row["lag"],
        discovery_fetched_at_us=row["discovery_fetched_at_us"],
        speaks=json.loads(row["speaks"]) if row["speaks"] else None,
    )


async def get_peer(engine: AsyncEngine, node_id: str) -> Peer | None:
    async with engine.connect() as connection:
        row = (await connection.execute(select(peers).where(peers.c.node_id == node_id))).mappings().first()
    return None if row is None else _peer(row)


_PEER_COLUMNS = tuple(column.name for column in peers.columns)
_READ_PEER_SQL = f"SELECT {', '.join(_PEER_COLUMNS)} FROM peers WHERE node_id = :node_id"


async def read_peer(reader: RecordReader, node_id: str) -> Peer | None:
    """`get_peer` through the node's record reader: every signed request starts with this lookup, and on SQLite
    the reader's one hand-off to its connection costs a tenth of the engine's pooled round trip with its events
    (bench/signed_request.py). The reader sees every committed change, so a peer removed or re-keyed by
    `regies peer …` in another process is refused from its next request on."""
    rows = await reader.rows(_READ_PEER_SQL, {"node_id": node_id})
    return _peer(dict(zip(_PEER_COLUMNS, rows[0], strict=True))) if rows else None


async def list_peers(engine: AsyncEngine) -> list[Peer]:
    async with engine.connect() as connection:
        rows = (await connection.execute(select(peers).order_by(peers.c.node_id))).mappings().all()
    return [_peer(row) for row in rows]


async def save_peer(
    engine: AsyncEngine,
    *,
    node_id: str,
    name: str,
    base_url: str,
    keys: list[PublicKeyInfo],
    role: str = "peer",
    pull: bool = True,
    push: bool = False,
    speaks: dict[str, Any] | None = None,
) -> None:
    """Add a peer, or update the address, keys and roles of a known one (its checkpoint is kept); `speaks`: what
    its discovery document says it speaks (federation.versions.spoken)."""
    values = {
        "name": name,
        "base_url": base_url.rstrip("/"),
        "keys": json.dumps([key.jwk() for key in keys]),
        "role": role,
        "pull": pull,
        "push": push,
        "status": "active",
    }
    if speaks is not None:
        values["speaks"] = json.dumps(speaks)
    async with engine.begin() as connection:
        exists = await connection.scalar(select(peers.c.node_id).where(peers.c.node_id == node_id))
        if exists:
            await connection.execute(update(peers).where(peers.c.node_id == node_id).values(**values))
        else:
            await connection.execute(
                insert(peers).values(
                    node_id=node_id, added_at_us=to_micros(utcnow()), consecutive_failures=0, cursor=None, **values
                )
            )


async def update_peer_keys(engine: AsyncEngine, node_id: str, keys: list[PublicKeyInfo]) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            update(peers)
            .where(peers.c.node_id == node_id)
            .values(keys=json.dumps([key.jwk() for key in keys]), discovery_fetched_at_us=to_micros(utcnow()))
        )


async def update_peer_speaks(engine: AsyncEngine, node_id: str, speaks: dict[str, Any]) -> None:
    """Record what a peer's discovery document, read again, says it speaks (it may have upgraded)."""
    async with engine.begin() as connection:
        await connection.execute(update(peers).where(peers.c.node_id == node_id).values(speaks=json.dumps(speaks)))


async def mark_discovery_fetch(engine: AsyncEngine, node_id: str) -> None:
    async with engine.begin() as connection:
        await connection.execute(
            update(peers).where(peers.c.node_id == node_id).values(discovery_fetched_at_us=to_micros(utcnow()))
        )


async def remove_peer(engine: AsyncEngine, node_id: str) -> bool:
    async with engine.begin() as connection:
        result = await connection.execute(delete(peers).where(peers.c.node_id == node_id))
    return bool(result.rowcount)


async def record_pull_outcome(
    engine: AsyncEngine, node_id: str, *, error: str | None = None, lag: int | None = None
) -> None:
    now = to_micros(utcnow())
    values: dict[str, Any] = {"last_attempt_at_us": now}
    if error is None:
        values.update(last_success_at_us=now, last_error=None, consecutive_failures=0)
        if lag is not None:
            values["lag"] = lag
    else:
        values.update(
            last_error=error[:2000], last_error_at_us=now, consecutive_failures=peers.c.consecutive_failures + 1
        )
    async with engine.begin() as connection:
        await connection.execute(update(peers).where(peers.c.node_id == node_id).values(**values))


async def set_checkpoint(connection: AsyncConnection, node_id: str, cursor: str, lag: int | None) -> None:
    """Move a peer's pull checkpoint; call it in the transaction that applied the page."""
    await connection.execute(update(peers).where(peers.c.node_id == node_id).values(cursor=cursor, lag=lag))


# A replayed nonce conflicts on the primary key (keyid, nonce): nothing is inserted, and the status says so.
_POSTGRES_NONCE_SQL = (
    "INSERT INTO nonces (keyid, nonce, expires_at_us) VALUES ($1, $2, $3) ON CONFLICT (keyid, nonce) DO NOTHING"
)


async def remember_nonce(engine: AsyncEngine, keyid: str, nonce: str, expires_at_us: int) -> bool:
    """False if this nonce was already used with this key (a replay)."""
    if engine.dialect.name == "postgresql":
        # On the driver: every signed request stores its nonce (storage.engine.pooled_driver says why).
        async with pooled_driver(engine) as driver:
            status: str = await driver.execute(_POSTGRES_NONCE_SQL, keyid, nonce, expires_at_us)
        return status == "INSERT 0 1"
    try:
        async with engine.begin() as connection:
            await connection.execute(insert(nonces).values(keyid=keyid, nonce=nonce, expires_at_us=expires_at_us))
    except IntegrityError:
        return False
    return True


async def purge_nonces(engine: AsyncEngine) -> int:
    async with engine.begin() as connection:
        result = await connection.execute(delete(nonces).where(nonces.c.expires_at_us < to_micros(utcnow())))
    return int(result.rowcount or 0)


async def claim_inbox_batch(connection: AsyncConnection, origin: str, batch_id: str, count: int) -> bool:
    """Record a received batch in the caller's transaction; False if it was already received.

    INSERT … ON CONFLICT DO NOTHING rather than look-then-insert: two hub processes receiving the same batch
    at once must not both apply it, nor fail on the primary key.
    """
    dialect = connection.dialect.name
    statement: Any = insert_for(dialect, inbox_batches)
    result = await connection.execute(
        statement.values(
            origin=origin, batch_id=batch_id, received_at_us=to_micros(utcnow()), record_count=count
        ).on_conflict_do_nothing()
    )
    return bool(result.rowcount)


# --- The change feed ------------------------------------------------------------------------------------


def encode_feed_cursor(seq: int) -> str:
    return encode_b64_cursor("c", seq)


def decode_feed_cursor(cursor: str) -> int:
    if not cursor:
        return 0
    try:
        return decode_b64_cursor(cursor, "c")
    except ValueError as exc:
        raise ValueError("not a cursor of this feed") from exc


def feed_item(
    quoted_origin: str, kind: str, record_id: str, version: int, updated_us: int, deleted: bool, body: str
) -> str:
    """One record envelope as JSON (`quoted_origin` is the origin as a JSON string); the stored body, which is
    the canonical document, is spliced in, not re-encoded.

    The reference for the envelope's exact text: the feed and the outbox build the same text in SQL
    (`feed_sql`), which tests compare with this function on both database engines.
    """
    updated_at = from_micros(updated_us).isoformat().replace("+00:00", "Z")
    return (
        f'{{"origin":{quoted_origin},"id":"{record_id}","kind":"{kind}","version":{version},'
        f'"updated_at":"{updated_at}","deleted":{"true" if deleted else "false"},'
        f'"payload":{"null" if deleted else body}}}'
    )


# The envelope built by the database: serving a page then costs Python one join of ready-made items instead of
# formatting each record (measured: a third of the serving node's CPU during a pull). `updated_at` follows
# Python's isoformat: microseconds only when not zero, "Z" for UTC. No colon in a literal is followed by a
# letter: SQLAlchemy's text() would take it for a bind parameter (hence 'HH24:' || 'MI:' and ':' || 'null').
_FRACTION = "(((r.updated_at_us % 1000000) + 1000000) % 1000000)"  # also right before 1970
_UPDATED_AT = {
    "sqlite": (
        f"strftime('%Y-%m-%dT%H:%M:%S', (r.updated_at_us - {_FRACTION}) / 1000000, 'unixepoch')"
        f" || CASE WHEN {_FRACTION} = 0 THEN '' ELSE printf('.%06d', {_FRACTION}) END"
    ),
    "postgresql": (
        f"to_char(to_timestamp((r.updated_at_us - {_FRACTION}) / 1000000) AT TIME ZONE 'UTC', "
        "'YYYY-MM-DD\"T\"HH24:' || 'MI:' || 'SS')"
        f" || CASE WHEN {_FRACTION} = 0 THEN '' ELSE '.' || lpad({_FRACTION}::text, 6, '0') END"
    ),
}
_ENVELOPE = (
    '\'{{"origin":\' || :quoted_origin || \',"id":"\' || r.id || \'","kind":"\' || r.kind'
    ' || \'","version":\' || r.version || \',"updated_at":"\' || {updated_at} || \'Z","deleted":\''
    " || CASE WHEN r.deleted THEN 'true,\"payload\":' || 'null}}' ELSE 'false,\"payload\":' || r.body || '}}' END"
)
# As bytes (the feed sends them as they are) or as text (the outbox stores its batches as text).
_AS_BYTES = {"sqlite": "CAST({} AS BLOB)", "postgresql": "convert_to({}, 'UTF8')"}

FEED_SQL = """
SELECT c.seq, {envelope}
FROM changes c JOIN records r ON r.id = c.id AND r.origin = c.origin
WHERE c.seq > :since AND c.origin = :origin AND r.version = c.version
  {visibility}
ORDER BY c.seq
LIMIT :limit
"""


@functools.cache
def feed_visibility(kinds: RecordKinds, reader_is_hub: bool) -> str:
    """The feed's condition on what a reader sees, from each kind's audience (RecordKind.audience), built once
    per set of kinds: a record addressed to the reader (`records.audience`, the addressee the kind names); else a
    record addressed to no one, unless its kind is addressed (an addressed record always names its addressee; a
    tombstone keeps it) or, for a reader that is not the hub, hub-only. Kind names match a plain pattern
    (federation.schema.kinds), so they are inlined. Parameter: reader (the reader's node id)."""
    withheld = (*kinds.by_audience("addressed"), *(() if reader_is_hub else kinds.by_audience("hub")))
    if not withheld:
        return "AND (r.audience IS NULL OR r.audience = :reader)"
    names = ", ".join(f"'{name}'" for name in withheld)
    return f"AND (r.audience = :reader OR (r.audience IS NULL AND c.kind NOT IN ({names})))"


def hidden_kinds_condition(hidden_kinds: Iterable[str]) -> str:
    """The feed's extra condition leaving out the kinds a reader of an older minor version does not read
    (federation.protocol.older_peers: names of this node's own kinds, which match a plain pattern, so inlined)."""
    hidden = tuple(hidden_kinds)
    if not hidden:
        return ""
    return " AND c.kind NOT IN (" + ", ".join(f"'{kind}'" for kind in hidden) + ")"


def feed_sql(dialect: str, visibility: str, as_bytes: bool = False) -> str:
    """The feed query: (seq, envelope) of this node's current records changed after `:since`, in commit order,
    that its reader may see (`visibility`: feed_visibility).

    Parameters: since, origin, quoted_origin (the origin as a JSON string), reader, limit. Superseded
    change-log entries are skipped (the newer entry carries the record); tombstones are kept. `hidden_kinds`:
    record kinds the reader does not read (a peer of an older version), left out like reports for a non-hub.
    """
    if dialect not in _UPDATED_AT:
        raise ValueError(f"no feed query for the {dialect} database: a node runs on sqlite or postgresql")
    envelope = _ENVELOPE.format(updated_at=_UPDATED_AT[dialect])
    if as_bytes:
        envelope = _AS_BYTES[dialect].format(envelope)
    return FEED_SQL.format(envelope=envelope, visibility=visibility)


@dataclass(frozen=True)
class FeedPage:
    items: list[bytes]
    last_seq: int
    head_seq: int


HEAD_SQL = """
SELECT c.seq FROM changes c JOIN records r ON r.id = c.id AND r.origin = c.origin
WHERE c.origin = :origin {visibility}
ORDER BY c.seq DESC
LIMIT 1
"""


async def read_feed(
    database: RecordReader, origin: str, since: int, limit: int, visibility: str, reader: str
) -> FeedPage:
    """Current versions of this node's records changed after `since` that `reader` may see (`visibility`:
    feed_visibility), in commit order, as JSON envelopes (bytes).

    Reads go through the node's record reader (on SQLite, a dedicated read-only connection without
    SQLAlchemy's per-row cost: the feed serves hundreds of thousands of rows to a new peer).
    """
    params = {"since": since, "origin": origin, "quoted_origin": json.dumps(origin), "limit": limit, "reader": reader}
    rows = await database.rows(feed_sql(database.dialect, visibility, as_bytes=True), params)
    # ORDER BY … DESC LIMIT 1 walks the (origin, seq) index backwards and stops at the first entry this
    # reader may see, where max() with the visibility filters would scan every entry of the origin.
    head = await database.rows(HEAD_SQL.format(visibility=visibility), {"origin": origin, "reader": reader})
    last_seq = rows[-1][0] if rows else since
    return FeedPage([row[1] for row in rows], last_seq, int(head[0][0]) if head else 0)
