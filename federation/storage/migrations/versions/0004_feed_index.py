"""Feed index: the change log is read per origin in seq order.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_changes_origin_id", "changes")
    op.create_index("ix_changes_origin_seq", "changes", ["origin", "seq"])


def downgrade() -> None:
    op.drop_index("ix_changes_origin_seq", "changes")
    op.create_index("ix_changes_origin_id", "changes", ["origin", "id"])
