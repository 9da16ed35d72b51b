"""The label the network grants each member (status, from, until), recorded on the hub by national coordinators.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "hub_labels",
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False, comment="en_projet or labellisee"),
        sa.Column("since", sa.Date, comment="first day the status holds"),
        sa.Column("until", sa.Date, comment="last day the status holds (none: open-ended)"),
        sa.Column("granted_by", sa.String(100), nullable=False),
        sa.Column("granted_at_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("node_id", name=op.f("pk_hub_labels")),
    )


def downgrade() -> None:
    op.drop_table("hub_labels")
