"""Every page a French user sees reads as French: the node's back-office and public page, and the hub's pages.

Each page is rendered with data in it and its visible text (text nodes, button values, titles, labels for
assistive technologies) is checked against English words that never occur in French text, and for backticks
(raw Markdown). Commands to type stay English inside <code>, which is left out.
"""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser
from typing import Any

from aiohttp.test_utils import TestClient

from federation import appkeys
from federation.protocol import sender
from tests.plugins.test_hub import REPORT, Network
from tests.plugins.test_hub_web import browse as browse
from tests.plugins.test_hub_web import database_url as database_url
from tests.plugins.test_hub_web import hub as hub
from tests.plugins.test_hub_web import network as network
from tests.web.conftest import HTML, csrf_of

# Common English words that are not French words ("on", "a", "are", "page", "import", "file" and "comment"
# are French too, so they are not here).
_ENGLISH_WORDS = (
    "the and with without your you this that these those there their is was were been being has have had for from "
    "not yet none never of to by its it which when where who what will would should could can cannot field fields "
    "digits characters created updated changed submitted validated returned deleted failed waiting report reports "
    "activity activities resource resources shared save edit delete new next previous show hide search number "
    "name title error errors sync network node nodes peer peers hub batch batches draft state states period "
    "periods value values indicator indicators user users password login logout settings profile download upload "
    "click here"
)
ENGLISH = frozenset(_ENGLISH_WORDS.split())
# Words of letters; keys such as `shared_meal` (a value shown as the data holds it) are one token, left out.
_WORD = re.compile(r"[A-Za-zÀ-ÖØ-öø-ÿœŒ_]+")
_ADDRESS = re.compile(r"(https?://|(?<![\w])/)[^\s<>]*")  # shown addresses (/api/v1/activities) are not words
_SKIPPED = {"script", "style", "code", "pre"}
_SHOWN_ATTRIBUTES = {"title", "aria-label", "placeholder", "alt"}


class VisibleText(HTMLParser):
    """The text a reader sees or hears on a page: text nodes, button values and accessible labels."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping: list[str] = []  # the open elements whose text is left out, innermost last

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        # Commands, scripts and a passage marked as another language (a licence's name, RGAA 8.7): not French text.
        if (
            tag in _SKIPPED
            or (tag == "span" and found.get("lang") not in (None, "fr"))
            or (tag == "span" and self._skipping)
        ):
            self._skipping.append(tag)
        self.parts += [value for name, value in attrs if name in _SHOWN_ATTRIBUTES and value]
        if tag == "input" and found.get("type") in ("submit", "button") and found.get("value"):
            self.parts.append(found["value"] or "")

    def handle_endtag(self, tag: str) -> None:
        if self._skipping and self._skipping[-1] == tag:
            self._skipping.pop()

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def english_in(page: str) -> list[str]:
    """English words and backticks found in the visible text of `page`."""
    parser = VisibleText()
    parser.feed(page)
    text = _ADDRESS.sub(" ", " ".join(parser.parts))
    found = sorted({word for word in _WORD.findall(text) if word.lower() in ENGLISH and "_" not in word})
    return found + (["`"] if "`" in text else [])


async def _french(client: TestClient[Any, Any], path: str, status: int = 200, **post: str) -> str:
    if post:
        response = await client.post(path, data=post, headers=HTML)
    else:
        response = await client.get(path, headers=HTML)
    page = await response.text()
    assert response.status == status, (path, html.unescape(page)[:3000])
    assert '<html lang="fr">' in page, path
    return page


async def test_english_words_are_found_in_visible_text_only() -> None:
    assert english_in("<p>Rapport soumis</p><code>regies network join</code><input value='the'>") == []
    assert english_in('<p>Activités <button title="Save the draft">Enregistrer</button></p>') == [
        "Save",
        "draft",
        "the",
    ]
    assert english_in("<p>SIRET : 14 digits</p>") == ["digits"]
    assert english_in('<a href="/api/v1/activities">/api/v1/activities</a> http://node.example/activities') == []
    assert english_in("<p>Utilisez `regies`</p>") == ["`"]


async def _fill_the_node(client: TestClient[Any, Any]) -> None:
    """An activity, a resource and a submitted report, made through the pages."""
    form = await _french(client, "/admin/activities/new?service_type=green_spaces")
    activity = {"service_type": "green_spaces", "title": "Espaces verts des Lilas", "place.commune": "93066"}
    await _french(client, "/admin/activities/new", _csrf=csrf_of(form), **activity)
    form = await _french(client, "/admin/resources/new")
    await _french(client, "/admin/resources/new", _csrf=csrf_of(form), kind="vehicle", name="Minibus 9 places")
    form = await _french(client, "/admin/reports/new?period=2025")
    report = {"period": "2025", "indicators.volunteers": "4", "action": "submit"}
    await _french(client, "/admin/reports/new", _csrf=csrf_of(form), **report)


async def test_node_pages_read_as_french(member: TestClient[Any, Any]) -> None:
    client = member
    service_types = sorted(client.app[appkeys.PLUGINS].registry.service_types)
    pages = ["/", "/admin", "/admin/profile", "/admin/activities", "/admin/activities/new", "/admin/resources"]
    pages += ["/admin/resources/new", "/admin/reports", "/admin/reports/new?period=2025", "/admin/import"]
    pages += ["/admin/federation", *(f"/admin/activities/new?service_type={key}" for key in service_types)]
    await _fill_the_node(client)
    activities = (await (await client.get("/api/v1/activities")).json())["items"]
    resources = (await (await client.get("/api/v1/resources")).json())["items"]
    reports = (await (await client.get("/api/v1/reports", headers=client.regies_auth)).json())["items"]  # type: ignore[attr-defined]
    assert (len(activities), len(resources), [r["state"] for r in reports]) == (1, 1, ["submitted"])
    pages += [f"/admin/activities/{activities[0]['id']}", f"/admin/activities/{activities[0]['id']}/delete"]
    pages += [f"/admin/resources/{resources[0]['id']}", f"/admin/reports/{reports[0]['id']}"]

    found = {path: english_in(await _french(client, path)) for path in pages}
    upload = await _french(client, "/admin/import")
    found["/admin/import (errors)"] = english_in(await _french(client, "/admin/import", 400, _csrf=csrf_of(upload)))
    found["404"] = english_in(await _french(client, "/admin/activities/00000000-0000-4000-8000-000000000000", 404))
    anonymous: TestClient[Any, Any] = TestClient(client.server)  # its own cookie jar: not logged in
    found["/login"] = english_in(await _french(anonymous, "/login"))
    await anonymous.session.close()
    assert {path: words for path, words in found.items() if words} == {}


async def test_hub_pages_read_as_french(hub: Network, browse: Any) -> None:
    national = await browse("national")
    paris = hub.nodes["rq-paris"]
    # A report with a longer history: saved as a draft, then submitted, then received by the hub.
    draft = await paris.create("reports", {**REPORT, "period": {"type": "year", "year": 2024}})
    await paris.put("reports", draft["id"], {**REPORT, "period": {"type": "year", "year": 2024}, "state": "submitted"})
    assert await sender.push_all(paris.context) == {"target:hub": 1}
    pages = ["/hub?period=2025", "/hub?period=2024", "/hub/reports?period=2025", "/hub/enrolments"]
    pages += [f"/hub/reports/rq-paris/{paris.report_id}", f"/hub/reports/rq-paris/{draft['id']}"]  # type: ignore[attr-defined]
    found = {path: english_in(await _french(national, path)) for path in pages}
    assert {path: words for path, words in found.items() if words} == {}


async def test_zero_takes_the_singular_in_french(staff: TestClient[Any, Any]) -> None:
    page = html.unescape(await _french(staff, "/admin"))
    assert "0 ressource publiée" in page and "0 ressources" not in page
