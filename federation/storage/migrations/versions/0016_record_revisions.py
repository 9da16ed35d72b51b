"""A revision counter per (kind, origin) that every write of such records increases (storage/upsert.py).

Existing pairs start at revision 1: a reader has seen no revision yet when the node is upgraded.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "record_revisions",
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("origin", sa.String(64), nullable=False),
        sa.Column("revision", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("kind", "origin", name=op.f("pk_record_revisions")),
    )
    op.execute(
        "INSERT INTO record_revisions (kind, origin, revision) "
        "SELECT kind, origin, 1 FROM records GROUP BY kind, origin"
    )


def downgrade() -> None:
    op.drop_table("record_revisions")
