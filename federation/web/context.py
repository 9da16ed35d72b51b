"""What the web interface keeps under typed app keys, and per-request values (user, language, CSRF token)."""

from __future__ import annotations

from dataclasses import dataclass, field

from aiohttp import web
from babel.support import Translations

from federation.config import WebSettings
from federation.registrations import NavEntry


@dataclass
class WebContext:
    """The web interface's shared state for one app: catalogues, navigation and cookie policy."""

    settings: WebSettings
    translations: dict[str, Translations]
    secure_cookies: bool
    nav: list[NavEntry] = field(default_factory=list)


WEB = web.AppKey("web", WebContext)

# Per-request values: the page language (set by the web middleware), the session (looked up once) and the
# CSRF token of a visitor who is not logged in yet.
LANGUAGE = web.RequestKey("regies_web_language", str)
SESSION = web.RequestKey("regies_web_session", object)
ANONYMOUS_CSRF = web.RequestKey("regies_web_anonymous_csrf", str)
