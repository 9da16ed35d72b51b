"""What the hub's pages share: the request's engine, plugin registry and coordinator, area names, form comments."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from federation.plugin_api import DEPARTMENTS, REGIONS, Registry, appkeys
from federation.plugin_api.web import HUB_ROLES, WebUser, require_user

from .aggregates import Scope
from .coordination import MAX_COMMENT, CommentSource


def hub_engine(request: web.Request) -> AsyncEngine:
    engine: AsyncEngine = request.config_dict[appkeys.ENGINE]
    return engine


def hub_registry(request: web.Request) -> Registry:
    registry: Registry = request.config_dict[appkeys.PLUGINS].registry
    return registry


async def coordinator(request: web.Request) -> WebUser:
    return await require_user(request, roles=HUB_ROLES)


def area_name(scope: Scope, code: str | None) -> str:
    """A region's name in a national table, a department's in a regional one."""
    if code is None:
        return ""
    known = REGIONS.get(code) if scope.level == "national" else DEPARTMENTS.get(code)
    return f"{known.name} ({code})" if known else code


async def form_comment(request: web.Request) -> CommentSource:
    """The decision form's comment, given to the shared decision functions as the API's body is."""
    form = await request.post()
    comment = str(form.get("comment", "")).strip()[:MAX_COMMENT] or None

    async def read_comment() -> str | None:
        return comment

    return read_comment
