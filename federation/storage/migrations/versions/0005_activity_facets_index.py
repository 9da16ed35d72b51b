"""Covering index for the hub's activity tables: kind, origin, field of action, service type, dates.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27
"""

from __future__ import annotations

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_COLUMNS = ["kind", "origin", "category", "service_type", "deleted", "start_date", "end_date"]


def upgrade() -> None:
    op.drop_index("ix_records_kind_origin_category_service_type", "records")
    op.create_index("ix_records_activity_facets", "records", _COLUMNS)


def downgrade() -> None:
    op.drop_index("ix_records_activity_facets", "records")
    op.create_index(
        "ix_records_kind_origin_category_service_type", "records", ["kind", "origin", "category", "service_type"]
    )
