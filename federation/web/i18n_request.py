"""Translating text for the current request's language, from handlers and helpers outside templates."""

from __future__ import annotations

from aiohttp import web

from federation.web.context import LANGUAGE, WEB


def language(request: web.Request) -> str:
    """The page language chosen for this request by the web middleware (the node's default otherwise)."""
    chosen = request.get(LANGUAGE)
    return chosen if isinstance(chosen, str) else request.config_dict[WEB].settings.default_language


def translate(request: web.Request, message: str) -> str:
    """`message` (written in English in the code) in the request's language."""
    return str(request.config_dict[WEB].translations[language(request)].gettext(message))


def translate_plural(request: web.Request, singular: str, plural: str, count: int) -> str:
    return str(request.config_dict[WEB].translations[language(request)].ngettext(singular, plural, count))
