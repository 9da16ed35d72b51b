"""Lending in a real browser (Debian's Chromium driven by Playwright): the borrowing régie's staff request the
lender's van from its page, the lending régie's staff accept it from their inbox and see it on the month calendar.
Screenshots go to test-artifacts/lending/, or with REGIES_DOC_SCREENSHOTS=1 to docs/img/lending/ (docs/lending.md
shows them: a test run leaves the tree as it was). Needs /usr/bin/chromium like tests/web/test_browser.py
(REGIES_SKIP_BROWSER=1 skips)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, BrowserContext, Page, expect

from federation import appkeys
from federation.testing import WEB_TEST_PASSWORD
from federation.web.users import store_user
from tests.plugins.lending_helpers import next_weekday, pull
from tests.plugins.test_lending import trio as trio
from tests.protocol.conftest import Node
from tests.web.test_browser import browser as browser

ROOT = Path(__file__).resolve().parents[2]
# Read at import: the node fixtures clear REGIES_* variables from the environment of each test.
SCREENSHOTS = (
    ROOT / "docs" / "img" / "lending"
    if os.environ.get("REGIES_DOC_SCREENSHOTS") == "1"
    else ROOT / "test-artifacts" / "lending"
)


async def _shot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


async def _logged_in(browser: Browser, node: Node, username: str, password_hash: str) -> tuple[BrowserContext, Page]:
    await store_user(node.server.app[appkeys.ENGINE], username, password_hash, "staff", None)
    context = await browser.new_context(base_url=node.url, locale="fr-FR", viewport={"width": 1100, "height": 900})
    context.set_default_timeout(20_000)  # shared CI machines: a slow page must not look like a broken one
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("Identifiant").fill(username)
    await page.get_by_label("Mot de passe").fill(WEB_TEST_PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.wait_for_url(f"{node.url}/admin")
    return context, page


async def test_a_borrower_requests_the_van_and_the_lender_accepts_it(
    browser: Browser, trio: tuple[Node, Node, Node, dict[str, Any]], regies_web_password_hash: str
) -> None:
    lender, borrower, _third, _resource = trio
    expect.set_options(timeout=20_000)
    monday = next_weekday(1)

    borrowing, page = await _logged_in(browser, borrower, "karim", regies_web_password_hash)
    await page.get_by_role("link", name="Nos demandes de prêt").click()
    await page.get_by_role("link", name="Demander un prêt d'une ressource d'un partenaire").click()
    await page.get_by_role("link", name="Camion benne 3,5 t").click()
    await expect(page.get_by_role("heading", name="Demander un prêt")).to_be_visible()
    await page.get_by_label("Date de début").fill(monday.isoformat())
    await page.get_by_label("Heure de début").fill("09:00")
    await page.get_by_label("Date de fin").fill(monday.isoformat())
    await page.get_by_label("Heure de fin").fill("17:00")
    await page.get_by_label("Objet du prêt").fill("Déménagement de la ressourcerie")
    await page.get_by_label("Nom").fill("Karim B.")
    await page.get_by_label("Courriel").fill("karim@rq-voisine.example")
    await page.get_by_label("Assureur").fill("MAIF")
    await page.get_by_label("Numéro de contrat").fill("RC-2026-0042")
    await page.get_by_label("Valable jusqu'au").fill("2027-01-31")
    await page.get_by_label("Nous acceptons les conditions de la ressource.").check()
    await _shot(page, "1-demander-un-pret")
    await page.get_by_role("button", name="Envoyer la demande").click()
    await expect(page.get_by_role("status")).to_have_text("Demande envoyée à la régie prêteuse.")
    await expect(page.locator("tbody tr")).to_have_count(1)
    await expect(page.locator("tbody tr").first).to_contain_text("en attente de réponse")
    await _shot(page, "2-nos-demandes")

    await pull(lender, "rq-voisine")  # what the sync worker does every few seconds in production
    lending, inbox = await _logged_in(browser, lender, "marie", regies_web_password_hash)
    await inbox.get_by_role("link", name="Prêts reçus").click()
    await expect(inbox.get_by_role("heading", level=1)).to_have_text("Demandes de prêt reçues")
    request = inbox.locator("section.loan")
    await expect(request).to_contain_text("Déménagement de la ressourcerie")
    await request.get_by_label("Caution (euros)").fill("500")
    await request.get_by_label("Consignes de retrait").fill("Clés à l'accueil, 8 h 30.")
    await _shot(inbox, "3-boite-de-reception")
    await request.get_by_role("button", name="Accepter").click()
    await expect(inbox.get_by_role("status")).to_have_text("Prêt accepté : la régie emprunteuse en est informée.")
    await expect(inbox.locator("tbody tr").first).to_contain_text("accepté")

    await inbox.get_by_role("link", name="Camion benne 3,5 t").click()
    await inbox.goto(f"{inbox.url}?month={monday.isoformat()[:7]}")
    await expect(inbox.locator("td.has-loan")).to_have_count(1)
    await expect(inbox.locator("td.has-loan")).to_contain_text("Prêtée à rq-voisine (accepté)")
    await _shot(inbox, "4-calendrier")

    await pull(borrower, "rq-lilas")
    await page.reload()
    await expect(page.locator("tbody tr").first).to_contain_text("accepté")
    await expect(page.locator("tbody tr").first).to_contain_text("Clés à l'accueil")
    await lending.close()
    await borrowing.close()
