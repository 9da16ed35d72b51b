"""SQLAlchemy Core table definitions: the single description of the node's database layout."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    text,
)

from federation.storage.upsert import ONE_PROFILE_KIND

ONE_PROFILE_WHERE = f"kind = '{ONE_PROFILE_KIND}' AND NOT deleted"

# Explicit constraint names keep Alembic migrations identical on SQLite and PostgreSQL.
metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "pk": "pk_%(table_name)s",
    }
)

# One row per federated record (local or replicated), its current state only. `body` is the record's
# canonical JSON, served as-is so reads never re-serialise. Filterable fields are copied into columns.
records = Table(
    "records",
    metadata,
    Column("rid", Integer().with_variant(BigInteger(), "postgresql"), primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("origin", String(64), nullable=False),
    Column("id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at_us", BigInteger, nullable=False, comment="microseconds since the Unix epoch, UTC"),
    Column("deleted", Boolean, nullable=False, default=False),
    Column("category", String(64)),
    Column("service_type", String(64)),
    Column("status", String(32)),
    Column("commune", String(5)),
    Column("resource_kind", String(32)),
    Column("period", String(16)),
    Column("start_date", String(10), comment="ISO date, for activities"),
    Column("end_date", String(10), comment="ISO date, for activities"),
    Column("audience", String(64), comment="if set, only this node (and the origin) sees the record in feeds"),
    Column("body", Text, nullable=False),
    # A record is (origin, id): another origin's record with the same id is another record. The id comes first so
    # that the index also serves lookups by id alone (the API's paths of local records, the feed's join).
    Index(None, "id", "origin", unique=True),
    Index(None, "kind", "rid"),
    Index(None, "kind", "origin", "rid"),
    # One live profile per origin (design.md, trust rule 2): a member cannot be in several regions at once.
    Index(
        "ix_records_one_profile_per_origin",
        "origin",
        unique=True,
        sqlite_where=text(ONE_PROFILE_WHERE),
        postgresql_where=text(ONE_PROFILE_WHERE),
    ),
    Index(None, "kind", "updated_at_us"),
    Index(None, "kind", "category", "rid"),
    # Indexes only a plugin's queries need (the hub's aggregates) are created where it runs: register_indexes.
)

# Append-only change log in local commit order: the node's feed. A row per write, tombstones included.
changes = Table(
    "changes",
    metadata,
    Column("seq", Integer().with_variant(BigInteger(), "postgresql"), primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False),
    Column("origin", String(64), nullable=False),
    Column("id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("deleted", Boolean, nullable=False),
    Column("committed_at_us", BigInteger, nullable=False),
    # The feed reads one origin's entries in seq order from a cursor: this index serves it without sorting.
    Index(None, "origin", "seq"),
)

# A counter per (kind, origin) that every transaction writing such records increases, local writes and replicas
# alike (federation/storage/upsert.py, REVISION_SQL): the same revision seen twice means none of those records
# changed in between. No row: no record of that kind from that origin was ever written since the counters exist.
record_revisions = Table(
    "record_revisions",
    metadata,
    Column("kind", String(32), primary_key=True),
    Column("origin", String(64), primary_key=True),
    Column("revision", BigInteger, nullable=False),
)

# API bearer tokens, stored as SHA-256 digests: the token itself is shown once and never kept.
tokens = Table(
    "tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("token_hash", String(64), nullable=False),
    Column("prefix", String(12), nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    Column("revoked_at_us", BigInteger),
    Column("last_used_at_us", BigInteger),
    Column("role", String(16), nullable=False, server_default="admin", comment="admin, national or regional"),
    Column("region", String(3), comment="INSEE region code, for regional coordinators"),
    Index(None, "token_hash", unique=True),
    Index(None, "name"),
)

# Small key/value facts about this node (its id, when it was initialised).
node_meta = Table(
    "node_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

# Public halves of this node's signing keys (private halves are files under <data-dir>/keys/).
node_keys = Table(
    "node_keys",
    metadata,
    Column("kid", String(64), primary_key=True),
    Column("public_x", String(64), nullable=False),
    Column("created_us", BigInteger, nullable=False),
    Column("not_after_us", BigInteger),
    Column("signed_by", String(64)),
    Column("rotation_signature", String(128)),
)

# Nodes this node exchanges with: their pinned keys, what we do with them, and the pull checkpoint.
peers = Table(
    "peers",
    metadata,
    Column("node_id", String(64), primary_key=True),
    Column("name", String(200), nullable=False),
    Column("base_url", String(500), nullable=False),
    Column("keys", Text, nullable=False, comment="JSON list of pinned JWKs"),
    Column("role", String(16), nullable=False, default="peer"),
    Column("pull", Boolean, nullable=False, default=True),
    Column("push", Boolean, nullable=False, default=False),
    Column("status", String(16), nullable=False, default="active"),
    Column("cursor", String(1024), comment="opaque feed cursor of the last applied page"),
    Column("added_at_us", BigInteger, nullable=False),
    Column("last_attempt_at_us", BigInteger),
    Column("last_success_at_us", BigInteger),
    Column("last_error", Text),
    Column("last_error_at_us", BigInteger),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("lag", BigInteger, comment="changes the peer had that we had not applied, at the last pull"),
    Column("discovery_fetched_at_us", BigInteger),
    Column("pull_holder", String(160), comment="host:pid:start:token of the pull holding the lease"),
    Column("pull_lease_until_us", BigInteger, comment="the lease is free after this moment unless renewed"),
    Column(
        "speaks",
        Text,
        comment="JSON from its discovery document: protocol and schema versions, record kinds, service types",
    ),
)

# Batches received on the inbox, so a redelivered batch is acknowledged without being applied twice.
inbox_batches = Table(
    "inbox_batches",
    metadata,
    Column("origin", String(64), primary_key=True),
    Column("batch_id", String(64), primary_key=True),
    Column("received_at_us", BigInteger, nullable=False),
    Column("record_count", Integer, nullable=False),
)

# Durable outbox: change batches frozen for one destination, delivered one at a time, never dropped silently.
outbox_batches = Table(
    "outbox_batches",
    metadata,
    Column("id", Integer().with_variant(BigInteger(), "postgresql"), primary_key=True, autoincrement=True),
    Column("destination", String(100), nullable=False),
    Column("batch_id", String(64), nullable=False),
    Column("first_seq", BigInteger, nullable=False),
    Column("last_seq", BigInteger, nullable=False),
    Column("record_count", Integer, nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False, comment="pending, failed, delivered or discarded"),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at_us", BigInteger, nullable=False),
    Column("last_error", Text),
    Column("created_at_us", BigInteger, nullable=False),
    Column("delivered_at_us", BigInteger),
    Index(None, "batch_id", unique=True),
    Index(None, "destination", "state", "id"),
)

# Per destination: how far the change log has been batched, and the circuit breaker's state.
push_cursors = Table(
    "push_cursors",
    metadata,
    Column("destination", String(100), primary_key=True),
    Column("last_seq", BigInteger, nullable=False, default=0),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("open_until_us", BigInteger),
)

# Signature nonces seen within the max age, to refuse replayed requests (shared by every process).
nonces = Table(
    "nonces",
    metadata,
    Column("keyid", String(200), primary_key=True),
    Column("nonce", String(100), primary_key=True),
    Column("expires_at_us", BigInteger, nullable=False),
    Index(None, "expires_at_us"),
)

# Requests of nodes to join the network, decided by a coordinator of the hub.
enrolments = Table(
    "enrolments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("node_id", String(64), nullable=False),
    Column("name", String(200), nullable=False),
    Column("base_url", String(500), nullable=False),
    Column("keys", Text, nullable=False, comment="JSON list of JWKs from the node's discovery document"),
    Column("commune", String(5)),
    Column("department", String(3)),
    Column("region", String(3)),
    Column("label_status", String(16)),
    Column("kind", String(16)),
    Column("state", String(16), nullable=False, comment="pending, approved, rejected or revoked"),
    Column("requested_at_us", BigInteger, nullable=False),
    Column("decided_at_us", BigInteger),
    Column("decided_by", String(100)),
    Column("comment", Text),
    Column("source", String(64), comment="address the join request came from"),
    Column("revoked_at_us", BigInteger, comment="when a coordinator revoked the member"),
    Column("revoked_by", String(100)),
    Column("revoke_reason", Text),
    Index(None, "node_id"),
    Index(None, "state"),
    Index("ix_enrolments_source", "source"),
    # One request per node id awaits a decision: two arriving at once cannot both be stored.
    Index(
        "ux_enrolments_one_pending",
        "node_id",
        unique=True,
        sqlite_where=text("state = 'pending'"),
        postgresql_where=text("state = 'pending'"),
    ),
)

# The label the network grants each member, as its national coordinators record it (the régie's profile only claims
# one): the latest statement per node.
hub_labels = Table(
    "hub_labels",
    metadata,
    Column("node_id", String(64), primary_key=True),
    Column("status", String(16), nullable=False, comment="en_projet or labellisee"),
    Column("since", Date, comment="first day the status holds"),
    Column("until", Date, comment="last day the status holds (none: open-ended)"),
    Column("granted_by", String(100), nullable=False),
    Column("granted_at_us", BigInteger, nullable=False),
)

# What each of the hub's own reviews decided on: the reviewed report's period and indicators when the coordinator
# decided. A report whose figures differ from those of its validation is not shown or counted as validated.
review_figures = Table(
    "review_figures",
    metadata,
    Column("review_id", String(36), primary_key=True, comment="the hub's review record (its origin is the hub)"),
    Column("period", String(16), nullable=False),
    Column("indicators", Text, nullable=False, comment="canonical JSON of the reviewed indicators"),
    Column("digest", String(64), nullable=False, comment="SHA-256 of the reviewed period and indicators"),
)

# French regions and departments (INSEE), so that aggregations can group by them in SQL.
geo_regions = Table(
    "geo_regions",
    metadata,
    Column("code", String(3), primary_key=True),
    Column("name", String(100), nullable=False),
)
geo_departments = Table(
    "geo_departments",
    metadata,
    Column("code", String(3), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("region_code", String(3), nullable=False),
)

# People who log in to the web interface: régie staff on a node, coordinators on a hub. Passwords are argon2
# hashes; repeated failures lock the account for a while.
users = Table(
    "users",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("username", String(100), nullable=False),
    Column("password_hash", String(200), nullable=False, comment="argon2id"),
    Column("role", String(16), nullable=False, comment="admin or staff (node); national or regional (hub)"),
    Column("region", String(3), comment="INSEE region code, for regional coordinators"),
    Column("failed_attempts", Integer, nullable=False, default=0),
    Column("locked_until_us", BigInteger),
    Column("created_at_us", BigInteger, nullable=False),
    Column("last_login_at_us", BigInteger),
    Index(None, "username", unique=True),
)

# Web sessions, server side. Only a SHA-256 digest of the session id is stored: a copy of the database does
# not let anyone take over a session.
sessions = Table(
    "sessions",
    metadata,
    Column("id_hash", String(64), primary_key=True),
    Column("user_id", Integer, nullable=False),
    Column("csrf_token", String(64), nullable=False),
    Column("created_at_us", BigInteger, nullable=False),
    Column("expires_at_us", BigInteger, nullable=False),
    Index(None, "user_id"),
    Index(None, "expires_at_us"),
)
