"""Enrolment: the address a join request came from (to cap pending requests per source), a member's revocation,
and at most one request per node id awaiting a decision.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("enrolments") as batch:
        batch.add_column(sa.Column("source", sa.String(64), comment="address the join request came from"))
        batch.add_column(sa.Column("revoked_at_us", sa.BigInteger, comment="when a coordinator revoked the member"))
        batch.add_column(sa.Column("revoked_by", sa.String(100)))
        batch.add_column(sa.Column("revoke_reason", sa.Text))
        batch.create_index("ix_enrolments_source", ["source"])
        batch.create_index(
            "ux_enrolments_one_pending",
            ["node_id"],
            unique=True,
            sqlite_where=sa.text("state = 'pending'"),
            postgresql_where=sa.text("state = 'pending'"),
        )
        batch.alter_column(
            "state",
            existing_type=sa.String(16),
            existing_nullable=False,
            comment="pending, approved, rejected or revoked",
            existing_comment="pending, approved or rejected",
        )


def downgrade() -> None:
    with op.batch_alter_table("enrolments") as batch:
        batch.alter_column(
            "state",
            existing_type=sa.String(16),
            existing_nullable=False,
            comment="pending, approved or rejected",
            existing_comment="pending, approved, rejected or revoked",
        )
        batch.drop_index("ux_enrolments_one_pending")
        batch.drop_index("ix_enrolments_source")
        batch.drop_column("revoke_reason")
        batch.drop_column("revoked_by")
        batch.drop_column("revoked_at_us")
        batch.drop_column("source")
