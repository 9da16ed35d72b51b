"""Federation: signing keys, peers, inbox deduplication, outbox, push cursors, nonces.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_BIG_ID = sa.Integer().with_variant(sa.BigInteger(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "node_keys",
        sa.Column("kid", sa.String(64), nullable=False),
        sa.Column("public_x", sa.String(64), nullable=False),
        sa.Column("created_us", sa.BigInteger, nullable=False),
        sa.Column("not_after_us", sa.BigInteger),
        sa.Column("signed_by", sa.String(64)),
        sa.Column("rotation_signature", sa.String(128)),
        sa.PrimaryKeyConstraint("kid", name="pk_node_keys"),
    )
    op.create_table(
        "peers",
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("base_url", sa.String(500), nullable=False),
        sa.Column("keys", sa.Text, nullable=False, comment="JSON list of pinned JWKs"),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("pull", sa.Boolean, nullable=False),
        sa.Column("push", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("cursor", sa.String(100), comment="opaque feed cursor of the last applied page"),
        sa.Column("added_at_us", sa.BigInteger, nullable=False),
        sa.Column("last_attempt_at_us", sa.BigInteger),
        sa.Column("last_success_at_us", sa.BigInteger),
        sa.Column("last_error", sa.Text),
        sa.Column("last_error_at_us", sa.BigInteger),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("lag", sa.BigInteger, comment="changes the peer had that we had not applied, at the last pull"),
        sa.Column("discovery_fetched_at_us", sa.BigInteger),
        sa.PrimaryKeyConstraint("node_id", name="pk_peers"),
    )
    op.create_table(
        "inbox_batches",
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("batch_id", sa.String(64), nullable=False),
        sa.Column("received_at_us", sa.BigInteger, nullable=False),
        sa.Column("record_count", sa.Integer, nullable=False),
        sa.PrimaryKeyConstraint("origin", "batch_id", name="pk_inbox_batches"),
    )
    op.create_table(
        "outbox_batches",
        sa.Column("id", _BIG_ID, nullable=False, autoincrement=True),
        sa.Column("destination", sa.String(100), nullable=False),
        sa.Column("batch_id", sa.String(64), nullable=False),
        sa.Column("first_seq", sa.BigInteger, nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("record_count", sa.Integer, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("state", sa.String(16), nullable=False, comment="pending, failed, delivered or discarded"),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at_us", sa.BigInteger, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("delivered_at_us", sa.BigInteger),
        sa.PrimaryKeyConstraint("id", name="pk_outbox_batches"),
    )
    op.create_index("ix_outbox_batches_batch_id", "outbox_batches", ["batch_id"], unique=True)
    op.create_index("ix_outbox_batches_destination_state_id", "outbox_batches", ["destination", "state", "id"])
    op.create_table(
        "push_cursors",
        sa.Column("destination", sa.String(100), nullable=False),
        sa.Column("last_seq", sa.BigInteger, nullable=False),
        sa.Column("consecutive_failures", sa.Integer, nullable=False),
        sa.Column("open_until_us", sa.BigInteger),
        sa.PrimaryKeyConstraint("destination", name="pk_push_cursors"),
    )
    op.create_table(
        "nonces",
        sa.Column("keyid", sa.String(200), nullable=False),
        sa.Column("nonce", sa.String(100), nullable=False),
        sa.Column("expires_at_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("keyid", "nonce", name="pk_nonces"),
    )
    op.create_index("ix_nonces_expires_at_us", "nonces", ["expires_at_us"])


def downgrade() -> None:
    for table in ("nonces", "push_cursors", "outbox_batches", "inbox_batches", "peers", "node_keys"):
        op.drop_table(table)
