"""The routes of the HSDS API under /hsds, bound to whose records this node publishes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web

from . import at_locations
from .api import (
    get_organization,
    get_service,
    get_taxonomy,
    get_term,
    list_organizations,
    list_services,
    list_taxonomies,
    list_terms,
    meta,
    profile_document,
)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


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
        web.get("/service_at_locations", scoped(at_locations.list_at_locations), allow_head=False),
        web.get("/service_at_locations/{id}", scoped(at_locations.get_at_location), allow_head=False),
        web.get("/organizations", scoped(list_organizations), allow_head=False),
        web.get("/organizations/{id}", scoped(get_organization), allow_head=False),
        web.get("/taxonomies", list_taxonomies, allow_head=False),
        web.get("/taxonomies/{id}", get_taxonomy, allow_head=False),
        web.get("/taxonomy_terms", list_terms, allow_head=False),
        web.get("/taxonomy_terms/{id}", get_term, allow_head=False),
    ]
