"""The dashboard's map in a real browser (Chromium driven by Playwright): a national coordinator picks an indicator
and the department level, sees the map with its legend and the data table in French figures, and axe-core finds
no serious or critical violation. Screenshots go to test-artifacts/hub/ (REGIES_SKIP_BROWSER=1 skips)."""

from __future__ import annotations

from playwright.async_api import Browser, expect

from federation.testing import WEB_TEST_PASSWORD
from tests.plugins.test_hub import Network
from tests.plugins.test_hub_browser import _shot
from tests.plugins.test_hub_browser import coordinator as coordinator
from tests.plugins.test_hub_map import budgets as budgets
from tests.plugins.test_hub_web import database_url as database_url
from tests.plugins.test_hub_web import hub as hub
from tests.plugins.test_hub_web import network as network
from tests.web.test_accessibility import assert_accessible
from tests.web.test_browser import browser as browser

NARROW_NBSP = "\u202f"


async def test_the_coordinator_reads_the_map_of_an_indicator(
    browser: Browser, budgets: Network, coordinator: str
) -> None:
    from axe_playwright_python.async_playwright import Axe

    base = budgets.hub.url
    context = await browser.new_context(base_url=base, locale="fr-FR", viewport={"width": 1280, "height": 900})
    context.set_default_timeout(20_000)
    expect.set_options(timeout=20_000)
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("Identifiant").fill(coordinator)
    await page.get_by_label("Mot de passe").fill(WEB_TEST_PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page).to_have_url(f"{base}/hub")

    await page.goto("/hub?period=2024")
    map_section = page.get_by_role("region", name="Carte")
    await expect(map_section.get_by_role("img", name="Régies membres par région")).to_be_visible()
    await map_section.get_by_label("Chiffre affiché").select_option(label="Budget total")
    await map_section.get_by_label("Par", exact=True).select_option(label="département")
    await map_section.get_by_role("button", name="Afficher la carte").click()

    figure = map_section.get_by_role("img", name="Budget total par département")
    await expect(figure).to_be_visible()
    box = await figure.bounding_box()
    assert box is not None and box["width"] > 300 and box["height"] > 200  # drawn, not collapsed
    table = map_section.get_by_role("table", name="Budget total par département")
    await expect(table.get_by_role("row", name="Paris (75)")).to_contain_text(f"1{NARROW_NBSP}715{NARROW_NBSP}000,5")
    await expect(table.get_by_role("row", name="Rhône (69)")).to_contain_text(f"3{NARROW_NBSP}430{NARROW_NBSP}000")
    # The two départements in different colours, the rest grey: a choropleth, not a flat shape.
    fills = await figure.locator("g[fill]").evaluate_all("groups => groups.map(g => g.getAttribute('fill'))")
    assert len(fills) == 96 + 4 and len(set(fills)) == 3  # Paris and its inner suburbs again in the inset
    await expect(map_section.get_by_text("CC BY 4.0")).to_be_visible()
    await map_section.scroll_into_view_if_needed()
    await _shot(page, "04-map-budget-by-department")
    await assert_accessible(page, Axe(), "dashboard map")
    await context.close()
