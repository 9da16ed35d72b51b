"""What each of the hub's reviews decided on: the reviewed report's period and indicators, and their digest.

Reviews written before this revision kept nothing: they get the figures their report has when the hub is upgraded
(the best the hub knows; a report changed after its validation before the upgrade stays validated with them).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def _figures(report: dict[str, Any]) -> tuple[str, str, str]:
    # A frozen copy of plugins/regies_hub/reviewed.py's canonical form at this revision.
    period = str((report.get("period") or {}).get("key", ""))
    indicators = {str(key): float(value) for key, value in (report.get("indicators") or {}).items()}
    digest = hashlib.sha256(json.dumps({"period": period, "indicators": indicators}, sort_keys=True).encode())
    return period, json.dumps(indicators, sort_keys=True, separators=(",", ":")), digest.hexdigest()


def upgrade() -> None:
    table = op.create_table(
        "review_figures",
        sa.Column(
            "review_id", sa.String(36), nullable=False, comment="the hub's review record (its origin is the hub)"
        ),
        sa.Column("period", sa.String(16), nullable=False),
        sa.Column("indicators", sa.Text, nullable=False, comment="canonical JSON of the reviewed indicators"),
        sa.Column("digest", sa.String(64), nullable=False, comment="SHA-256 of the reviewed period and indicators"),
        sa.PrimaryKeyConstraint("review_id", name=op.f("pk_review_figures")),
    )
    bind = op.get_bind()
    own = bind.execute(sa.text("SELECT value FROM node_meta WHERE key = 'node_id'")).scalar()
    reviews = bind.execute(
        sa.text("SELECT id, body FROM records WHERE kind = 'review' AND origin = :own AND NOT deleted"), {"own": own}
    ).all()
    rows = []
    for review_id, body in reviews:
        review = json.loads(body)
        report = bind.execute(
            sa.text("SELECT body FROM records WHERE kind = 'report' AND origin = :origin AND id = :id"),
            {"origin": review.get("report_origin"), "id": review.get("report_id")},
        ).scalar()
        if report is not None:
            period, indicators, digest = _figures(json.loads(report))
            rows.append({"review_id": review_id, "period": period, "indicators": indicators, "digest": digest})
    if rows:
        op.bulk_insert(table, rows)


def downgrade() -> None:
    op.drop_table("review_figures")
