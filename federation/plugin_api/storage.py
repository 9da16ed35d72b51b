"""The plugin API for the node's database: tables a plugin may read in SQL, and the helpers to reach them.

For plugins that keep their own rows or aggregate in SQL (the hub's national tables). Records are written through
the node's record store (`appkeys.STORE`), never into `records` directly: the change log and the plugins'
`record_committed` hooks depend on it. Timestamps are stored as integer microseconds since the epoch (UTC).
"""

from __future__ import annotations

from federation.storage.engine import create_engine, insert_for
from federation.storage.mapping import from_micros, to_micros
from federation.storage.reader import open_reader
from federation.storage.records import get_meta
from federation.storage.tables import (
    enrolments,
    hub_labels,
    node_meta,
    peers,
    record_revisions,
    records,
    review_figures,
)

__all__ = [
    "create_engine",  # the async SQLAlchemy engine of a database URL (`settings.database_url`)
    "enrolments",  # the hub's join requests and their decisions
    "from_micros",  # an aware UTC datetime from stored microseconds
    "get_meta",  # one value of the node's metadata (`node_id`, `profile_id`, ...), or None
    "hub_labels",  # the labels the hub grants its members
    "insert_for",  # the INSERT of a dialect, with its ON CONFLICT clauses: `insert_for(dialect, table)`
    "node_meta",  # the node's metadata table: key, value
    "open_reader",  # the node's reader of stored records for a database (close it when done)
    "peers",  # the node's peers: address, pinned keys, role, pull and push
    "record_revisions",  # per (kind, origin), a counter every write of those records increases (same: unchanged)
    "records",  # every record the node holds, of every kind and origin (read only: write through the store)
    "review_figures",  # the figures each of the hub's reviews decided on, by review id
    "to_micros",  # stored microseconds from an aware datetime
]
