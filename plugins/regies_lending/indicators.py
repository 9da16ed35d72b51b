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
from collections import Counter

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

Figures = dict[str, float | None]


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


async def loan_figures(engine: AsyncEngine, node_id: str, first_day: dt.date, last_day: dt.date) -> Figures:
    """Every lending indicator's figure for the period, from one read of the node's loans (the core awaits this once
    per report form for all of them, `compute_many`): agreed loans starting in the period as lender and as borrower,
    and as lender by kind of resource (the lender's own resources: only the lender knows their kind)."""
    every_loan = await read_loans(engine, node_id)
    if not every_loan:
        return {}  # the régie has never lent nor borrowed through the network: nothing to report
    agreed = [loan for loan in every_loan if loan.state in AGREED and _starts_within(loan, first_day, last_day)]
    lent = [loan for loan in agreed if loan.role == "lender"]
    figures: Figures = {LENT: float(len(lent)), BORROWED: float(len(agreed) - len(lent))}
    kinds = await _own_resource_kinds(engine, node_id) if lent else {}
    lent_kinds = Counter(kinds.get(loan.request["resource"]["id"], "other") for loan in lent)
    for kind in RESOURCE_KINDS:
        figures[f"loans_lent_{kind}"] = float(lent_kinds[kind])
    return figures


def _count(key: str, label_fr: str, label_en: str, description: str, hint_fr: str, hint_en: str) -> Indicator:
    return Indicator(
        key,
        label_fr,
        label_en,
        "count",
        description,
        source="computed",
        section="activities",
        compute_many=loan_figures,
        hint_fr=hint_fr,
        hint_en=hint_en,
    )


# What the report form says under each figure: where it comes from (indicators.py's rule, in the staff's words).
_AS_LENDER = (
    "calculé à partir des prêts de vos ressources que vous avez acceptés (puis retirés ou rendus), commençant dans la "
    "période",
    "computed from the loans of your resources you accepted (then picked up or returned), starting in the period",
)
_AS_BORROWER = (
    "calculé à partir des prêts que d'autres régies vous ont accordés (puis retirés ou rendus), commençant dans la "
    "période",
    "computed from the loans other régies granted you (then picked up or returned), starting in the period",
)


def lending_indicators() -> list[Indicator]:
    """The totals as lender and as borrower, then the loans made by kind of resource lent."""
    indicators = [
        _count(
            LENT,
            "Prêts de ressources à d'autres régies",
            "Loans of resources to other régies",
            "Loans accepted by this régie as the lender, starting in the period.",
            *_AS_LENDER,
        ),
        _count(
            BORROWED,
            "Prêts de ressources obtenus d'autres régies",
            "Loans of resources obtained from other régies",
            "Loans of other régies' resources accepted by their lender, starting in the period.",
            *_AS_BORROWER,
        ),
    ]
    for kind, (label_fr, label_en) in RESOURCE_KINDS.items():
        indicators.append(
            _count(
                f"loans_lent_{kind}",
                f"Prêts à d'autres régies : {label_fr}",
                f"Loans to other régies: {label_en}",
                f"Of the loans to other régies, those of {label_en}.",
                *_AS_LENDER,
            )
        )
    return indicators
