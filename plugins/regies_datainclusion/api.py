"""GET /api/v1/datainclusion/{structures,services,excluded}: JSON or CSV, a node's own or, on a hub, every member's."""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

from aiohttp import web

from federation.plugin_api import (
    ListQuery,
    RecordReader,
    Registry,
    SafeCsvWriter,
    appkeys,
    invalid_query,
    json_response,
)

from . import mapping
from .mapping import Left, Vocabulary

PAGE_SIZE = 500
FORMATS = ("json", "csv")
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


@dataclass(frozen=True)
class Publication:
    """Everything one answer publishes: structures and services that map, and what is left out and why."""

    structures: list[dict[str, Any]]
    services: list[dict[str, Any]]
    left_out: list[Left]


def serves_members(registry: Registry) -> bool:
    """Whether this node is the network's hub: the hub plugin is loaded and `[plugins.hub] enabled = true` (read
    from the settings it registered with, so the answer holds whatever order plugins registered in)."""
    return getattr(registry.configured.get("hub"), "enabled", False) is True


async def _records(reader: RecordReader, kind: str, origins: tuple[str, ...]) -> list[dict[str, Any]]:
    """Every live record of `kind` of these origins, page by page."""
    if not origins:
        return []
    found: list[dict[str, Any]] = []
    query = ListQuery(kind=kind, limit=PAGE_SIZE, equals={"origin": origins})
    while True:
        rows = await reader.page(query)
        found += [json.loads(body) for _rid, body in rows[:PAGE_SIZE]]
        if len(rows) <= PAGE_SIZE:
            return found
        query = replace(query, after_rid=rows[PAGE_SIZE - 1][0])


async def _origins_and_pages(request: web.Request) -> tuple[tuple[str, ...], dict[str, str]]:
    """Whose data this node publishes, and the public page of each: its own, or on a hub every approved member's."""
    reader = request.config_dict[appkeys.READER]
    if serves_members(request.config_dict[appkeys.PLUGINS].registry):
        members = await reader.rows(
            "SELECT node_id, base_url FROM enrolments WHERE state = 'approved' ORDER BY node_id", {}
        )
        pages = {str(node_id): f"{str(base_url).rstrip('/')}/" for node_id, base_url in members}
        return tuple(pages), pages
    node_id = request.config_dict[appkeys.STORE].node_id
    base_url = request.config_dict[appkeys.SETTINGS].server.base_url
    return (node_id,), ({node_id: f"{base_url.rstrip('/')}/"} if base_url else {})


async def publication(request: web.Request, vocabulary: Vocabulary, source: str) -> Publication:
    reader = request.config_dict[appkeys.READER]
    service_types = request.config_dict[appkeys.PLUGINS].registry.service_types
    origins, pages = await _origins_and_pages(request)
    profiles = {profile["origin"]: profile for profile in await _records(reader, "node", origins)}
    activities = await _records(reader, "activity", origins)
    by_origin: dict[str, list[dict[str, Any]]] = {}
    for activity in activities:
        by_origin.setdefault(activity["origin"], []).append(activity)
    structures: list[dict[str, Any]] = []
    services: list[dict[str, Any]] = []
    left_out: list[Left] = []
    published = set()
    for origin in origins:
        profile = profiles.get(origin)
        if profile is None:
            continue  # a member whose profile has not reached the hub yet: its activities say so below
        networks = mapping.networks_declared(
            by_origin.get(origin, []), service_types, vocabulary.values["reseaux_porteurs"]
        )
        mapped = mapping.structure(profile, source, pages.get(origin), networks)
        if isinstance(mapped, Left):
            left_out.append(mapped)
        else:
            structures.append(mapped)
            published.add(origin)
    for activity in activities:
        origin = activity["origin"]
        service_type = service_types.get(activity.get("service_type", ""))
        result = mapping.service(activity, profiles.get(origin), service_type, source, origin in published)
        if isinstance(result, Left):
            left_out.append(result)
        else:
            services.append(result)
    return Publication(structures, services, left_out)


def _wanted_format(request: web.Request) -> str:
    unknown = sorted(set(request.query) - {"format"})
    if unknown:
        raise invalid_query(unknown[0], "is not a parameter of this endpoint (only `format`)")
    fmt = request.query.get("format")
    if fmt is None:
        return "csv" if "text/csv" in request.headers.get("Accept", "") else "json"
    if fmt not in FORMATS:
        raise invalid_query("format", f"must be one of {', '.join(FORMATS)}")
    return fmt


def _csv_cell(value: Any) -> str | int | float:
    if value is None:
        return ""
    if isinstance(value, list):
        return ",".join(str(item) for item in value)  # codes and slugs: none holds a comma
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return str(value)


def _answer(
    request: web.Request, name: str, columns: Sequence[str], items: Iterable[Mapping[str, Any]]
) -> web.Response:
    headers = {"Vary": "Accept"}
    if _wanted_format(request) == "json":
        return json_response(json.dumps(list(items), ensure_ascii=False), headers=headers)
    buffer = io.StringIO()
    writer = SafeCsvWriter(buffer)
    writer.writerow(columns)
    for item in items:
        writer.writerow([_csv_cell(item.get(column)) for column in columns])
    headers["Content-Disposition"] = f'inline; filename="datainclusion-{name}.csv"'
    return web.Response(
        body=buffer.getvalue().encode("utf-8"), content_type="text/csv", charset="utf-8", headers=headers
    )


LEFT_OUT_COLUMNS = ("kind", "origin", "id", "name", "reasons")


def build_routes(vocabulary: Vocabulary, source: str) -> web.RouteTableDef:
    routes = web.RouteTableDef()

    @routes.get("/structures", allow_head=False)
    async def structures(request: web.Request) -> web.Response:
        _wanted_format(request)  # a bad query is refused before the database is read
        published = await publication(request, vocabulary, source)
        return _answer(request, "structures", vocabulary.structure_fields, published.structures)

    @routes.get("/services", allow_head=False)
    async def services(request: web.Request) -> web.Response:
        _wanted_format(request)
        published = await publication(request, vocabulary, source)
        return _answer(request, "services", vocabulary.service_fields, published.services)

    @routes.get("/excluded", allow_head=False)
    async def excluded(request: web.Request) -> web.Response:
        _wanted_format(request)
        published = await publication(request, vocabulary, source)
        rows = [left.describe() for left in published.left_out]
        for row in rows:
            row["reasons"] = "; ".join(row["reasons"]) if _wanted_format(request) == "csv" else row["reasons"]
        return _answer(request, "excluded", LEFT_OUT_COLUMNS, rows)

    return routes
