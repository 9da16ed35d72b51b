"""Accessibility and small screens in a real browser: axe-core finds no serious or critical violation on the pages a
régie uses, and the public page reads on a 390 px phone without sideways scrolling. Screenshots go to
test-artifacts/web/. Needs /usr/bin/chromium like tests/web/test_browser.py (REGIES_SKIP_BROWSER=1 skips)."""

from __future__ import annotations

import datetime as dt
import struct
import zlib
from pathlib import Path
from typing import Any

from axe_playwright_python.async_playwright import Axe
from playwright.async_api import Browser, Page, expect

from tests.web.conftest import PASSWORD
from tests.web.test_browser import _shot
from tests.web.test_browser import browser as browser

# RGAA 10.11 asks for no sideways scrolling at 320 CSS px; 390 px is a common phone; 1280 px a laptop.
NARROWEST_WIDTH = 320
PHONE_WIDTH = 390
DESKTOP_WIDTH = 1280
# What fails a page: every serious or critical violation, and the structure rules docs/web.md maps to RGAA 9.1,
# 9.2 and 12.7 whatever axe's impact for them; other moderate and minor findings are left to the manual review.
BLOCKING_IMPACTS = ("serious", "critical")
STRUCTURE_RULES = (
    "page-has-heading-one",
    "empty-heading",
    "region",
    "landmark-one-main",
    "landmark-unique",
    "skip-link",
)


async def assert_accessible(page: Page, axe: Axe, name: str) -> None:
    """Fail with axe's own words when the page has a serious or critical violation."""
    results = await axe.run(page)
    blocking = [
        found
        for found in results.response["violations"]
        if found["impact"] in BLOCKING_IMPACTS or found["id"] in STRUCTURE_RULES
    ]
    report = [
        f"{name} ({page.url}): {found['id']} [{found['impact']}] {found['help']} — "
        + "; ".join(
            node["target"][0] if isinstance(node["target"][0], str) else str(node["target"])
            for node in found["nodes"][:5]
        )
        for found in blocking
    ]
    assert not report, "\n".join(report)


def png_logo(size: int = 96) -> bytes:
    """A real PNG image (a green disc on white), as a régie's logo file would be."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    centre, radius = size / 2, size * 0.42
    rows = b"".join(
        b"\x00"
        + b"".join(
            b"\x1e\x6b\x2e" if (x - centre) ** 2 + (y - centre) ** 2 < radius**2 else b"\xff\xff\xff"
            for x in range(size)
        )
        for y in range(size)
    )
    header = struct.pack(">IIBBBBB", size, size, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


async def _log_in(page: Page, password: str) -> None:
    """Staff member marie fills the login form of the page (opened first when the page is elsewhere)."""
    if not page.url.endswith("/login") and "/login?" not in page.url:
        await page.goto("/login")
    await page.get_by_label("Identifiant").fill("marie")
    await page.get_by_label("Mot de passe").fill(password)
    await page.get_by_role("button", name="Se connecter").click()


async def _publish_a_regie(node: Any) -> None:
    """A régie as inhabitants would meet it: a profile, activities in three fields, dated ones, a resource."""
    auth = node.regies_auth
    current = await node.get("/api/v1/node")
    profile = {
        "name": "Régie de quartier des Lilas et du Plateau de Belleville",
        "kind": "quartier",
        "label_status": "labellisee",
        "description": "Nous entretenons les espaces communs, réparons, accompagnons et créons de l'emploi "
        "pour les habitants du quartier.",
        "commune": "93066",
        "qpv": ["QN09311M", "QN09312M"],
        "address": {"street": "12 rue des Lilas", "postal_code": "93200", "city": "Saint-Denis"},
        "contact": {
            "person": "Marie Dupont",
            "email": "accueil-regie-des-lilas@regie-lilas.example",
            "phone": "01 23 45 67 89",
        },
        "website": "https://www.regie-lilas.example/",
        "siret": "73282932000074",
    }
    response = await node.put("/api/v1/node", json=profile, headers={**auth, "If-Match": current.headers["ETag"]})
    assert response.status == 200, await response.text()
    today = dt.date.today()
    for category, service_type, title, days in (
        ("urban_management", "green_spaces", "Entretien des espaces verts de la cité des Lilas", None),
        ("mediation", "night_correspondents", "Correspondants de nuit", None),
        ("local_democracy", "neighbourhood_meetings", "Réunion publique sur le réaménagement du square", 12),
        ("local_democracy", "neighbourhood_meetings", "Fête de quartier", 40),
    ):
        body: dict[str, Any] = {"category": category, "service_type": service_type, "title": title}
        if days is not None:
            body |= {"status": "planned", "start_date": (today + dt.timedelta(days=days)).isoformat()}
        assert (await node.post("/api/v1/activities", json=body, headers=auth)).status == 201, title
    resource = {
        "kind": "vehicle",
        "name": "Minibus 9 places",
        "capacity": 9,
        "capacity_unit": "places",
        "borrowers": ["associations", "regies"],
        "conditions": "Permis B depuis trois ans",
    }
    assert (await node.post("/api/v1/resources", json=resource, headers=auth)).status == 201


async def test_the_public_page_reads_on_a_phone_and_on_a_desktop(browser: Browser, node: Any, tmp_path: Path) -> None:
    await _publish_a_regie(node)
    base = str(node.make_url("")).rstrip("/")
    axe = Axe()

    # The logo goes up through the profile page, as staff would send it.
    staff = await browser.new_context(base_url=base, locale="fr-FR")
    staff.set_default_timeout(20_000)
    expect.set_options(timeout=20_000)
    page = await staff.new_page()
    await _log_in(page, PASSWORD)
    await page.goto("/admin/profile")
    svg = tmp_path / "logo.svg"
    svg.write_text('<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', encoding="utf-8")
    await page.get_by_label("Fichier du logo").set_input_files(str(svg))
    await page.get_by_role("button", name="Envoyer le logo").click()
    await expect(page.get_by_role("alert")).to_contain_text("Le logo doit être une image PNG, JPEG ou WebP")
    await assert_accessible(page, axe, "logo refused")
    logo = tmp_path / "logo.png"
    logo.write_bytes(png_logo())
    await page.get_by_label("Fichier du logo").set_input_files(str(logo))
    await page.get_by_role("button", name="Envoyer le logo").click()
    await expect(page.get_by_role("status")).to_have_text("Logo enregistré.")
    await expect(page.get_by_role("img", name="Logo actuel")).to_be_visible()
    await _shot(page, "12-profile-with-logo")
    await staff.close()

    for width, height in ((NARROWEST_WIDTH, 640), (PHONE_WIDTH, 844), (DESKTOP_WIDTH, 800)):
        visitor = await browser.new_context(base_url=base, locale="fr-FR", viewport={"width": width, "height": height})
        page = await visitor.new_page()
        await page.goto("/")
        await expect(page.get_by_role("heading", level=1)).to_have_text(
            "Régie de quartier des Lilas et du Plateau de Belleville"
        )
        logo_drawn = await page.locator("img.hero-logo").evaluate("image => image.complete && image.naturalWidth")
        assert logo_drawn == 96
        await expect(page.get_by_role("heading", name="Insertion par l'activité économique")).to_have_count(0)
        await expect(page.get_by_role("heading", name="Gestion urbaine de proximité")).to_be_visible()
        await expect(page.get_by_role("link", name="Demander à l'emprunter : Minibus 9 places")).to_be_visible()
        scroll_width = await page.evaluate("document.scrollingElement.scrollWidth")
        assert scroll_width <= width, f"the page scrolls sideways at {width} px: {scroll_width} px wide"
        await _shot(page, f"10-public-page-{width}px")
        await assert_accessible(page, axe, f"public page at {width} px")
        await visitor.close()


async def test_every_back_office_page_passes_axe(browser: Browser, node: Any, tmp_path: Path) -> None:
    await _publish_a_regie(node)
    base = str(node.make_url("")).rstrip("/")
    axe = Axe()
    context = await browser.new_context(base_url=base, locale="fr-FR")
    context.set_default_timeout(20_000)
    expect.set_options(timeout=20_000)
    page = await context.new_page()

    await page.goto("/login")
    await assert_accessible(page, axe, "login")
    await _log_in(page, "mauvais mot de passe")
    await assert_accessible(page, axe, "login refused")
    await _log_in(page, PASSWORD)
    await expect(page).to_have_url(f"{base}/admin")

    for path in (
        "/admin",
        "/admin/profile",
        "/admin/activities",
        "/admin/activities/new",
        "/admin/resources",
        "/admin/resources/new",
        "/admin/reports",
        "/admin/import",
        "/admin/federation",
    ):
        await page.goto(path)
        await assert_accessible(page, axe, path)

    # Forms in their error state: the messages, their links and the invalid fields.
    await page.goto("/admin/activities/new")
    await page.get_by_label("De quel service s'agit-il ?").select_option("green_spaces")
    await page.get_by_role("button", name="Continuer").click()
    await assert_accessible(page, axe, "activity form")
    await page.get_by_label("Code commune INSEE").fill("75")
    await page.get_by_role("button", name="Enregistrer").click()
    await expect(page.get_by_role("alert")).to_be_visible()
    await assert_accessible(page, axe, "activity form with errors")
    await page.goto("/admin/resources/new")
    await page.get_by_role("button", name="Enregistrer").click()
    await assert_accessible(page, axe, "resource form with errors")

    await page.goto("/admin/activities")
    await page.get_by_role("link", name="Correspondants de nuit", exact=True).click()
    await assert_accessible(page, axe, "activity edit form")

    csv_file = tmp_path / "activites.csv"
    csv_file.write_text(
        "titre;type_service;statut;date_debut;commune\nAtelier vélo;green_spaces;en cours;05/01/2026;93066\n"
        "Ligne fautive;green_spaces;;;75\n",
        encoding="utf-8",
    )
    await page.goto("/admin/import")
    await page.get_by_label("Fichier").set_input_files(str(csv_file))
    await page.get_by_role("button", name="Aperçu").click()
    await expect(page.get_by_role("status")).to_contain_text("1 ligne peut être importée")
    await assert_accessible(page, axe, "import preview")

    await page.goto("/admin/reports")
    await page.get_by_label("Commencer le rapport d'une période").select_option(str(dt.date.today().year))
    await page.get_by_role("button", name="Ouvrir").click()
    await expect(page.get_by_role("button", name="Soumettre au réseau")).to_be_visible()
    await assert_accessible(page, axe, "report form")
    await _shot(page, "11-report-form-axe")
    await context.close()
