"""SQLAlchemy Core table definitions: the single description of the node's database layout."""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)

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
    Column("body", Text, nullable=False),
    Index(None, "id", unique=True),
    Index(None, "kind", "rid"),
    Index(None, "kind", "origin", "rid"),
    Index(None, "kind", "updated_at_us"),
    Index(None, "kind", "category", "rid"),
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
    Index(None, "origin", "id"),
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
