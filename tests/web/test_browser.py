"""The node's pages in a real browser (Debian's Chromium driven by Playwright): log in, create an activity
through its form, import a CSV file, fill and submit a period report. Screenshots go to test-artifacts/web/.

These tests need /usr/bin/chromium (`apt-get install -y chromium`; `make test` installs it as root). Without it they
fail, unless REGIES_SKIP_BROWSER=1 says to skip them on purpose.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from playwright.async_api import Browser, Page, async_playwright, expect

from tests.web.conftest import PASSWORD

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
# Read at import: the node fixtures clear REGIES_* variables from the environment of each test.
SKIP_BROWSER = os.environ.get("REGIES_SKIP_BROWSER") == "1"
CHROMIUM_INSTALLED = CHROMIUM.exists()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    if SKIP_BROWSER:
        pytest.skip("REGIES_SKIP_BROWSER=1: browser tests skipped on purpose")
    if not CHROMIUM_INSTALLED:
        pytest.fail(
            f"{CHROMIUM} is missing: install it with `apt-get install -y chromium` (`make test` does as root), "
            "or set REGIES_SKIP_BROWSER=1 to skip the browser tests"
        )
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--lang=fr-FR"]
        )
        yield launched
        await launched.close()


async def _shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_staff_work_through_the_back_office(browser: Browser, member: Any, tmp_path: Path) -> None:
    node = member
    base = str(node.make_url("")).rstrip("/")
    context = await browser.new_context(base_url=base, locale="fr-FR")
    # Generous waits: CI machines are shared; a slow page must not look like a broken one.
    context.set_default_timeout(20_000)
    expect.set_options(timeout=20_000)
    page = await context.new_page()

    # Keyboard users first meet the skip link, which takes them to the content.
    await page.goto("/login")
    await page.keyboard.press("Tab")
    await expect(page.locator(":focus")).to_have_text("Aller au contenu")

    await page.get_by_label("Identifiant").fill("marie")
    await page.get_by_label("Mot de passe").fill(PASSWORD)
    await _shot(page, "01-login")
    await page.get_by_role("button", name="Se connecter").click()
    await expect(page).to_have_url(f"{base}/admin")
    await expect(page.get_by_role("heading", level=1)).to_contain_text("Espace de gestion")

    # An activity through the form generated from the green spaces service type.
    await page.get_by_role("link", name="Activités", exact=True).first.click()
    await page.get_by_role("link", name="Nouvelle activité").click()
    await page.get_by_label("De quel service s'agit-il ?").select_option("green_spaces")
    await page.get_by_role("button", name="Continuer").click()
    await page.get_by_label("Code commune INSEE").fill("75")
    await page.get_by_label("Surface (m²)").fill("12 000")
    await page.get_by_role("button", name="Enregistrer").click()
    await expect(page.locator("#f-title-error")).to_have_text("Ce champ est obligatoire.")
    await expect(page.locator("#f-place-commune-error")).to_contain_text("Saisissez un code commune INSEE")
    await _shot(page, "02-activity-errors")
    await page.get_by_label("Titre").fill("Espaces verts de la cité des Lilas")
    await page.get_by_label("Code commune INSEE").fill("93066")
    await page.get_by_label("mowing").check()
    await page.get_by_role("button", name="Enregistrer").click()
    await expect(page.get_by_role("status")).to_have_text("Enregistré.")
    await expect(page.get_by_role("link", name="Espaces verts de la cité des Lilas", exact=True)).to_be_visible()
    await _shot(page, "03-activity-created")

    # A CSV import: preview first, then confirmation.
    csv_file = tmp_path / "activites.csv"
    csv_file.write_text(
        "titre;type_service;statut;date_debut;commune;details.learners\n"
        "Auto-école sociale;Auto-école sociale;en cours;05/01/2025;93066;14\n"
        "Ligne fautive;green_spaces;;;75;\n",
        encoding="utf-8",
    )
    await page.get_by_role("link", name="Import", exact=True).click()
    await page.get_by_label("Fichier").set_input_files(str(csv_file))
    await page.get_by_role("button", name="Aperçu").click()
    await expect(page.get_by_role("status")).to_contain_text("1 ligne peut être importée")
    await expect(page.get_by_text("commune : Saisissez un code commune INSEE")).to_be_visible()
    await _shot(page, "04-import-preview")
    await page.get_by_role("button", name="Importer 1 activité").click()
    await expect(page.get_by_role("status")).to_have_text("1 activité importée.")
    await expect(page.get_by_role("link", name="Auto-école sociale", exact=True)).to_be_visible()

    # The period report: the learners come from the imported activity; submit it.
    year = str(dt.date.today().year - 1)  # the last year is over: its report can be submitted
    await page.get_by_role("link", name="Rapports", exact=True).click()
    await page.get_by_label("Commencer le rapport d'une période").select_option(year)
    await page.get_by_role("button", name="Ouvrir").click()
    await expect(page.get_by_label("Élèves de l'auto-école sociale")).to_have_value("14")
    await page.get_by_label("Équivalents temps plein (total)").fill("12,5")
    await _shot(page, "05-report-form")
    # Sections in the survey's order, fields side by side, only the plugins whose service types the régie runs.
    sections = await page.locator(".report-section > summary h2").all_text_contents()
    assert sections == [
        "Emploi et insertion",
        "Activités",
        "Vie associative et démocratie",
        "Finances et marchés publics",
        "Territoire",
    ]
    await expect(page.get_by_label("Interventions de médiation")).to_have_count(0)
    height = await page.evaluate("document.documentElement.scrollHeight")
    assert height < 3000, f"the report form is {height} px tall"
    await page.get_by_role("button", name="Soumettre au réseau").click()
    await expect(page.get_by_role("status")).to_have_text("Rapport soumis au réseau.")
    await expect(page.get_by_role("cell", name="Soumis")).to_be_visible()
    await _shot(page, "06-report-submitted")
    await context.close()

    reports = await (await node.get("/api/v1/reports", headers=node.regies_auth)).json()
    [report] = reports["items"]
    # Both computed indicators were pre-filled from the activities, the FTE typed in.
    expected = {"driving_learners": 14, "green_space_surface_m2": 12000, "fte_total": 12.5}
    assert (report["state"], report["indicators"]) == ("submitted", expected)
    titles = {item["title"] for item in (await (await node.get("/api/v1/activities")).json())["items"]}
    assert titles == {"Espaces verts de la cité des Lilas", "Auto-école sociale"}


async def test_api_docs_open_without_a_warning(browser: Browser, node: Any) -> None:
    page = await browser.new_page(base_url=str(node.make_url("")).rstrip("/"))
    await page.goto("/docs")
    await expect(page.get_by_text("Create an activity")).to_be_visible(timeout=20_000)
    await page.wait_for_timeout(500)  # Swagger UI shows its warnings once the document is parsed
    await _shot(page, "07-api-docs")
    assert await page.locator(".errors-wrapper").count() == 0, await page.locator(".errors-wrapper").all_inner_texts()
    await page.close()
