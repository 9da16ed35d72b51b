"""Reads the pages need: the node's profile and its records as documents, through the API's read path."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from federation import appkeys
from federation.storage.reader import ListQuery, local_first

# A régie publishes tens to a few hundred activities; pages list at most this many of one kind.
MAX_LISTED = 2000


async def node_profile(request: web.Request) -> dict[str, Any]:
    app = request.config_dict
    row = await app[appkeys.READER].get("node", app[appkeys.PROFILE_ID], app[appkeys.STORE].node_id)
    if row is None or row.deleted:
        return {}
    profile: dict[str, Any] = json.loads(row.body)
    return profile


async def records(request: web.Request, kind: str, **equals: str) -> list[dict[str, Any]]:
    """Live records of `kind` in insertion order, filtered by column equality (e.g. origin=…), at most MAX_LISTED."""
    found: list[dict[str, Any]] = []
    async for document in all_records(request, kind, **equals):
        found.append(document)
        if len(found) == MAX_LISTED:
            break
    return found


async def all_records(request: web.Request, kind: str, **equals: str) -> AsyncIterator[dict[str, Any]]:
    """Every live record of `kind` in insertion order, filtered like `records`, read 500 at a time."""
    reader = request.config_dict[appkeys.READER]
    after = 0
    while True:
        rows = await reader.page(ListQuery(kind=kind, after_rid=after, limit=500, equals=equals))
        for _rid, body in rows[:500]:
            yield json.loads(body)
        if len(rows) <= 500:
            return
        after = rows[499][0]


async def own_records(request: web.Request, kind: str) -> list[dict[str, Any]]:
    return await records(request, kind, origin=request.config_dict[appkeys.STORE].node_id)


async def record(request: web.Request, kind: str, record_id: str) -> dict[str, Any] | None:
    """One live record, this node's own if it has one with this id (else another origin's), or None (unknown,
    deleted or not a UUID)."""
    from uuid import UUID

    try:
        record_id = str(UUID(record_id))
    except ValueError:
        return None
    found = await request.config_dict[appkeys.READER].find(kind, record_id)
    row = local_first(found, request.config_dict[appkeys.STORE].node_id)
    if row is None or row.deleted:
        return None
    document: dict[str, Any] = json.loads(row.body)
    return document
