"""Web interface: users (argon2 password hashes, roles, lockout) and server-side sessions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, nullable=False, autoincrement=True),
        sa.Column("username", sa.String(100), nullable=False),
        sa.Column("password_hash", sa.String(200), nullable=False, comment="argon2id"),
        sa.Column(
            "role",
            sa.String(16),
            nullable=False,
            comment="admin or staff (node); national or regional (hub)",
        ),
        sa.Column("region", sa.String(3), comment="INSEE region code, for regional coordinators"),
        sa.Column("failed_attempts", sa.Integer, nullable=False),
        sa.Column("locked_until_us", sa.BigInteger),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("last_login_at_us", sa.BigInteger),
        sa.PrimaryKeyConstraint("id", name="pk_users"),
    )
    op.create_index("ix_users_username", "users", ["username"], unique=True)
    op.create_table(
        "sessions",
        sa.Column("id_hash", sa.String(64), nullable=False),
        sa.Column("user_id", sa.Integer, nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("created_at_us", sa.BigInteger, nullable=False),
        sa.Column("expires_at_us", sa.BigInteger, nullable=False),
        sa.PrimaryKeyConstraint("id_hash", name="pk_sessions"),
    )
    op.create_index("ix_sessions_user_id", "sessions", ["user_id"])
    op.create_index("ix_sessions_expires_at_us", "sessions", ["expires_at_us"])


def downgrade() -> None:
    op.drop_table("sessions")
    op.drop_table("users")
