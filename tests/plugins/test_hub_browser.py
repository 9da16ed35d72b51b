"""The coordinators' dashboard in a real browser (Debian's Chromium driven by Playwright): a national coordinator
reads the national report, its charts drawn, and validates a régie's submitted report; axe-core finds no serious
or critical violation on the way. Screenshots go to test-artifacts/hub/. Needs /usr/bin/chromium like
tests/web/test_browser.py (REGIES_SKIP_BROWSER=1 skips)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from federation import appkeys
from federation.protocol import sender
from federation.storage.tables import records
from federation.testing import WEB_TEST_PASSWORD
from federation.web.users import store_user
from tests.plugins.test_hub import Network
from tests.plugins.test_hub_web import database_url as database_url
from tests.plugins.test_hub_web import hub as hub
from tests.plugins.test_hub_web import network as network
from tests.protocol.conftest import activity
from tests.web.test_accessibility import assert_accessible
from tests.web.test_browser import browser as browser

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "hub"


async def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


@pytest.fixture
async def coordinator(hub: Network, regies_web_password_hash: str) -> str:
    await store_user(hub.hub.server.app[appkeys.ENGINE], "claire", regies_web_password_hash, "national", None)
    return "claire"


async def test_national_coordinator_validates_a_report(browser: Browser, hub: Network, coordinator: str) -> None:
    # A field of action with a long French name, whose label must show whole on the chart.
    paris = hub.nodes["rq-paris"]
    insertion = {"category": "employment_integration", "service_type": "insertion_contracts", "title": "Chantier"}
    await paris.create("activities", activity(9, **insertion, details={"structure": "ACI"}, start_date="2025-02-01"))
    assert await sender.push_all(paris.context) == {"target:hub": 1}
    base = hub.hub.url
    context = await browser.new_context(base_url=base, locale="fr-FR")
    context.set_default_timeout(20_000)  # shared CI machines: a slow page must not look like a broken one
    expect.set_options(timeout=20_000)
    page = await context.new_page()
    axe = Axe()

    await page.goto("/login")
    await assert_accessible(page, axe, "hub login")
    await page.get_by_label("Identifiant").fill(coordinator)
    await page.get_by_label("Mot de passe").fill(WEB_TEST_PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page).to_have_url(f"{base}/hub")
    await assert_accessible(page, axe, "hub dashboard")
    icon = await page.locator("link[rel=icon]").get_attribute("href")
    served = await page.request.get(icon or "/favicon-missing")
    assert (served.status, served.headers["content-type"]) == (200, "image/svg+xml")

    await page.get_by_label("Période", exact=True).fill("2025")
    await page.get_by_role("button", name="Afficher").first.click()
    await expect(page.get_by_role("heading", level=1)).to_have_text("Rapport national 2025")
    chart = page.locator("#by-field svg")
    await expect(chart).to_be_visible()
    await expect(chart.locator("rect")).to_have_count(2)
    assert float(await chart.locator("rect").first.get_attribute("width") or 0) > 0
    # Every label is whole and drawn inside the chart (labels once lost their start: "sertion par l'activité…").
    frame = await chart.bounding_box()
    assert frame is not None
    texts = [text for text in await chart.locator("text").all_text_contents() if not text.isdigit()]
    assert sorted(texts) == ["Gestion urbaine de proximité", "Insertion par l'activité économique"]
    for label in await chart.locator("text").all():
        box = await label.bounding_box()
        assert box is not None and box["x"] >= frame["x"] and box["x"] + box["width"] <= frame["x"] + frame["width"]
    await expect(page.locator("#indicator-by-area svg rect")).to_have_count(2)  # Île-de-France, Auvergne-Rhône-Alpes
    regions = page.get_by_role("region", name="Régions")
    await expect(regions.get_by_role("row", name="Île-de-France (11)")).to_contain_text("1 (100 %)")
    await _shot(page, "01-national-report")
    await assert_accessible(page, axe, "national report")

    await (
        page.get_by_role("navigation", name="Navigation principale")
        .get_by_role("link", name="Validation des rapports")
        .click()
    )
    await assert_accessible(page, axe, "report validation list")
    await page.get_by_role("link", name="Régie de Belleville").click()
    await expect(page.locator("#report-state")).to_have_text("Soumis")
    await _shot(page, "02-submitted-report")
    await assert_accessible(page, axe, "submitted report")
    # Not yet validated at regional level: the national coordinator accepts at both levels at once, and is told so.
    await expect(page.get_by_text("votre acceptation vaut pour les deux niveaux")).to_be_visible()
    await page.get_by_role("button", name="Accepter au niveau national (les deux niveaux)").click()
    await expect(page.get_by_role("status")).to_contain_text("Rapport validé")
    await expect(page.locator("#report-state")).to_have_text("Validé")
    await _shot(page, "03-validated-report")
    await assert_accessible(page, axe, "validated report")
    await page.get_by_role("link", name="Retour aux rapports").click()
    await expect(page.get_by_role("row", name="Régie de Belleville")).to_contain_text("Validé")
    await expect(page.get_by_role("row", name="Régie de la Duchère")).to_contain_text("Soumis")
    await page.goto("/hub/enrolments")
    await assert_accessible(page, axe, "enrolments")
    await context.close()

    # The decision is the hub's review record, as the API writes it, on its way to the régie.
    async with hub.hub.context.engine.connect() as connection:
        query = select(records.c.audience, records.c.status, records.c.body).where(records.c.kind == "review")
        reviews = (await connection.execute(query)).all()
    assert [(row.audience, row.status, json.loads(row.body)["reviewer"]) for row in reviews] == [
        ("rq-paris", "validated", coordinator)
    ]
