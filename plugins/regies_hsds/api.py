"""The HSDS 3.0 read API (HSDA) under /hsds/: meta, services, organizations, taxonomies and their terms."""

from __future__ import annotations

import datetime as dt
import json
import math
import re
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any
from uuid import UUID

from aiohttp import web

from federation.plugin_api import Problem, appkeys, invalid_query, json_response

from . import mapping, source
from .source import Publisher, ServiceFilter
from .taxonomy import TAXONOMIES, Term, all_terms

HSDS_VERSION = "3.0"
PROFILE_NAME = "regies"
DEFAULT_PER_PAGE, MAX_PER_PAGE = 50, 500
MAX_PAGE = 1_000_000
MAX_SEARCH = 200
# A search of ASCII letters, digits and spaces only is narrowed in the database first (see ServiceFilter.contains).
_PLAIN_WORDS = re.compile(r"[a-z0-9 .,'-]+")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _publisher(request: web.Request, members: bool) -> Publisher:
    app = request.config_dict
    return Publisher(app[appkeys.STORE].node_id, app[appkeys.SETTINGS].public_base_url, members)


def _terms(request: web.Request) -> list[Term]:
    return all_terms(request.config_dict[appkeys.PLUGINS].registry.service_types.values())


def _json(document: Any) -> web.Response:
    return json_response(json.dumps(document, ensure_ascii=False))


def _whole(query: Mapping[str, str], name: str, default: int, highest: int) -> int:
    raw = query.get(name, str(default))
    if not raw.isdigit() or not 1 <= int(raw) <= highest:
        raise invalid_query(name, f"must be a whole number from 1 to {highest}")
    return int(raw)


def _flag(query: Mapping[str, str], name: str) -> bool:
    raw = query.get(name, "false")
    if raw not in ("true", "false"):
        raise invalid_query(name, "must be true or false")
    return raw == "true"


def _uuid_query(query: Mapping[str, str], name: str) -> str | None:
    raw = query.get(name)
    if raw is None:
        return None
    try:
        return str(UUID(raw))
    except ValueError as exc:
        raise invalid_query(name, "must be a UUID") from exc


def _modified_after(query: Mapping[str, str]) -> int | None:
    raw = query.get("modified_after")
    if raw is None:
        return None
    try:
        moment = dt.datetime.fromisoformat(raw.upper())  # RFC 3339 allows a lower-case t and z
    except ValueError as exc:
        raise invalid_query("modified_after", "must be an ISO 8601 date or date and time") from exc
    if moment.tzinfo is None:  # HSDS: dates are UTC unless they say otherwise
        moment = moment.replace(tzinfo=dt.UTC)
    return int(moment.timestamp() * 1_000_000)


def _search(query: Mapping[str, str]) -> str | None:
    raw = query.get("search")
    if raw is None or not raw.strip():
        return None
    if len(raw) > MAX_SEARCH:
        raise invalid_query("search", f"must be at most {MAX_SEARCH} characters")
    return raw.strip().casefold()


def _matches(text: str, *values: Any) -> bool:
    return any(isinstance(value, str) and text in value.casefold() for value in values)


def _page(items: Sequence[Any], total: int, page: int, per_page: int) -> web.Response:
    total_pages = math.ceil(total / per_page)
    return _json(
        {
            "total_items": total,
            "total_pages": total_pages,
            "page_number": page,
            "size": len(items),
            "first_page": page == 1,
            "last_page": page >= total_pages,
            "empty": not items,
            "contents": list(items),
        }
    )


def _paging(query: Mapping[str, str]) -> tuple[int, int]:
    return _whole(query, "page", 1, MAX_PAGE), _whole(query, "per_page", DEFAULT_PER_PAGE, MAX_PER_PAGE)


# --- Meta --------------------------------------------------------------------------------------------------


async def meta(request: web.Request, members: bool) -> web.StreamResponse:
    """What this API is: its HSDS version, its profile, its OpenAPI document and who publishes it."""
    publisher = _publisher(request, members)
    own = Publisher(publisher.node_id, publisher.base_url, members=False)
    profile = (await source.origins(request.config_dict[appkeys.ENGINE], own))[publisher.node_id].profile
    return _json(
        {
            "version": HSDS_VERSION,
            "profile": f"{publisher.base_url}/hsds/profile",
            "openapi_url": f"{publisher.base_url}/openapi.json",
            "publisher": mapping.prune(
                {
                    "name": profile.get("name") or publisher.node_id,
                    "node_id": publisher.node_id,
                    "url": publisher.base_url,
                    "email": (profile.get("contact") or {}).get("email"),
                    "scope": "members" if members else "own",
                }
            ),
        }
    )


async def profile_document(request: web.Request) -> web.StreamResponse:
    """The régies profile of HSDS: what it uses and how records map (the whole text is docs/open-data.md)."""
    return _json(
        {
            "name": PROFILE_NAME,
            "hsds_version": HSDS_VERSION,
            "language": "fr",
            "description": "Régies de Quartier et de Territoire: a régie is an organization, its activities and "
            "shared resources are services, classified by three taxonomies.",
            "taxonomies": [taxonomy.document() for taxonomy in TAXONOMIES],
            "services": {
                "activity": "name ← title, status ← status (planned: inactive, suspended: temporarily closed, ended: "
                "defunct), schedules ← start_date/end_date, service_areas ← place.commune and place.qpv",
                "resource": "name ← name, fees_description ← conditions, eligibility_description ← borrowers, "
                "schedules ← availability.slots (weekly, local time Europe/Paris)",
            },
            "not_used": ["programs", "funding", "cost_options", "required_documents", "accessibility", "metadata"],
        }
    )


# --- Services ----------------------------------------------------------------------------------------------


async def list_services(request: web.Request, members: bool) -> web.StreamResponse:
    query = request.query
    page, per_page = _paging(query)
    full, search = _flag(query, "full"), _search(query)
    term_id, taxonomy_id = _uuid_query(query, "taxonomy_term_id"), _uuid_query(query, "taxonomy_id")
    organization_id = _uuid_query(query, "organization_id")
    terms: list[Term] | None = None
    if term_id is not None or taxonomy_id is not None:
        terms = [
            term for term in _terms(request) if term_id in (None, term.id) and taxonomy_id in (None, term.taxonomy.id)
        ]
    publisher = _publisher(request, members)
    engine = request.config_dict[appkeys.ENGINE]
    modified_after = _modified_after(query)
    async with engine.connect() as connection:
        wanted_origins = None
        if organization_id is not None:
            every = await source.node_ids(connection, publisher)
            wanted_origins = [
                node_id for node_id in every if mapping.Origin(node_id).organization_id == organization_id
            ]
        plain = search is not None and _PLAIN_WORDS.fullmatch(search) is not None
        wanted = ServiceFilter(modified_after, terms, wanted_origins, search if plain else None)
        if search is None:
            total = await source.count_services(connection, publisher, wanted)
            found = await source.services(connection, publisher, wanted, (page - 1) * per_page, per_page)
        else:  # free text: matched on the documents, then paged
            matching = [
                row
                for row in await source.services(connection, publisher, wanted)
                if _matches(search, row[2].get("title"), row[2].get("name"), row[2].get("description"))
            ]
            total, found = len(matching), matching[(page - 1) * per_page : page * per_page]
    origins = await source.origins(engine, publisher, only=sorted({origin for origin, _kind, _body in found}))
    service_types = request.config_dict[appkeys.PLUGINS].registry.service_types
    items = [
        mapping.service(origins.get(origin) or mapping.Origin(origin), kind, body, service_types, full=full)
        for origin, kind, body in found
    ]
    return _page(items, total, page, per_page)


def _uuid(request: web.Request) -> str:
    try:
        return str(UUID(request.match_info["id"]))
    except ValueError as exc:
        raise Problem(404, "no such HSDS object", slug="not-found") from exc


async def get_service(request: web.Request, members: bool) -> web.StreamResponse:
    """A service fully nested: organization, locations, schedules, service areas, contacts, taxonomy terms."""
    wanted_id = _uuid(request)
    publisher = _publisher(request, members)
    engine = request.config_dict[appkeys.ENGINE]
    async with engine.connect() as connection:
        found = await source.find_service(connection, publisher, wanted_id)
    if found is None:
        raise Problem(404, f"no service {wanted_id}", slug="not-found")
    origin, kind, body = found
    origins = await source.origins(engine, publisher, only=[origin])
    service_types = request.config_dict[appkeys.PLUGINS].registry.service_types
    return _json(mapping.service(origins.get(origin) or mapping.Origin(origin), kind, body, service_types, full=True))


# --- Organizations -----------------------------------------------------------------------------------------


async def list_organizations(request: web.Request, members: bool) -> web.StreamResponse:
    page, per_page = _paging(request.query)
    full, search = _flag(request.query, "full"), _search(request.query)
    origins = list((await source.origins(request.config_dict[appkeys.ENGINE], _publisher(request, members))).values())
    if search is not None:
        origins = [
            o for o in origins if _matches(search, o.profile.get("name"), o.profile.get("description"), o.node_id)
        ]
    shown = origins[(page - 1) * per_page : page * per_page]
    items = [mapping.organization_full(o) if full else mapping.organization(o) for o in shown]
    return _page(items, len(origins), page, per_page)


async def get_organization(request: web.Request, members: bool) -> web.StreamResponse:
    wanted_id = _uuid(request)
    origins = await source.origins(request.config_dict[appkeys.ENGINE], _publisher(request, members))
    for origin in origins.values():
        if origin.organization_id == wanted_id:
            return _json(mapping.organization_full(origin))
    raise Problem(404, f"no organization {wanted_id}", slug="not-found")


# --- Taxonomies --------------------------------------------------------------------------------------------


async def list_taxonomies(request: web.Request) -> web.StreamResponse:
    page, per_page = _paging(request.query)
    search = _search(request.query)
    found = [t for t in TAXONOMIES if search is None or _matches(search, t.name, t.description)]
    items = [taxonomy.document() for taxonomy in found[(page - 1) * per_page : page * per_page]]
    return _page(items, len(found), page, per_page)


async def get_taxonomy(request: web.Request) -> web.StreamResponse:
    wanted_id = _uuid(request)
    for taxonomy in TAXONOMIES:
        if taxonomy.id == wanted_id:
            return _json(taxonomy.document())
    raise Problem(404, f"no taxonomy {wanted_id}", slug="not-found")


async def list_terms(request: web.Request) -> web.StreamResponse:
    query = request.query
    page, per_page = _paging(query)
    search, taxonomy_id = _search(query), _uuid_query(query, "taxonomy_id")
    found = [
        term
        for term in _terms(request)
        if taxonomy_id in (None, term.taxonomy.id)
        and (search is None or _matches(search, term.name, term.description, term.code))
    ]
    items = [term.document() for term in found[(page - 1) * per_page : page * per_page]]
    return _page(items, len(found), page, per_page)


async def get_term(request: web.Request) -> web.StreamResponse:
    wanted_id = _uuid(request)
    for term in _terms(request):
        if term.id == wanted_id:
            return _json(term.document())
    raise Problem(404, f"no taxonomy term {wanted_id}", slug="not-found")


def build_routes(members: bool) -> list[web.RouteDef]:
    """The routes, relative to /hsds; `members`: publish every approved member's records (the hub's role)."""

    def scoped(handler: Callable[[web.Request, bool], Awaitable[web.StreamResponse]]) -> Handler:
        async def bound(request: web.Request) -> web.StreamResponse:
            return await handler(request, members)

        bound.__doc__ = handler.__doc__
        return bound

    return [
        web.get("", scoped(meta), allow_head=False),
        web.get("/", scoped(meta), allow_head=False),
        web.get("/profile", profile_document, allow_head=False),
        web.get("/services", scoped(list_services), allow_head=False),
        web.get("/services/{id}", scoped(get_service), allow_head=False),
        web.get("/organizations", scoped(list_organizations), allow_head=False),
        web.get("/organizations/{id}", scoped(get_organization), allow_head=False),
        web.get("/taxonomies", list_taxonomies, allow_head=False),
        web.get("/taxonomies/{id}", get_taxonomy, allow_head=False),
        web.get("/taxonomy_terms", list_terms, allow_head=False),
        web.get("/taxonomy_terms/{id}", get_term, allow_head=False),
    ]
