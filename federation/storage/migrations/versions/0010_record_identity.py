"""Record identity is (origin, id), and an origin has one live profile.

The unique index on `records.id` alone becomes one on (id, origin): another origin's record with the same id is
another record. A partial unique index keeps one live `node` record per origin; where an origin already has
several, the first one received is kept and the others are removed (they are replicas: their origin sends its
profile again, and it is then refused with a clear error).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

ONE_PROFILE_WHERE = "kind = 'node' AND NOT deleted"


def upgrade() -> None:
    op.execute(
        f"DELETE FROM records WHERE {ONE_PROFILE_WHERE} AND rid NOT IN "
        f"(SELECT MIN(rid) FROM records WHERE {ONE_PROFILE_WHERE} GROUP BY origin)"
    )
    with op.batch_alter_table("records") as batch:
        batch.drop_index("ix_records_id")
        batch.create_index("ix_records_id_origin", ["id", "origin"], unique=True)
        batch.create_index(
            "ix_records_one_profile_per_origin",
            ["origin"],
            unique=True,
            sqlite_where=sa.text(ONE_PROFILE_WHERE),
            postgresql_where=sa.text(ONE_PROFILE_WHERE),
        )


def downgrade() -> None:
    # Fails if two origins now hold the same id: the older layout cannot tell such records apart.
    with op.batch_alter_table("records") as batch:
        batch.drop_index("ix_records_one_profile_per_origin")
        batch.drop_index("ix_records_id_origin")
        batch.create_index("ix_records_id", ["id"], unique=True)
