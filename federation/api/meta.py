"""Operational and descriptive endpoints: index, health, readiness, the OpenAPI document and its docs page."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web
from sqlalchemy import text

from federation import SCHEMA_VERSION, __version__, appkeys
from federation.problems import Handler, Problem
from federation.responses import json_response

STATIC_DIR = Path(__file__).resolve().parent.parent / "static"
# The web interface's public page, served at "/" to browsers (clients asking for JSON get the index below).
HOME_PAGE: web.AppKey[Handler] = web.AppKey("home_page")


async def index(request: web.Request) -> web.StreamResponse:
    home_page = request.app.get(HOME_PAGE)
    if home_page is not None and "text/html" in request.headers.get("Accept", ""):
        return await home_page(request)
    body = {
        "software": "regies-federation",
        "version": __version__,
        "schema_version": SCHEMA_VERSION,
        "links": {
            "node": "/api/v1/node",
            "activities": "/api/v1/activities",
            "resources": "/api/v1/resources",
            "reports": "/api/v1/reports",
            "openapi": "/openapi.json",
            "docs": "/docs",
            "health": "/healthz",
        },
    }
    return json_response(json.dumps(body))


async def healthz(request: web.Request) -> web.StreamResponse:
    return json_response(b'{"status":"ok"}')


async def readyz(request: web.Request) -> web.StreamResponse:
    try:
        async with request.app[appkeys.ENGINE].connect() as connection:
            await connection.execute(text("SELECT 1"))
    except Exception as exc:
        raise Problem(503, f"the database does not answer: {type(exc).__name__}", slug="not-ready") from exc
    return json_response(b'{"status":"ready"}')


async def openapi(request: web.Request) -> web.StreamResponse:
    return json_response(request.app[appkeys.OPENAPI]())


async def docs(request: web.Request) -> web.StreamResponse:
    return web.FileResponse(STATIC_DIR / "api-docs.html", headers={"Content-Type": "text/html; charset=utf-8"})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/", index, allow_head=False)
    app.router.add_get("/healthz", healthz, allow_head=False)
    app.router.add_get("/readyz", readyz, allow_head=False)
    app.router.add_get("/openapi.json", openapi, allow_head=False)
    app.router.add_get("/docs", docs, allow_head=False)
    app.router.add_static("/docs/assets", STATIC_DIR / "swagger-ui")
