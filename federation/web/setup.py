"""Wires the web interface into a node's app: templates, catalogues, static files, pages, plugin pages, middleware."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from federation.api.meta import HOME_PAGE
from federation.config import Settings
from federation.plugins import Plugins
from federation.problems import Handler, Problem
from federation.registrations import NavEntry
from federation.web import auth
from federation.web.context import ANONYMOUS_CSRF, LANGUAGE, WEB, WebContext
from federation.web.i18n import LANGUAGE_COOKIE, load_translations, negotiate
from federation.web.rendering import render, setup_templates
from federation.web.throttle import LOGIN_GUARD, LoginGuard
from federation.web.users import NODE_ROLES

STATIC_DIR = Path(__file__).parent / "static"
STATIC_PREFIX = "/static/web"
# The back-office's own navigation; plugins' entries follow (see Registry.add_web_pages).
CORE_NAV = (
    NavEntry("/admin", "Tableau de bord", "Dashboard", NODE_ROLES),
    NavEntry("/admin/profile", "Profil", "Profile", NODE_ROLES),
    NavEntry("/admin/activities", "Activités", "Activities", NODE_ROLES),
    NavEntry("/admin/resources", "Ressources", "Resources", NODE_ROLES),
    NavEntry("/admin/reports", "Rapports", "Reports", NODE_ROLES),
    NavEntry("/admin/import", "Import", "Import", NODE_ROLES),
    NavEntry("/admin/federation", "Fédération", "Federation", NODE_ROLES),
)
# Headers of every page: no framing, no inline script, forms only to this site, no URL (which may carry a
# record id or a query) sent to other sites, and none of the browser features no page here uses.
_PAGE_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; object-src 'none'; "
    "frame-ancestors 'none'; form-action 'self'; base-uri 'self'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
}
# The API docs page (Swagger UI, vendored): the same, except that Swagger UI sets inline style attributes.
DOCS_PREFIX = "/docs"
_DOCS_HEADERS = {
    **_PAGE_HEADERS,
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'; "
    "object-src 'none'; frame-ancestors 'none'; form-action 'self'; base-uri 'self'",
}


def _is_page(request: web.Request, prefixes: tuple[str, ...]) -> bool:
    path = request.path
    if path == "/":  # the public page for browsers, the API index (JSON, problem+json errors) for the others
        return "text/html" in request.headers.get("Accept", "")
    return any(path == prefix or path.startswith(prefix + "/") for prefix in prefixes)


def _web_middleware(page_prefixes: tuple[str, ...]) -> web.middleware:  # type: ignore[valid-type]
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        """On pages only (the API is untouched): language, anonymous CSRF cookie, HTML errors, security headers."""
        if request.path == DOCS_PREFIX or request.path.startswith(DOCS_PREFIX + "/"):
            response = await handler(request)
            response.headers.update(_DOCS_HEADERS)
            return response
        if not _is_page(request, page_prefixes):
            return await handler(request)
        web_context = request.config_dict[WEB]
        language, chosen_now = negotiate(request, web_context.settings.default_language)
        request[LANGUAGE] = language
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            if exc.status < 400:
                response = exc
            else:
                response = await _error_page(
                    request, exc.status, exc.text if exc.text and ":" not in exc.text[:5] else ""
                )
        except Problem as problem:
            response = await _error_page(request, problem.status, problem.detail)
        if chosen_now:
            response.set_cookie(
                LANGUAGE_COOKIE,
                language,
                max_age=365 * 86400,
                path="/",
                samesite="Lax",
                secure=auth.secure_cookies(request),
            )
        anonymous_token = request.get(ANONYMOUS_CSRF)
        if anonymous_token and request.cookies.get(auth.CSRF_COOKIE) != anonymous_token:
            response.set_cookie(
                auth.CSRF_COOKIE,
                anonymous_token,
                path="/",
                httponly=True,
                samesite="Lax",
                secure=auth.secure_cookies(request),
            )
        for name, value in _PAGE_HEADERS.items():
            response.headers.setdefault(name, value)
        if isinstance(response, web.HTTPException):
            raise response
        return response

    return middleware


async def _error_page(request: web.Request, status: int, detail: str) -> web.Response:
    return await render(request, "error.html", {"status": status, "detail": detail}, status=status)


def setup_web(app: web.Application, settings: Settings, plugins: Plugins) -> None:
    """Add the public page, login, the back-office and plugins' pages to `app` (called by create_app)."""
    from federation.web import admin, logo, public

    plugin_pages = plugins.registry.web_pages
    translations = load_translations(pages.locale for pages in plugin_pages.values() if pages.locale)
    nav = list(CORE_NAV)
    for pages in plugin_pages.values():
        nav.extend(pages.nav)
    app[WEB] = WebContext(
        settings=settings.web,
        translations=translations,
        secure_cookies=settings.public_base_url.startswith("https://"),
        nav=nav,
    )
    app[LOGIN_GUARD] = LoginGuard(settings.web)
    setup_templates(app, plugin_pages)
    app.router.add_static(STATIC_PREFIX, STATIC_DIR)
    app[HOME_PAGE] = public.home
    logo.add_routes(app)
    auth.add_routes(app)
    admin.add_routes(app)
    for name, pages in plugin_pages.items():
        if pages.static:
            app.router.add_static(f"/static/plugins/{name}", pages.static)
        plugin_app = web.Application()
        plugin_app.add_routes(pages.routes)
        app.add_subapp(pages.prefix, plugin_app)
    prefixes = ("/admin", "/login", "/logout", *(pages.prefix for pages in plugin_pages.values()))
    app.middlewares.append(_web_middleware(prefixes))
