"""Pull leases: one pull per peer at a time across the node's processes (federation/protocol/pull_lease.py).

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("peers") as batch:
        batch.add_column(
            sa.Column("pull_holder", sa.String(160), comment="host:pid:start:token of the pull holding the lease")
        )
        batch.add_column(
            sa.Column(
                "pull_lease_until_us", sa.BigInteger, comment="the lease is free after this moment unless renewed"
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("peers") as batch:
        batch.drop_column("pull_lease_until_us")
        batch.drop_column("pull_holder")
