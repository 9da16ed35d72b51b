"""Rendering pages: the Jinja2 environment (autoescape, gettext) and `render`, which every page handler calls."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp_jinja2
import jinja2
from aiohttp import web
from babel.support import Translations
from markupsafe import Markup

from federation.numbers import template_filters
from federation.registrations import WebPages
from federation.schema.types import CATEGORY_LABELS, Category
from federation.web import labels
from federation.web.auth import csrf_token, current_session
from federation.web.context import WEB
from federation.web.i18n_request import language

TEMPLATES_DIR = Path(__file__).parent / "templates"
ICONS_DIR = Path(__file__).parent / "static" / "icons"


@jinja2.pass_context
def _gettext(context: jinja2.runtime.Context, message: str) -> str:
    translations: Translations = context["translations"]
    return str(translations.gettext(message))


@jinja2.pass_context
def _ngettext(context: jinja2.runtime.Context, singular: str, plural: str, count: int) -> str:
    translations: Translations = context["translations"]
    return str(translations.ngettext(singular, plural, count))


def category_label(category: str, lang: str) -> str:
    """The field of action's name in `lang` (its key if unknown)."""
    try:
        return CATEGORY_LABELS[Category(category)][lang]
    except ValueError:
        return category


def load_icons(directory: Path = ICONS_DIR) -> dict[str, Markup]:
    """The package's own SVG icons by name, to inline in pages (`{{ icons.calendar }}`): decorative, hidden from
    screen readers, drawn in the text's colour, and needing no request, no CDN and no font."""
    return {path.stem: Markup(path.read_text(encoding="utf-8").strip()) for path in sorted(directory.glob("*.svg"))}


def setup_templates(app: web.Application, plugin_pages: Mapping[str, WebPages]) -> None:
    """The app's Jinja2 environment: core templates, plus each plugin's under "<plugin name>/"."""
    plugin_loaders: dict[str, jinja2.BaseLoader] = {
        name: jinja2.FileSystemLoader(pages.templates) for name, pages in plugin_pages.items() if pages.templates
    }
    loader = jinja2.ChoiceLoader([jinja2.FileSystemLoader(TEMPLATES_DIR), jinja2.PrefixLoader(plugin_loaders)])
    environment = aiohttp_jinja2.setup(
        app,
        loader=loader,
        autoescape=True,
        extensions=["jinja2.ext.i18n", "jinja2.ext.do"],
        undefined=jinja2.ChainableUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.install_gettext_callables(_gettext, _ngettext, newstyle=True)  # type: ignore[attr-defined]
    environment.filters["category_label"] = category_label
    environment.filters.update(template_filters())  # French numbers and dates: `{{ total | figure("euros") }}`
    environment.globals["icons"] = load_icons()
    environment.globals["labels"] = {
        "activity_status": labels.ACTIVITY_STATUSES,
        "resource_kind": labels.RESOURCE_KINDS,
        "resource_status": labels.RESOURCE_STATUSES,
        "borrower": labels.BORROWERS,
        "report_state": labels.REPORT_STATES,
        "report_action": labels.REPORT_ACTIONS,
        "weekday": labels.WEEKDAYS,
        "role": labels.ROLES,
        "label_status": labels.LABEL_STATUSES,
    }


async def render(
    request: web.Request, template: str, context: Mapping[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    """Render `template` with `context` plus what every page needs.

    Added to the context: `user` (a WebUser or None), `csrf_token` (put it in every POST form as
    `<input type="hidden" name="_csrf" value="{{ csrf_token }}">`), `lang` ("fr" or "en"), `nav` (the
    navigation entries the user may see), `translations` (used by `_()` and `{% trans %}`) and `request`.
    """
    web_context = request.config_dict[WEB]
    lang = language(request)
    session = await current_session(request)
    user = session.user if session else None
    full: dict[str, Any] = {
        "user": user,
        "csrf_token": await csrf_token(request),
        "lang": lang,
        "nav": [entry for entry in web_context.nav if user is not None and user.role in entry.roles],
        "translations": web_context.translations[lang],
        "request": request,
    }
    full.update(context or {})
    response = aiohttp_jinja2.render_template(template, request, full, status=status)
    response.headers["Cache-Control"] = "no-store" if user is not None else "no-cache"
    return response
