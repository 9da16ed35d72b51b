"""Lending as period-report indicators of cooperation: how many loans a régie made to other régies in the period
(in all and by kind of resource lent) and how many it obtained from them, computed from the loans its node holds.

Counts only: a report carries no detail of any loan. A loan counts in the period its start falls in (the local
date in Europe/Paris) once the lender accepted it: accepted, picked up or returned; requested, declined and
cancelled loans do not count. A node that has never taken part in a loan reports none of them (no value, so its
report form does not show them). The hub sums them like any count (docs/lending.md).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Awaitable, Callable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.plugin_api import Indicator
from federation.plugin_api.storage import records

from . import rules
from .records import DEFAULT_ZONE
from .service import Loan, read_loans

# The states of a loan the lender agreed to: what counts as a loan made.
AGREED = frozenset({rules.ACCEPTED, rules.PICKED_UP, rules.RETURNED})
# Kinds of shared resources (the core's `resource` kind), with the labels of their indicators.
RESOURCE_KINDS = {
    "vehicle": ("véhicules", "vehicles"),
    "room": ("salles", "rooms"),
    "tool": ("outils", "tools"),
    "equipment": ("équipements", "equipment"),
    "garden": ("jardins", "gardens"),
    "other": ("autres ressources", "other resources"),
}
LENT = "loans_lent_to_regies"
BORROWED = "loans_borrowed_from_regies"

Compute = Callable[[AsyncEngine, str, dt.date, dt.date], Awaitable[float | None]]


def _starts_within(loan: Loan, first_day: dt.date, last_day: dt.date) -> bool:
    return first_day <= loan.start.astimezone(DEFAULT_ZONE).date() <= last_day


async def _own_resource_kinds(engine: AsyncEngine, node_id: str) -> dict[str, str]:
    """The kind of each resource of the node, deleted ones too (a loan of a resource since withdrawn still counts)."""
    async with engine.connect() as connection:
        rows = await connection.execute(
            select(records.c.id, records.c.body).where(records.c.kind == "resource", records.c.origin == node_id)
        )
        kinds = {}
        for row in rows:
            body = json.loads(row.body) if row.body else {}
            kinds[row.id] = str(body.get("kind") or "other")
    return kinds


def count_agreed(role: str, resource_kind: str | None = None) -> Compute:
    """The number of agreed loans starting in the period where the node is `role` (lender or borrower), of
    resources of `resource_kind` only if given (the lender's own resources: only the lender knows their kind)."""

    async def compute(engine: AsyncEngine, node_id: str, first_day: dt.date, last_day: dt.date) -> float | None:
        every_loan = await read_loans(engine, node_id)
        if not every_loan:
            return None  # the régie has never lent nor borrowed through the network: nothing to report
        loans = [
            loan
            for loan in every_loan
            if loan.role == role and loan.state in AGREED and _starts_within(loan, first_day, last_day)
        ]
        if resource_kind is not None:
            kinds = await _own_resource_kinds(engine, node_id)
            loans = [loan for loan in loans if kinds.get(loan.request["resource"]["id"], "other") == resource_kind]
        return float(len(loans))

    return compute


def _count(key: str, label_fr: str, label_en: str, description: str, compute: Compute) -> Indicator:
    return Indicator(
        key, label_fr, label_en, "count", description, source="computed", section="activities", compute=compute
    )


def lending_indicators() -> list[Indicator]:
    """The totals as lender and as borrower, then the loans made by kind of resource lent."""
    indicators = [
        _count(
            LENT,
            "Prêts de ressources à d'autres régies",
            "Loans of resources to other régies",
            "Loans accepted by this régie as the lender, starting in the period.",
            count_agreed("lender"),
        ),
        _count(
            BORROWED,
            "Prêts de ressources obtenus d'autres régies",
            "Loans of resources obtained from other régies",
            "Loans of other régies' resources accepted by their lender, starting in the period.",
            count_agreed("borrower"),
        ),
    ]
    for kind, (label_fr, label_en) in RESOURCE_KINDS.items():
        indicators.append(
            _count(
                f"loans_lent_{kind}",
                f"Prêts à d'autres régies : {label_fr}",
                f"Loans to other régies: {label_en}",
                f"Of the loans to other régies, those of {label_en}.",
                count_agreed("lender", kind),
            )
        )
    return indicators
