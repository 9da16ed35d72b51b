"""Maintains the gettext catalogues: `python -m federation.web.messages` extracts, updates and compiles them.

Strings are written in English in code and templates (`_("…")`, `{% trans %}`, `N_("…")`); the French
catalogue translates them. Run this after changing texts, fill the new `msgstr` in locale/fr/…/messages.po,
and run it again to compile. tests/web/test_i18n.py fails while a French translation is missing or a .mo file
is stale.
"""

from __future__ import annotations

import io
import sys
from pathlib import Path
from typing import Any

from babel.messages.catalog import Catalog
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir, extract_from_file
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

from federation.web.i18n import DOMAIN, LANGUAGES, LOCALE_DIR

WEB_DIR = Path(__file__).parent
# Sentences the API serves too (field errors), kept outside the web package so that the API need not import it.
SHARED_SOURCES = (WEB_DIR.parent / "explain.py",)
_METHODS = [("**/templates/**.html", "jinja2"), ("**.py", "python")]
_OPTIONS = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n,jinja2.ext.do", "trimmed": "true"}}
# `translate(request, "…")` and `translate_plural(request, "…", "…", n)` are the handlers' gettext.
_KEYWORDS = {**DEFAULT_KEYWORDS, "N_": None, "translate": (2,), "translate_plural": (2, 3)}


def extract(directory: Path = WEB_DIR) -> Catalog:
    """Every translatable string of the web interface, with where it is used."""
    template = Catalog(project="regies-federation", fuzzy=False)
    for filename, lineno, message, comments, context in extract_from_dir(
        str(directory), method_map=_METHODS, options_map=_OPTIONS, keywords=_KEYWORDS
    ):
        template.add(message, None, [(filename, lineno)], auto_comments=comments, context=context)
    if directory == WEB_DIR:
        for path in SHARED_SOURCES:
            for lineno, message, comments, context in extract_from_file("python", str(path), keywords=_KEYWORDS):
                template.add(message, None, [(f"../{path.name}", lineno)], auto_comments=comments, context=context)
    return template


def po_path(language: str, locale_dir: Path = LOCALE_DIR) -> Path:
    return locale_dir / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def read_catalogue(language: str, locale_dir: Path = LOCALE_DIR) -> Catalog:
    path = po_path(language, locale_dir)
    if not path.exists():
        return Catalog(locale=language, project="regies-federation")
    with path.open("rb") as handle:
        return read_po(handle, locale=language)


def compiled(catalogue: Catalog) -> bytes:
    buffer = io.BytesIO()
    write_mo(buffer, catalogue, use_fuzzy=False)
    return buffer.getvalue()


def _po_bytes(catalogue: Catalog, creation_date: Any) -> bytes:
    catalogue.creation_date = creation_date
    buffer = io.BytesIO()
    write_po(buffer, catalogue, width=120, omit_header=False, sort_output=True)
    return buffer.getvalue()


def _write_if_changed(path: Path, content: bytes) -> None:
    if not path.exists() or path.read_bytes() != content:
        path.write_bytes(content)


def _translated(string: object) -> bool:
    return all(string) if isinstance(string, tuple | list) else bool(string)


def update(locale_dir: Path = LOCALE_DIR, source_dir: Path = WEB_DIR) -> list[str]:
    """Bring every .po up to date with the sources and compile its .mo; returns French strings left to translate.

    A plugin's own catalogue: `update(plugin_dir / "locale", plugin_dir)`.
    """
    template = extract(source_dir)
    missing: list[str] = []
    for language in LANGUAGES:
        catalogue = read_catalogue(language, locale_dir)
        created = catalogue.creation_date
        catalogue.update(template, no_fuzzy_matching=True)
        catalogue.obsolete.clear()
        path = po_path(language, locale_dir)
        path.parent.mkdir(parents=True, exist_ok=True)
        # The catalogue keeps its creation date, so that running this twice changes no file.
        _write_if_changed(path, _po_bytes(catalogue, created))
        _write_if_changed(path.with_suffix(".mo"), compiled(catalogue))
        if language == "fr":
            missing = [str(message.id) for message in catalogue if message.id and not _translated(message.string)]
    return missing


if __name__ == "__main__":
    # `python -m federation.web.messages [plugin directory]`: the core's catalogue, or a plugin's (its locale/).
    source = Path(sys.argv[1]) if len(sys.argv) > 1 else None
    left = update(source / "locale", source) if source else update()
    for message in left:
        print(f"untranslated (fr): {message}", file=sys.stderr)
    sys.exit(1 if left else 0)
