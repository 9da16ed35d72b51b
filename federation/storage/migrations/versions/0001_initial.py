"""Initial layout: records, change log, tokens, node facts.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_BIG_ID = sa.Integer().with_variant(sa.BigInteger(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "records",
        sa.Column("rid", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("updated_at_us", sa.BigInteger, nullable=False, comment="microseconds since the Unix epoch, UTC"),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("category", sa.String(64)),
        sa.Column("service_type", sa.String(64)),
        sa.Column("status", sa.String(32)),
        sa.Column("commune", sa.String(5)),
        sa.Column("resource_kind", sa.String(32)),
        sa.Column("period", sa.String(16)),
        sa.Column("body", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("rid", name="pk_records"),
    )
    op.create_index("ix_records_id", "records", ["id"], unique=True)
    op.create_index("ix_records_kind_rid", "records", ["kind", "rid"])
    op.create_index("ix_records_kind_origin_rid", "records", ["kind", "origin", "rid"])
    op.create_index("ix_records_kind_updated_at_us", "records", ["kind", "updated_at_us"])
    op.create_index("ix_records_kind_category_rid", "records", ["kind", "category", "rid"])

    op.create_table(
        "changes",
        sa.Column("seq", _BIG_ID, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("committed_at_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_changes"),
    )
    op.create_index("ix_changes_origin_id", "changes", ["origin", "id"])

    op.create_table(
        "tokens",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("prefix", sa.String(12), nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("revoked_at_us", sa.BigInteger),
        sa.Column("last_used_at_us", sa.BigInteger),
        sa.PrimaryKeyConstraint("id", name="pk_tokens"),
    )
    op.create_index("ix_tokens_token_hash", "tokens", ["token_hash"], unique=True)
    op.create_index("ix_tokens_name", "tokens", ["name"])

    op.create_table(
        "node_meta",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text, nullable=False),
        sa.PrimaryKeyConstraint("key", name="pk_node_meta"),
    )


def downgrade() -> None:
    op.drop_table("node_meta")
    op.drop_table("tokens")
    op.drop_table("changes")
    op.drop_table("records")
