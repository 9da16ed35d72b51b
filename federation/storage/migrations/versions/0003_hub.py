"""Hub and roles: token roles, record dates and audience, enrolments, geographic reference tables.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from federation.schema.geo import DEPARTMENTS, REGIONS

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("tokens") as batch:
        batch.add_column(
            sa.Column(
                "role", sa.String(16), nullable=False, server_default="admin", comment="admin, national or regional"
            )
        )
        batch.add_column(sa.Column("region", sa.String(3), comment="INSEE region code, for regional coordinators"))
    with op.batch_alter_table("records") as batch:
        batch.add_column(sa.Column("start_date", sa.String(10), comment="ISO date, for activities"))
        batch.add_column(sa.Column("end_date", sa.String(10), comment="ISO date, for activities"))
        batch.add_column(
            sa.Column(
                "audience", sa.String(64), comment="if set, only this node (and the origin) sees the record in feeds"
            )
        )
    op.create_index(
        "ix_records_kind_origin_category_service_type", "records", ["kind", "origin", "category", "service_type"]
    )
    op.create_table(
        "enrolments",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("base_url", sa.String(500), nullable=False),
        sa.Column("keys", sa.Text, nullable=False, comment="JSON list of JWKs from the node's discovery document"),
        sa.Column("commune", sa.String(5)),
        sa.Column("department", sa.String(3)),
        sa.Column("region", sa.String(3)),
        sa.Column("label_status", sa.String(16)),
        sa.Column("kind", sa.String(16)),
        sa.Column("state", sa.String(16), nullable=False, comment="pending, approved or rejected"),
        sa.Column("requested_at_us", sa.BigInteger, nullable=False),
        sa.Column("decided_at_us", sa.BigInteger),
        sa.Column("decided_by", sa.String(100)),
        sa.Column("comment", sa.Text),
        sa.PrimaryKeyConstraint("id", name="pk_enrolments"),
    )
    op.create_index("ix_enrolments_node_id", "enrolments", ["node_id"])
    op.create_index("ix_enrolments_state", "enrolments", ["state"])
    regions = op.create_table(
        "geo_regions",
        sa.Column("code", sa.String(3), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_geo_regions"),
    )
    departments = op.create_table(
        "geo_departments",
        sa.Column("code", sa.String(3), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("region_code", sa.String(3), nullable=False),
        sa.PrimaryKeyConstraint("code", name="pk_geo_departments"),
    )
    op.bulk_insert(regions, [{"code": r.code, "name": r.name} for r in REGIONS.values()])
    op.bulk_insert(
        departments, [{"code": d.code, "name": d.name, "region_code": d.region_code} for d in DEPARTMENTS.values()]
    )


def downgrade() -> None:
    op.drop_table("geo_departments")
    op.drop_table("geo_regions")
    op.drop_table("enrolments")
    op.drop_index("ix_records_kind_origin_category_service_type", "records")
    with op.batch_alter_table("records") as batch:
        batch.drop_column("audience")
        batch.drop_column("end_date")
        batch.drop_column("start_date")
    with op.batch_alter_table("tokens") as batch:
        batch.drop_column("region")
        batch.drop_column("role")
