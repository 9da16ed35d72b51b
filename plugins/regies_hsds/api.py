"""The HSDS 3.0 read API (HSDA) under /hsds/: meta, services, organizations, taxonomies and their terms, and the
service filters and shared helpers the service_at_locations listing reuses."""

from __future__ import annotations

import json
import re
from typing import Any
from uuid import UUID

from aiohttp import web

from federation.plugin_api import Problem, appkeys, invalid_query, json_response

from . import mapping, source
from . import query as q
from .source import Publisher, ServiceFilter
from .taxonomy import TAXONOMIES, Term, all_terms

HSDS_VERSION = "3.0"
PROFILE_NAME = "regies"
# A search of ASCII letters, digits and spaces only is narrowed in the database first (see ServiceFilter.contains).
_PLAIN_WORDS = re.compile(r"[a-z0-9 .,'-]+")

Found = list[tuple[str, str, dict[str, Any]]]


def publisher_of(request: web.Request, members: bool) -> Publisher:
    app = request.config_dict
    return Publisher(app[appkeys.STORE].node_id, app[appkeys.SETTINGS].public_base_url, members)


def _terms(request: web.Request) -> list[Term]:
    return all_terms(request.config_dict[appkeys.PLUGINS].registry.service_types.values())


def document_answer(document: Any) -> web.Response:
    return json_response(json.dumps(document, ensure_ascii=False))


# --- Meta --------------------------------------------------------------------------------------------------


async def meta(request: web.Request, members: bool) -> web.StreamResponse:
    """What this API is: its HSDS version, its profile, its OpenAPI document and who publishes it."""
    publisher = publisher_of(request, members)
    own = Publisher(publisher.node_id, publisher.base_url, members=False)
    profile = (await source.origins(request.config_dict[appkeys.ENGINE], own))[publisher.node_id].profile
    return document_answer(
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
    return document_answer(
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
            "service_at_locations": "one per service: at its place (address, point, commune), else at the régie's "
            "head office; postcode matches the commune of the service area (La Poste codes), else the address",
            "not_supported": {"proximity": "no coordinates of postal codes in the node's reference data"},
            "not_used": ["programs", "funding", "cost_options", "required_documents", "accessibility", "metadata"],
        }
    )


# --- Services ----------------------------------------------------------------------------------------------


async def matching_services(
    request: web.Request, members: bool, offset: int = 0, limit: int | None = None, most: int | None = None
) -> tuple[int, Found]:
    """The services HSDA's filters of a listing leave (`search`, `taxonomy_term_id`, `taxonomy_id`,
    `organization_id`, `modified_after`): how many, and `limit` of them after `offset` (all when None). When more
    than `most` match, only how many (the caller refuses the listing): counted, no document read."""
    query = request.query
    search = q.search(query)
    term_id, taxonomy_id = q.uuid_query(query, "taxonomy_term_id"), q.uuid_query(query, "taxonomy_id")
    organization_id = q.uuid_query(query, "organization_id")
    terms: list[Term] | None = None
    if term_id is not None or taxonomy_id is not None:
        terms = [
            term for term in _terms(request) if term_id in (None, term.id) and taxonomy_id in (None, term.taxonomy.id)
        ]
    publisher = publisher_of(request, members)
    modified_after = q.modified_after(query)
    async with request.config_dict[appkeys.ENGINE].connect() as connection:
        wanted_origins = None
        if organization_id is not None:
            every = await source.node_ids(connection, publisher)
            wanted_origins = [
                node_id for node_id in every if mapping.Origin(node_id).organization_id == organization_id
            ]
        plain = search is not None and _PLAIN_WORDS.fullmatch(search) is not None
        wanted = ServiceFilter(modified_after, terms, wanted_origins, search if plain else None)
        if search is None:
            if limit is None and most is None:
                found = await source.services(connection, publisher, wanted, offset)
                return offset + len(found), found
            total = await source.count_services(connection, publisher, wanted)
            if most is not None and total > most:
                return total, []
            return total, await source.services(connection, publisher, wanted, offset, limit)
        # free text: matched on the documents, then paged
        matching = [
            row
            for row in await source.services(connection, publisher, wanted)
            if q.matches(search, row[2].get("title"), row[2].get("name"), row[2].get("description"))
        ]
    return len(matching), matching[offset : None if limit is None else offset + limit]


async def origins_of(request: web.Request, members: bool, found: Found) -> dict[str, mapping.Origin]:
    """The régies publishing the services found, with their profiles."""
    wanted = sorted({origin for origin, _kind, _body in found})
    origins = await source.origins(request.config_dict[appkeys.ENGINE], publisher_of(request, members), only=wanted)
    return {origin: origins.get(origin) or mapping.Origin(origin) for origin in wanted}


def minimal(document: dict[str, Any]) -> dict[str, Any]:
    """HSDA's `minimal` item: the id and the date of the last change (`last_modified`, HSDS's name for it), with
    the name and status HSDS requires of every service listed."""
    return {key: document[key] for key in ("id", "name", "status", "last_modified") if key in document}


async def list_services(request: web.Request, members: bool) -> web.StreamResponse:
    query = request.query
    short = q.flag(query, "minimal")
    if short and q.flag(query, "full"):
        raise invalid_query("minimal", "cannot be combined with full=true")
    # HSDA: with `minimal`, "aim to return all services within one page".
    listing = q.Listing(query, q.MAX_PER_PAGE if short else q.DEFAULT_PER_PAGE)
    full = q.flag(query, "full")
    total, found = await matching_services(request, members, listing.offset, listing.limit, listing.most)
    listing.bound(total)  # before reading or mapping the services of an oversized ndjson listing
    origins = await origins_of(request, members, found)
    service_types = request.config_dict[appkeys.PLUGINS].registry.service_types
    items = [mapping.service(origins[origin], kind, body, service_types, full=full) for origin, kind, body in found]
    return await listing.answer(request, [minimal(item) for item in items] if short else items, total)


def path_uuid(request: web.Request) -> str:
    try:
        return str(UUID(request.match_info["id"]))
    except ValueError as exc:
        raise Problem(404, "no such HSDS object", slug="not-found") from exc


async def get_service(request: web.Request, members: bool) -> web.StreamResponse:
    """A service fully nested: organization, locations, schedules, service areas, contacts, taxonomy terms."""
    wanted_id = path_uuid(request)
    publisher = publisher_of(request, members)
    engine = request.config_dict[appkeys.ENGINE]
    async with engine.connect() as connection:
        found = await source.find_service(connection, publisher, wanted_id)
    if found is None:
        raise Problem(404, f"no service {wanted_id}", slug="not-found")
    origin, kind, body = found
    origins = await origins_of(request, members, [found])
    service_types = request.config_dict[appkeys.PLUGINS].registry.service_types
    return document_answer(mapping.service(origins[origin], kind, body, service_types, full=True))


# --- Organizations -----------------------------------------------------------------------------------------


async def _with_services(
    request: web.Request, members: bool, shown: list[mapping.Origin], full_service: bool
) -> list[dict[str, Any]]:
    """Organizations fully nested, each with its services: their one-to-one fields, or (`full_service`) each
    fully nested. A service under its organization does not repeat it."""
    publisher = publisher_of(request, members)
    wanted = ServiceFilter(origins=[origin.node_id for origin in shown])
    async with request.config_dict[appkeys.ENGINE].connect() as connection:
        found = await source.services(connection, publisher, wanted)
    service_types = request.config_dict[appkeys.PLUGINS].registry.service_types
    by_origin = {origin.node_id: origin for origin in shown}
    services: dict[str, list[dict[str, Any]]] = {origin.node_id: [] for origin in shown}
    for origin, kind, body in found:
        document = mapping.service(by_origin[origin], kind, body, service_types, full=full_service)
        document.pop("organization", None)
        services[origin].append(document)
    return [{**mapping.organization_full(origin), "services": services[origin.node_id]} for origin in shown]


async def list_organizations(request: web.Request, members: bool) -> web.StreamResponse:
    listing = q.Listing(request.query)
    full_service = q.flag(request.query, "full_service")
    full, search = q.flag(request.query, "full") or full_service, q.search(request.query)
    origins = list((await source.origins(request.config_dict[appkeys.ENGINE], publisher_of(request, members))).values())
    if search is not None:
        origins = [
            o for o in origins if q.matches(search, o.profile.get("name"), o.profile.get("description"), o.node_id)
        ]
    listing.bound(len(origins))
    shown = list(listing.cut(origins))
    if full:
        items = await _with_services(request, members, shown, full_service)
    else:
        items = [mapping.organization(o) for o in shown]
    return await listing.answer(request, items, len(origins))


async def get_organization(request: web.Request, members: bool) -> web.StreamResponse:
    """An organization fully nested, with its services (each fully nested with `full_service=true`)."""
    wanted_id = path_uuid(request)
    full_service = q.flag(request.query, "full_service")
    origins = await source.origins(request.config_dict[appkeys.ENGINE], publisher_of(request, members))
    for origin in origins.values():
        if origin.organization_id == wanted_id:
            return document_answer((await _with_services(request, members, [origin], full_service))[0])
    raise Problem(404, f"no organization {wanted_id}", slug="not-found")


# --- Taxonomies --------------------------------------------------------------------------------------------


async def list_taxonomies(request: web.Request) -> web.StreamResponse:
    listing = q.Listing(request.query)
    search = q.search(request.query)
    found = [t for t in TAXONOMIES if search is None or q.matches(search, t.name, t.description)]
    return await listing.answer(request, [taxonomy.document() for taxonomy in listing.cut(found)], len(found))


async def get_taxonomy(request: web.Request) -> web.StreamResponse:
    wanted_id = path_uuid(request)
    for taxonomy in TAXONOMIES:
        if taxonomy.id == wanted_id:
            return document_answer(taxonomy.document())
    raise Problem(404, f"no taxonomy {wanted_id}", slug="not-found")


async def list_terms(request: web.Request) -> web.StreamResponse:
    query = request.query
    listing = q.Listing(query)
    search, taxonomy_id = q.search(query), q.uuid_query(query, "taxonomy_id")
    parent_id, top_only = q.uuid_query(query, "parent_id"), q.flag(query, "top_only")
    every = _terms(request)
    parents = {term.parent for term in every}
    found = [
        term
        for term in every
        if taxonomy_id in (None, term.taxonomy.id)
        and parent_id in (None, term.parent)
        # HSDA: top_only keeps "taxonomy terms that have not child terms"
        and not (top_only and term.id in parents)
        and (search is None or q.matches(search, term.name, term.description, term.code))
    ]
    return await listing.answer(request, [term.document() for term in listing.cut(found)], len(found))


async def get_term(request: web.Request) -> web.StreamResponse:
    wanted_id = path_uuid(request)
    for term in _terms(request):
        if term.id == wanted_id:
            return document_answer(term.document())
    raise Problem(404, f"no taxonomy term {wanted_id}", slug="not-found")
