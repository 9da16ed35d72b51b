"""Languages of the web interface: gettext catalogues (French by default, English available) and negotiation."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from aiohttp import web
from babel.support import Translations

from federation.explain import accepted_languages

LANGUAGES = ("fr", "en")
LANGUAGE_COOKIE = "regies_lang"
LOCALE_DIR = Path(__file__).parent / "locale"
DOMAIN = "messages"


def load_translations(extra_locale_dirs: Iterable[Path] = ()) -> dict[str, Translations]:
    """One catalogue per language: the core's, with every plugin's merged in (plugins cannot override the core)."""
    catalogues: dict[str, Translations] = {}
    for language in LANGUAGES:
        merged = Translations()
        for directory in [*extra_locale_dirs, LOCALE_DIR]:
            found = Translations.load(str(directory), [language], DOMAIN)
            if isinstance(found, Translations):  # a NullTranslations: no catalogue for this language there
                merged.merge(found)
                # merge() copies the strings only: the language's plural rule (French: 0 and 1 are singular) too.
                merged.plural = found.plural
        catalogues[language] = merged
    return catalogues


def negotiate(request: web.Request, default: str) -> tuple[str, bool]:
    """The page language and whether the visitor chose it explicitly now (`?lang=`), to remember it in a cookie.

    Order: `?lang=` in the address, then the remembered choice (cookie), then the browser's Accept-Language,
    then the node's default.
    """
    asked = request.query.get("lang")
    if asked in LANGUAGES:
        return asked, True
    remembered = request.cookies.get(LANGUAGE_COOKIE)
    if remembered in LANGUAGES:
        return remembered, False
    for language in accepted_languages(request.headers.get("Accept-Language", "")):
        if language in LANGUAGES:
            return language, False
    return default, False
