"""Streaming exports of record collections through the formats plugins register: GET /api/v1/export/<collection>."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

from aiohttp import web

from federation import appkeys
from federation.api.records import RecordCollection, collections
from federation.api.requests import require_token
from federation.problems import Problem

EXPORT_PAGE_SIZE = 500


async def _records(request: web.Request, collection: RecordCollection) -> AsyncIterator[dict[str, Any]]:
    """Every record matching the request's filters, page by page so memory stays flat."""
    reader = request.app[appkeys.READER]
    query = replace(collection.list_query(request, paging=False), limit=EXPORT_PAGE_SIZE)
    while True:
        rows = await reader.page(query)
        for _rid, body in rows[:EXPORT_PAGE_SIZE]:
            yield json.loads(body)
        if len(rows) <= EXPORT_PAGE_SIZE:
            return
        query = replace(query, after_rid=rows[EXPORT_PAGE_SIZE - 1][0])


def add_routes(app: web.Application) -> None:
    kinds = app[appkeys.PLUGINS].registry.kinds
    by_collection = {str(collection.kind.collection): collection for collection in collections(kinds)}

    async def export(request: web.Request) -> web.StreamResponse:
        name = request.match_info["collection"]
        collection = by_collection.get(name)
        if collection is None:
            raise Problem(404, f"no collection '{name}' (exportable: {', '.join(sorted(by_collection))})")
        if collection.kind.private:
            await require_token(request)
        exporters = request.app[appkeys.PLUGINS].registry.exporters
        fmt = request.query.get("format", "")
        exporter = exporters.get(fmt)
        if exporter is None:
            available = ", ".join(sorted(exporters)) or "none: no export plugin is enabled"
            raise Problem(
                400,
                f"unknown export format '{fmt}' (available: {available})",
                slug="invalid-query",
                errors=[{"pointer": "/format", "detail": f"must be one of: {available}", "code": "invalid_query"}],
            )
        if not exporter.exports(collection.kind.name):
            formats = ", ".join(sorted(key for key, other in exporters.items() if other.exports(collection.kind.name)))
            raise Problem(
                400,
                f"format '{fmt}' does not export {name} (available for {name}: {formats})",
                slug="invalid-query",
                errors=[{"pointer": "/format", "detail": f"must be one of: {formats}", "code": "invalid_query"}],
            )
        records = _records(request, collection)
        # Validate filters before the response starts: afterwards an error can no longer be a clean 400.
        first = await anext(records, None)

        async def replay() -> AsyncIterator[dict[str, Any]]:
            if first is not None:
                yield first
                async for record in records:
                    yield record

        stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%d-%H%M%S")
        response = web.StreamResponse(
            headers={
                "Content-Type": exporter.media_type,
                "Content-Disposition": f'attachment; filename="{name}-{stamp}.{exporter.extension}"',
            }
        )
        await response.prepare(request)
        await exporter.write(collection.kind.name, replay(), response.write)
        await response.write_eof()
        return response

    app.router.add_get("/api/v1/export/{collection}", export, allow_head=False)
