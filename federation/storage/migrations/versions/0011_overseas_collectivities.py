"""Overseas collectivities in the hub's geographic tables: each its own department and "region" (Etalab data).

Communes of Saint-Martin, Saint-Barthélemy, French Polynesia, New Caledonia, … are accepted since the reference
data lists them; a member there gets its department and region from these rows in the hub's tables.
The rows are written here, not read from the reference data, so that this revision always does the same thing;
databases created after the data gained them (revision 0003 reads the current data) already have them.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

COLLECTIVITIES = (
    ("975", "Saint-Pierre-et-Miquelon"),
    ("977", "Saint-Barthélemy"),
    ("978", "Saint-Martin"),
    ("984", "Terres australes et antarctiques françaises"),
    ("986", "Wallis et Futuna"),
    ("987", "Polynésie française"),
    ("988", "Nouvelle-Calédonie"),
    ("989", "Île de Clipperton"),
)


_REGIONS = sa.table("geo_regions", sa.column("code", sa.String), sa.column("name", sa.String))
_DEPARTMENTS = sa.table(
    "geo_departments", sa.column("code", sa.String), sa.column("name", sa.String), sa.column("region_code", sa.String)
)


def upgrade() -> None:
    connection = op.get_bind()
    regions = set(connection.execute(sa.select(_REGIONS.c.code)).scalars())
    departments = set(connection.execute(sa.select(_DEPARTMENTS.c.code)).scalars())
    new_regions = [{"code": code, "name": name} for code, name in COLLECTIVITIES if code not in regions]
    new_departments = [
        {"code": code, "name": name, "region_code": code} for code, name in COLLECTIVITIES if code not in departments
    ]
    if new_regions:
        op.bulk_insert(_REGIONS, new_regions)
    if new_departments:
        op.bulk_insert(_DEPARTMENTS, new_departments)


def downgrade() -> None:
    codes = [code for code, _ in COLLECTIVITIES]
    op.execute(_DEPARTMENTS.delete().where(_DEPARTMENTS.c.code.in_(codes)))
    op.execute(_REGIONS.delete().where(_REGIONS.c.code.in_(codes)))
