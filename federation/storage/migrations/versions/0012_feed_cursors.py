"""Feed cursors of up to 1,024 characters in a peer's checkpoint (docs/protocol.md §7), not 100.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("peers") as batch:
        batch.alter_column(
            "cursor",
            existing_type=sa.String(100),
            type_=sa.String(1024),
            existing_comment="opaque feed cursor of the last applied page",
        )


def downgrade() -> None:
    # A checkpoint longer than 100 characters is dropped: the next pull starts that feed again (harmless: versions
    # only move forward, section 9).
    op.execute("UPDATE peers SET cursor = NULL WHERE length(cursor) > 100")
    with op.batch_alter_table("peers") as batch:
        batch.alter_column(
            "cursor",
            existing_type=sa.String(1024),
            type_=sa.String(100),
            existing_comment="opaque feed cursor of the last applied page",
        )
