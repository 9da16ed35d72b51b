"""HSDA's service_at_locations: each service at the one location this profile gives it (its place, else the
régie's head office), listed with the services' filters and `postcode`, or fully nested by its id."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from federation.plugin_api import Problem, appkeys, commune, invalid_query

from . import mapping, source
from . import query as q
from .api import document_answer, matching_services, origins_of, path_uuid, publisher_of
from .taxonomy import at_location_id

POSTCODE_DIGITS = 5


def _postcode(query: Mapping[str, str]) -> str | None:
    raw = query.get("postcode")
    if raw is None:
        return None
    if len(raw) != POSTCODE_DIGITS or not raw.isascii() or not raw.isdigit():
        raise invalid_query("postcode", "must be a French postal code (5 digits)")
    return raw


def covers(postcode: str, place: Mapping[str, Any], location: Mapping[str, Any]) -> bool:
    """HSDA: "if service_area is available, only return results where the postcode exists within the
    service_area". A service's areas are its commune and QPVs: the postcode is in the commune when La Poste gives
    it to the commune (the reference data's postal codes). A QPV's postal codes are not known, so a service
    whose areas are QPVs only matches no postcode. A service without areas is matched by its location's address."""
    code = place.get("commune")
    if code or place.get("qpv"):
        known = commune(code) if code else None
        return known is not None and postcode in known.postal_codes
    return any(address.get("postal_code") == postcode for address in location.get("addresses") or [])


def _one_to_one(document: Mapping[str, Any], nested: tuple[str, ...]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key not in nested}


LOCATION_NESTED = ("addresses",)
SERVICE_NESTED = ("organization",)


def at_location(
    origin: mapping.Origin, kind: str, body: Mapping[str, Any], service_types: Any, *, full: bool
) -> dict[str, Any] | None:
    """The service at its location (None when it has none): in a list, the location's and the service's one-to-one
    fields; `full`, the location with its address and the service fully nested (but for its own locations)."""
    service = mapping.service(origin, kind, body, service_types, full=full)
    location = mapping.service_location(origin, service["id"], body.get("place") or {})
    if location is None:
        return None
    if full:
        service.pop("service_at_locations", None)
    else:
        location, service = _one_to_one(location, LOCATION_NESTED), _one_to_one(service, SERVICE_NESTED)
    return {
        "id": at_location_id(service["id"], location["id"]),
        "service_id": service["id"],
        "location_id": location["id"],
        "location": location,
        "service": service,
    }


async def list_at_locations(request: web.Request, members: bool) -> web.StreamResponse:
    """Services at their locations, with the services' filters and `postcode`. Every matching service is mapped
    before paging: whether it has a location, and where, is known from its document and its régie's profile."""
    query = request.query
    if "proximity" in query:
        # HSDA measures it from "the centroid of the provided postcode": the reference data has the communes of a
        # postal code, not where it lies, and an invented centre would return wrong services.
        raise invalid_query("proximity", "is not supported: this node knows no coordinates of postal codes")
    listing = q.Listing(query)
    full, postcode = q.flag(query, "full"), _postcode(query)
    _total, found = await matching_services(request, members)
    origins = await origins_of(request, members, found)
    service_types = request.config_dict[appkeys.PLUGINS].registry.service_types
    items = []
    for origin, kind, body in found:
        item = at_location(origins[origin], kind, body, service_types, full=full)
        if item is None:
            continue
        if postcode is not None:
            place = body.get("place") or {}
            # the location with its address (a listed item carries its one-to-one fields only)
            location = mapping.service_location(origins[origin], item["service_id"], place) or {}
            if not covers(postcode, place, location):
                continue
        items.append(item)
    return await listing.answer(request, listing.cut(items), len(items))


async def get_at_location(request: web.Request, members: bool) -> web.StreamResponse:
    """A service at its location, fully nested."""
    wanted_id = path_uuid(request)
    async with request.config_dict[appkeys.ENGINE].connect() as connection:
        found = await source.find_service_at_location(connection, publisher_of(request, members), wanted_id)
    if found is not None:
        origin, kind, body = found
        origins = await origins_of(request, members, [found])
        service_types = request.config_dict[appkeys.PLUGINS].registry.service_types
        item = at_location(origins[origin], kind, body, service_types, full=True)
        # The id names a location the service may have (its place or the head office): it must be the one it has.
        if item is not None and item["id"] == wanted_id:
            return document_answer(item)
    raise Problem(404, f"no service_at_location {wanted_id}", slug="not-found")
