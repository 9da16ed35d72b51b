"""The label the network grants its members: national coordinators record it on the hub, the directory and every
export state it, and a régie's own `label_status` is only ever shown as its claim."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.plugin_api import LabelStatus, Problem
from federation.plugin_api.storage import enrolments, hub_labels, to_micros

STATUSES = tuple(status.value for status in LabelStatus)
GRANTING_ROLES = frozenset({"national", "admin"})
MAX_GRANTER = 100
FIELDS = frozenset({"status", "since", "until"})


@dataclass(frozen=True)
class Grant:
    node_id: str
    status: str
    since: dt.date | None
    until: dt.date | None
    granted_by: str
    granted_at_us: int

    def statement(self) -> dict[str, Any]:
        """The hub's statement as the directory and exports carry it."""
        return {
            "label_status": self.status,
            "label_since": self.since.isoformat() if self.since else None,
            "label_until": self.until.isoformat() if self.until else None,
        }


NO_GRANT = {"label_status": None, "label_since": None, "label_until": None}


def member_label(grant: Grant | None, claimed: str | None) -> dict[str, Any]:
    """A member's label fields: the hub's statement (none until a national coordinator records one), and what the
    régie declares in its profile, kept apart as a claim."""
    return {**(grant.statement() if grant else NO_GRANT), "label_claimed": claimed}


async def grants(engine: AsyncEngine) -> dict[str, Grant]:
    """Every member's granted label by node id."""
    async with engine.connect() as connection:
        rows = (await connection.execute(select(hub_labels))).mappings().all()
    return {row["node_id"]: Grant(**row) for row in rows}


def parse_grant(body: Mapping[str, Any]) -> tuple[str, dt.date | None, dt.date | None]:
    """(status, since, until) from a form or JSON body; a 422 naming each wrong field."""
    errors = [{"pointer": f"/{key}", "detail": "unknown field"} for key in sorted(set(body) - FIELDS)]
    status = body.get("status")
    if status not in STATUSES:
        errors.append({"pointer": "/status", "detail": f"one of {', '.join(STATUSES)}"})
    dates: dict[str, dt.date | None] = {}
    for key in ("since", "until"):
        raw = body.get(key) or None
        try:
            dates[key] = None if raw is None else dt.date.fromisoformat(str(raw))
        except ValueError:
            errors.append({"pointer": f"/{key}", "detail": "a date, YYYY-MM-DD"})
    since, until = dates.get("since"), dates.get("until")
    if status == LabelStatus.LABELLISEE and since is None and not any(e["pointer"] == "/since" for e in errors):
        errors.append({"pointer": "/since", "detail": "required: the day the label was granted"})
    if since and until and until < since:
        errors.append({"pointer": "/until", "detail": "must not be before since"})
    if errors:
        raise Problem(422, "invalid label statement", slug="validation", errors=errors)
    return str(status), since, until


async def record_grant(
    engine: AsyncEngine, node_id: str, status: str, since: dt.date | None, until: dt.date | None, granted_by: str
) -> Grant:
    """Record the hub's statement on an approved member's label (it replaces the previous one); 404 otherwise."""
    grant = Grant(node_id, status, since, until, granted_by[:MAX_GRANTER], to_micros(dt.datetime.now(dt.UTC)))
    async with engine.begin() as connection:
        # The member's latest decision must be an approval (as enrolment.list_enrolments keeps the latest).
        latest = await connection.scalar(
            select(enrolments.c.state)
            .where(enrolments.c.node_id == node_id, enrolments.c.state != "pending")
            .order_by(enrolments.c.id.desc())
            .limit(1)
        )
        if latest != "approved":
            raise Problem(404, f"'{node_id}' is not a member of the network", slug="not-found")
        await connection.execute(delete(hub_labels).where(hub_labels.c.node_id == node_id))
        await connection.execute(insert(hub_labels).values(**grant.__dict__))
    return grant


def require_grantor(role: str) -> None:
    if role not in GRANTING_ROLES:
        raise Problem(403, "only a national coordinator records the label the network grants", slug="forbidden")


async def grant_label(engine: AsyncEngine, role: str, granted_by: str, node_id: str, body: Mapping[str, Any]) -> Grant:
    """A coordinator records a member's label: national coordinators (and the hub's administrator) only."""
    require_grantor(role)
    status, since, until = parse_grant(body)
    return await record_grant(engine, node_id, status, since, until, granted_by)
