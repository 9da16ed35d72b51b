"""Activity import: CSV or XLSX upload, a preview with per-row French errors, nothing written until confirmed."""

from __future__ import annotations

import datetime as dt
import html
import io
import re
from typing import Any

from aiohttp import FormData

from tests.web.conftest import csrf_of

CSV = """titre;type_service;statut;date_debut;commune;qpv;partenaires;details.surface_m2;details.tasks
Espaces verts des Lilas;green_spaces;en cours;01/03/2026;93066;QP093001;"Ville de Saint-Denis; Plaine Co";12000;mowing
Tonte du parc;Entretien des espaces verts;prévue;2026-04-01;93066;;;800;
Mauvaise commune;green_spaces;;;75;;;-1;
;jardinage lunaire;;;;;;;
"""


async def _upload(client: Any, filename: str, content: bytes) -> tuple[int, str, str]:
    """(status, page as shown, the valid rows' documents the page carries to the confirmation)."""
    page = await (await client.get("/admin/import")).text()
    form = FormData()
    form.add_field("_csrf", csrf_of(page))
    form.add_field("file", content, filename=filename)
    response = await client.post("/admin/import", data=form)
    raw = await response.text()
    documents = re.search(r'name="documents" value="([^"]*)"', raw)
    return response.status, html.unescape(raw), html.unescape(documents.group(1)) if documents else ""


async def _activities(client: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await (await client.get("/api/v1/activities")).json())["items"]
    return items


async def test_csv_preview_then_confirm(staff: Any) -> None:
    status, preview, documents = await _upload(staff, "activites.csv", CSV.encode("utf-8"))
    assert status == 200, preview
    assert "2 lignes peuvent être importées" in preview
    assert "2 lignes comportent des erreurs et seront ignorées" in preview
    assert "commune : Saisissez un code commune INSEE" in preview
    assert "details.surface_m2 : Saisissez un nombre supérieur ou égal à 0." in preview
    assert "type_service : Choisissez un des types de service proposés." in preview
    assert await _activities(staff) == []  # the preview wrote nothing

    confirmed = await staff.post(
        "/admin/import/confirm",
        data={"_csrf": csrf_of(preview), "documents": documents},
        allow_redirects=False,
    )
    assert confirmed.status == 303
    listing = html.unescape(await (await staff.get(confirmed.headers["Location"])).text())
    assert "2 activités importées." in listing
    imported = {activity["title"]: activity for activity in await _activities(staff)}
    lilas = imported["Espaces verts des Lilas"]
    assert (lilas["status"], lilas["start_date"], lilas["place"]["qpv"]) == ("active", "2026-03-01", ["QP093001"])
    assert [p["name"] for p in lilas["partners"]] == ["Ville de Saint-Denis", "Plaine Co"]
    assert lilas["details"] == {"surface_m2": 12000, "tasks": ["mowing"], "zero_pesticide": None}
    assert imported["Tonte du parc"]["service_type"] == "green_spaces"  # found by its French name
    assert imported["Tonte du parc"]["status"] == "planned"


async def test_a_tampered_confirmation_writes_nothing(staff: Any) -> None:
    _status, preview, _documents = await _upload(staff, "activites.csv", CSV.encode("utf-8"))
    forged = '[{"title": "", "service_type": "green_spaces", "category": "urban_management"}]'
    response = await staff.post("/admin/import/confirm", data={"_csrf": csrf_of(preview), "documents": forged})
    assert response.status == 400
    assert await _activities(staff) == []


async def test_xlsx_with_real_dates_and_numbers(staff: Any) -> None:
    from openpyxl import Workbook

    workbook = Workbook()
    sheet = workbook.active
    sheet.append(["Titre", "Type service", "Date début", "Habitants", "details.learners"])
    sheet.append(["Auto-école sociale", "social_driving_school", dt.datetime(2026, 2, 2), 30, 14.0])
    buffer = io.BytesIO()
    workbook.save(buffer)
    status, preview, _documents = await _upload(staff, "activites.xlsx", buffer.getvalue())
    assert status == 200, preview
    assert "1 ligne peut être importée" in preview


async def test_the_template_imports_as_is_and_bad_files_are_explained(staff: Any) -> None:
    template = await staff.get("/admin/import/modele.csv")
    assert template.headers["Content-Disposition"] == 'attachment; filename="modele-import-activites.csv"'
    status, preview, _documents = await _upload(staff, "modele.csv", await template.read())
    assert (status, "1 ligne peut être importée" in preview) == (200, True)
    status, page, _documents = await _upload(staff, "vide.csv", b"")
    assert status == 400
    assert "Le fichier est vide" in page
    status, page, _documents = await _upload(staff, "vieux.xls", b"\xd0\xcf\x11\xe0")
    assert "Enregistrez le fichier au format CSV ou XLSX" in page


async def _confirm(client: Any, preview: str, documents: str) -> str:
    confirmed = await client.post(
        "/admin/import/confirm", data={"_csrf": csrf_of(preview), "documents": documents}, allow_redirects=False
    )
    assert confirmed.status == 303, html.unescape(await confirmed.text())
    return html.unescape(await (await client.get(confirmed.headers["Location"])).text())


async def test_the_same_file_sent_again_after_fixing_it_imports_only_the_new_rows(staff: Any) -> None:
    _status, preview, documents = await _upload(staff, "activites.csv", CSV.encode("utf-8"))
    assert "2 activités importées." in await _confirm(staff, preview, documents)

    # The user fixes the bad commune and surface, repeats a line by mistake, and sends the whole file again.
    fixed = CSV.replace("Mauvaise commune;green_spaces;;;75;;;-1;", "Bonne commune;green_spaces;;;93066;;;40;")
    fixed += "Bonne commune;green_spaces;;;93066;;;40;\n"
    status, preview, documents = await _upload(staff, "activites.csv", fixed.encode("utf-8"))
    assert status == 200, preview
    assert "1 ligne peut être importée" in preview
    assert "3 lignes sont déjà importées et seront laissées de côté" in preview
    assert "1 ligne comporte des erreurs" in preview  # the unknown service type, still there
    rows = {line.split("</td>")[1].strip().removeprefix("<td>"): line for line in preview.split("<tr>")[2:]}
    assert "déjà importée" in rows["Espaces verts des Lilas"] and "déjà importée" in rows["Tonte du parc"]
    assert "déjà importée : identique à la ligne 4" in rows["Bonne commune"]  # the second "Bonne commune" row
    listing = await _confirm(staff, preview, documents)
    assert "1 activité importée." in listing
    titles = sorted(activity["title"] for activity in await _activities(staff))
    assert titles == ["Bonne commune", "Espaces verts des Lilas", "Tonte du parc"]

    # The confirmation sent twice (a double click, or a second tab) writes nothing the second time.
    listing = await _confirm(staff, preview, documents)
    assert "0 activité importée. 1 était déjà importée : laissée de côté." in listing
    assert len(await _activities(staff)) == 3

    # The report pre-fill counts each activity once: 12000 + 800 + 40 m² of green spaces.
    form = html.unescape(await (await staff.get("/admin/reports/new?period=2026")).text())
    assert re.search(r'name="indicators.green_space_surface_m2" value="12\s?840"', form)  # French: "12 840"
