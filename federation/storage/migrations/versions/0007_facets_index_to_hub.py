"""The activity facets index leaves the core schema: only the hub's aggregates read it, every node paid for it.

The hub plugin asks for it through `register_indexes`; a hub re-creates it at its next start.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_COLUMNS = ["kind", "origin", "category", "service_type", "deleted", "start_date", "end_date"]


def upgrade() -> None:
    op.drop_index("ix_records_activity_facets", "records", if_exists=True)


def downgrade() -> None:
    op.create_index("ix_records_activity_facets", "records", _COLUMNS, if_not_exists=True)
