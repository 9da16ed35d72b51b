"""What each peer speaks, from its discovery document: protocol and schema versions, record kinds, service types.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("peers") as batch:
        batch.add_column(
            sa.Column(
                "speaks",
                sa.Text,
                comment="JSON from its discovery document: protocol and schema versions, record kinds, service types",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("peers") as batch:
        batch.drop_column("speaks")
