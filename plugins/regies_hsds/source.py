"""What the HSDS API reads: whose records it publishes (the node's own, or every member's on the hub), their
profiles, and the services matching a listing's filters, a page at a time."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from federation.plugin_api.storage import enrolments, records

from .mapping import Origin
from .taxonomy import Term, at_location_ids, service_id

SERVICE_KINDS = ("activity", "resource")


@dataclass(frozen=True)
class Publisher:
    """Whose records this node publishes: its own (a régie) or its approved members' (the hub)."""

    node_id: str
    base_url: str
    members: bool

    def origin_condition(self) -> ColumnElement[bool]:
        if self.members:
            approved = select(enrolments.c.node_id).where(enrolments.c.state == "approved")
            return records.c.origin.in_(approved)
        return records.c.origin == self.node_id


@dataclass(frozen=True)
class ServiceFilter:
    modified_after_us: int | None = None
    terms: Sequence[Term] | None = None  # services classified by any of these; None: no term filter
    origins: Sequence[str] | None = None  # one organization's services; None: every publisher's
    # Words the stored document must contain, ASCII case ignored: narrows a free-text search in the database before
    # the documents are matched exactly (only set for plain ASCII words, which the database folds like Python).
    contains: str | None = None


def _live(publisher: Publisher, kinds: Sequence[str]) -> list[ColumnElement[bool]]:
    return [
        records.c.kind.in_(kinds),
        records.c.deleted.is_(False),
        records.c.audience.is_(None),  # a record addressed to one node is not public
        publisher.origin_condition(),
    ]


def _term_condition(term: Term) -> ColumnElement[bool]:
    kind = "resource" if term.column == "resource_kind" else "activity"
    return and_(records.c.kind == kind, records.c[term.column] == term.code)


def _service_query(publisher: Publisher, wanted: ServiceFilter) -> Select[Any]:
    conditions = _live(publisher, SERVICE_KINDS)
    if wanted.modified_after_us is not None:
        conditions.append(records.c.updated_at_us >= wanted.modified_after_us)
    if wanted.terms is not None:
        conditions.append(or_(*(_term_condition(term) for term in wanted.terms)) if wanted.terms else records.c.rid < 0)
    if wanted.origins is not None:
        conditions.append(records.c.origin.in_(list(wanted.origins)))
    if wanted.contains is not None:
        conditions.append(records.c.body.ilike(f"%{wanted.contains}%"))
    return select(records.c.origin, records.c.kind, records.c.body).where(*conditions)


async def count_services(connection: AsyncConnection, publisher: Publisher, wanted: ServiceFilter) -> int:
    query = _service_query(publisher, wanted)
    return int(await connection.scalar(select(func.count()).select_from(query.subquery())) or 0)


async def services(
    connection: AsyncConnection,
    publisher: Publisher,
    wanted: ServiceFilter,
    offset: int = 0,
    limit: int | None = None,
) -> list[tuple[str, str, dict[str, Any]]]:
    """(origin, kind, body) of the matching services in storage order, `limit` of them after `offset`."""
    query = _service_query(publisher, wanted).order_by(records.c.rid).offset(offset)
    if limit is not None:
        query = query.limit(limit)
    return [(row.origin, row.kind, json.loads(row.body)) for row in await connection.execute(query)]


async def find_service(
    connection: AsyncConnection, publisher: Publisher, wanted_id: str
) -> tuple[str, str, dict[str, Any]] | None:
    """The service whose HSDS id is `wanted_id`. HSDS ids are derived from (origin, kind, id), so they are
    computed for every published service's key: a few thousand hashes, no bodies read but the one found."""
    return await _find(connection, publisher, lambda key: service_id(*key) == wanted_id)


async def find_service_at_location(
    connection: AsyncConnection, publisher: Publisher, wanted_id: str
) -> tuple[str, str, dict[str, Any]] | None:
    """The service one of whose possible service_at_location ids is `wanted_id` (the caller checks it is the
    one its document gives), found like `find_service`."""
    return await _find(connection, publisher, lambda key: wanted_id in at_location_ids(*key))


async def _find(
    connection: AsyncConnection, publisher: Publisher, found: Callable[[tuple[str, str, str]], bool]
) -> tuple[str, str, dict[str, Any]] | None:
    keys = await connection.execute(
        select(records.c.rid, records.c.origin, records.c.kind, records.c.id).where(*_live(publisher, SERVICE_KINDS))
    )
    for rid, origin, kind, record_id in keys:
        if found((origin, kind, record_id)):
            body = await connection.scalar(select(records.c.body).where(records.c.rid == rid))
            return (origin, kind, json.loads(body)) if body is not None else None
    return None


async def node_ids(connection: AsyncConnection, publisher: Publisher) -> list[str]:
    """The publisher's régies' node ids (an organization's HSDS id derives from its node id alone)."""
    if not publisher.members:
        return [publisher.node_id]
    rows = await connection.execute(select(enrolments.c.node_id).where(enrolments.c.state == "approved"))
    return sorted(row.node_id for row in rows)


async def origins(engine: AsyncEngine, publisher: Publisher, only: Sequence[str] | None = None) -> dict[str, Origin]:
    """The publisher's régies (those in `only`, if given), each with its profile and address, in node id order."""
    async with engine.connect() as connection:
        if publisher.members:
            query = select(enrolments.c.node_id, enrolments.c.base_url).where(enrolments.c.state == "approved")
            if only is not None:
                query = query.where(enrolments.c.node_id.in_(list(only)))
            addresses = {row.node_id: row.base_url for row in await connection.execute(query)}
        else:
            addresses = {publisher.node_id: publisher.base_url}
            if only is not None:
                addresses = {node_id: url for node_id, url in addresses.items() if node_id in only}
        profiles = {
            row.origin: json.loads(row.body)
            for row in await connection.execute(
                select(records.c.origin, records.c.body).where(
                    records.c.kind == "node", records.c.deleted.is_(False), records.c.origin.in_(list(addresses))
                )
            )
        }
    return {node_id: Origin(node_id, profiles.get(node_id, {}), addresses[node_id]) for node_id in sorted(addresses)}


def micros(moment: dt.datetime) -> int:
    return int(moment.timestamp() * 1_000_000)
