"""The régie's back-office under /admin: dashboard, activities, resources, reports, import, federation status."""

from __future__ import annotations

from aiohttp import web

from federation import appkeys
from federation.web import data
from federation.web.auth import require_user
from federation.web.rendering import render
from federation.web.users import NODE_ROLES


async def dashboard(request: web.Request) -> web.StreamResponse:
    await require_user(request, NODE_ROLES)
    context = {
        "profile": await data.node_profile(request),
        "activity_count": len(await data.own_records(request, "activity")),
        "resource_count": len(await data.own_records(request, "resource")),
        "reports": await data.own_records(request, "report"),
        "node_id": request.config_dict[appkeys.STORE].node_id,
    }
    return await render(request, "admin/index.html", context)


def add_routes(app: web.Application) -> None:
    from federation.web.admin import federation, importing, profile, records, reports

    app.router.add_get("/admin", dashboard, allow_head=False)
    records.add_routes(app)
    reports.add_routes(app)
    federation.add_routes(app)
    importing.add_routes(app)
    profile.add_routes(app)
