"""What the hub's reviews decided on: the figures of the reviewed report, kept when a coordinator decides, so that
a report whose figures changed after its validation is neither shown nor counted as validated."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.plugin_api.storage import review_figures

FIGURES = "_figures"
"""The key under which coordination.hub_reviews puts a review's Figures (None when the hub kept none)."""


@dataclass(frozen=True)
class Figures:
    """A report's period and indicator values, in one canonical form whatever JSON the member sent."""

    period: str
    indicators: dict[str, float]

    @classmethod
    def of(cls, document: Mapping[str, Any]) -> Figures:
        """The figures of a report document (its body as stored)."""
        period = document.get("period") or {}
        values = document.get("indicators") or {}
        return cls(str(period.get("key", "")), {str(key): float(value) for key, value in values.items()})

    def canonical_indicators(self) -> str:
        return json.dumps(self.indicators, sort_keys=True, separators=(",", ":"), allow_nan=False)

    @property
    def digest(self) -> str:
        """SHA-256 of the period and the indicators: two reports have the same digest iff their figures agree
        (`12` and `12.0` are one value)."""
        canonical = json.dumps({"period": self.period, "indicators": self.indicators}, sort_keys=True)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def changes_from(self, reviewed: Figures) -> list[tuple[str, float | None, float | None]]:
        """(indicator, reviewed value, current value) for each indicator that differs, by key; the period as
        `period` when it moved."""
        changes: list[tuple[str, Any, Any]] = []
        if self.period != reviewed.period:
            changes.append(("period", reviewed.period, self.period))
        for key in sorted(set(self.indicators) | set(reviewed.indicators)):
            before, now = reviewed.indicators.get(key), self.indicators.get(key)
            if before != now:
                changes.append((key, before, now))
        return changes


def from_row(period: str | None, indicators: str | None) -> Figures | None:
    """A review's kept figures from its `review_figures` columns (None: the hub kept none for this review)."""
    if period is None or indicators is None:
        return None
    return Figures(period, {key: float(value) for key, value in json.loads(indicators).items()})


async def keep(engine: AsyncEngine, review_id: str, figures: Figures) -> None:
    """Keep what a review decides on, before the review record itself is written: a review never exists without
    them (a row whose review failed to be written is never read)."""
    async with engine.begin() as connection:
        await connection.execute(
            insert(review_figures).values(
                review_id=review_id,
                period=figures.period,
                indicators=figures.canonical_indicators(),
                digest=figures.digest,
            )
        )


def same_figures_sql(dialect: str) -> str:
    """A condition: report `r` still has the figures kept for review `rf` (period and every indicator value)."""
    if dialect == "postgresql":
        # jsonb equality ignores key order and compares numbers by value.
        return (
            "rf.period = r.period AND CAST(rf.indicators AS jsonb) = "
            "COALESCE(CAST(r.body AS jsonb) -> 'indicators', CAST('{}' AS jsonb))"
        )
    return (
        "rf.period = r.period "
        "AND (SELECT COUNT(*) FROM json_each(r.body, '$.indicators')) "
        "= (SELECT COUNT(*) FROM json_each(rf.indicators)) "
        "AND NOT EXISTS (SELECT 1 FROM json_each(r.body, '$.indicators') cur "
        "LEFT JOIN json_each(rf.indicators) kept ON kept.key = cur.key "
        "WHERE kept.key IS NULL OR kept.value <> cur.value)"
    )
