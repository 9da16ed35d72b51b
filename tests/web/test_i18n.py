"""Languages: French by default, English on request, and catalogues that are complete and compiled."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from federation.web import messages
from federation.web.i18n import LANGUAGES
from tests.web.conftest import HTML


async def test_pages_are_in_french_by_default(node: TestClient[Any, Any]) -> None:
    response = await node.get("/login")
    page = await response.text()
    assert '<html lang="fr">' in page
    assert "Mot de passe" in page
    # Pages cannot be framed and run only the node's own scripts and styles.
    assert response.headers["X-Frame-Options"] == "DENY"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert "Content-Security-Policy" not in (await node.get("/api/v1/activities")).headers  # the API is untouched


async def test_english_on_request_and_remembered(node: TestClient[Any, Any]) -> None:
    response = await node.get("/login?lang=en")
    page = await response.text()
    assert '<html lang="en">' in page
    assert "Password" in page
    assert response.cookies["regies_lang"].value == "en"
    again = await (await node.get("/login")).text()  # the cookie keeps the choice
    assert "Password" in again


async def test_the_browser_language_is_followed(node: TestClient[Any, Any]) -> None:
    english = await (await node.get("/", headers={**HTML, "Accept-Language": "en-GB,en;q=0.9,fr;q=0.5"})).text()
    assert '<html lang="en">' in english
    german = await (await node.get("/", headers={**HTML, "Accept-Language": "de-DE"})).text()
    assert '<html lang="fr">' in german  # a language the node does not have: the default


async def test_api_clients_still_get_the_json_index(node: TestClient[Any, Any]) -> None:
    response = await node.get("/", headers={"Accept": "application/json"})
    assert response.content_type == "application/json"
    assert (await response.json())["links"]["activities"] == "/api/v1/activities"


def test_every_text_has_a_french_translation_and_the_catalogues_are_compiled() -> None:
    sources = {
        message.id if isinstance(message.id, str) else message.id[0] for message in messages.extract() if message.id
    }
    french = messages.read_catalogue("fr")
    translated = {
        message.id if isinstance(message.id, str) else message.id[0]
        for message in french
        if message.id and (all(message.string) if isinstance(message.string, tuple) else message.string)
    }
    assert sources - translated == set(), "run `python -m federation.web.messages` and translate the new strings"
    for language in LANGUAGES:
        catalogue = messages.read_catalogue(language)
        compiled = messages.po_path(language).with_suffix(".mo").read_bytes()
        assert compiled == messages.compiled(catalogue), (
            f"{language} .mo is stale: run python -m federation.web.messages"
        )


async def test_every_back_office_page_speaks_both_languages(staff: TestClient[Any, Any]) -> None:
    paths = [
        "/admin",
        "/admin/profile",
        "/admin/activities",
        "/admin/activities/new",
        "/admin/resources",
        "/admin/resources/new",
        "/admin/reports",
        "/admin/reports/new?period=2026",
        "/admin/import",
        "/admin/federation",
    ]
    for path in paths:
        english = await staff.get(path + ("&" if "?" in path else "?") + "lang=en")
        assert english.status == 200, path
        assert '<html lang="en">' in await english.text()
        french = await staff.get(path + ("&" if "?" in path else "?") + "lang=fr")
        assert "Se déconnecter" in await french.text(), path
