"""National figures as a coordinator reads them: the dashboard in a real browser shows French numbers computed by
each indicator's rule (a share is a weighted mean, never a sum), and every export keeps numbers as numbers with
French labels, the column keys in a second header row and a French CSV variant. Needs /usr/bin/chromium like
tests/web/test_browser.py (REGIES_SKIP_BROWSER=1 skips the browser test)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from typing import Any

import openpyxl
import pytest
from odf.opendocument import load as load_ods
from odf.table import Table, TableCell, TableRow
from odf.teletype import extractText
from playwright.async_api import Browser, expect
from sqlalchemy import select, update

from federation import appkeys
from federation.protocol import sender
from federation.storage.tables import records
from federation.testing import WEB_TEST_PASSWORD
from federation.web.users import store_user
from tests.plugins.test_hub import Network, _approve_all
from tests.plugins.test_hub_web import browse as browse
from tests.plugins.test_hub_web import database_url as database_url
from tests.plugins.test_hub_web import network as network
from tests.web.test_browser import browser as browser

# Paris: a board of 20 with 45 % inhabitants; Lyon: a board of 8 with 50 %. Nationally (45×20 + 50×8) / 28.
FIGURES = {
    "rq-paris": {"budget_total": 3_430_000, "board_members": 20, "board_inhabitants_share": 45, "fte_total": 32.5},
    "rq-lyon": {"budget_total": 1_000_000, "board_members": 8, "board_inhabitants_share": 50, "fte_total": 10},
}
NATIONAL_SHARE = "46,4 %"  # 1300 / 28 = 46.43 — not "95"


def spaced(text: str) -> str:
    return text.replace("\u202f", " ").replace("\u00a0", " ")


@pytest.fixture
async def hub(network: Network) -> Network:
    await _approve_all(network)
    for node_id, values in FIGURES.items():
        node = network.nodes[node_id]
        await node.create(
            "reports", {"period": {"type": "year", "year": 2025}, "indicators": values, "state": "submitted"}
        )
        assert await sender.push_all(node.context) == {"target:hub": 1}
    return network


async def test_dashboard_shows_french_figures_by_their_rule(
    browser: Browser, hub: Network, regies_web_password_hash: str
) -> None:
    await store_user(hub.hub.server.app[appkeys.ENGINE], "claire", regies_web_password_hash, "national", None)
    context = await browser.new_context(base_url=hub.hub.url, locale="fr-FR")
    context.set_default_timeout(20_000)
    expect.set_options(timeout=20_000)
    page = await context.new_page()
    await page.goto("/login")
    await page.get_by_label("Identifiant").fill("claire")
    await page.get_by_label("Mot de passe").fill(WEB_TEST_PASSWORD)
    await page.get_by_role("button", name="Se connecter").click()
    await page.goto("/hub?period=2025&indicator=budget_total")

    figures = page.get_by_role("table").filter(has_text="Chiffres des rapports")
    budget = figures.get_by_role("row", name="Budget total")
    await expect(budget).to_be_visible()
    assert spaced(await budget.inner_text()).split("\t")[1:3] == ["4 430 000 €", "somme"]
    share = figures.get_by_role("row", name="Part d'habitants au conseil d'administration")
    cells = spaced(await share.inner_text()).split("\t")
    assert cells[1] == NATIONAL_SHARE and cells[2].startswith("moyenne pondérée par : Membres du conseil")
    assert spaced(await figures.get_by_role("row", name="Équivalents temps plein").inner_text()).split("\t")[1] == (
        "42,5 ETP"
    )
    by_region = spaced(" ".join(await page.locator("#indicator-by-area svg text").all_text_contents()))
    assert "3 430 000 €" in by_region and "1 000 000 €" in by_region
    body = await page.locator("main").inner_text()
    assert "e+" not in body and "95" not in spaced(await share.inner_text())
    await page.goto("/hub?period=2025&indicator=board_inhabitants_share")
    trend = spaced(" ".join(await page.locator("#trend svg text").all_text_contents()))
    assert NATIONAL_SHARE in trend
    await context.close()


async def test_exports_keep_numbers_with_french_labels_and_keys(hub: Network, browse: Callable[..., Any]) -> None:
    national = await browse("national")
    base = "/hub/exports/indicators?period=2025"

    french = await (await national.get(f"{base}&format=csv-fr")).read()
    assert french.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(french[3:].decode("utf-8")), delimiter=";"))
    header, keys, data = rows[0], rows[1], rows[2:]
    assert header[:4] == ["Territoire", "Champ d'action", "Type de service", "Indicateur"] and "Valeur" in header
    assert keys[:4] == ["area", "category_label", "service_type_label", "indicator_label"] and "total" in keys
    national_rows = {row[keys.index("indicator")]: row for row in data if row[0] == ""}
    share = national_rows["board_inhabitants_share"]
    assert share[keys.index("indicator_label")] == "Part d'habitants au conseil d'administration"
    assert share[keys.index("total")].startswith("46,428571")  # decimal comma, the figure in full
    assert share[keys.index("aggregation_label")] == "moyenne pondérée"
    assert national_rows["budget_total"][keys.index("total")] == "4430000"  # never 4.43e+06

    plain = await (await national.get(f"{base}&format=csv&keys=0")).text()
    plain_rows = list(csv.reader(io.StringIO(plain.lstrip("\ufeff"))))
    assert plain_rows[0][0] == "Territoire" and plain_rows[1][0] != "area"  # no key row with keys=0

    sheet = openpyxl.load_workbook(io.BytesIO(await (await national.get(f"{base}&format=xlsx")).read())).active
    cells = list(sheet.iter_rows())
    keys = [cell.value for cell in cells[1]]
    budget = next(row for row in cells[2:] if row[keys.index("indicator")].value == "budget_total" and not row[0].value)
    total = budget[keys.index("total")]
    assert (total.value, total.data_type, total.number_format) == (4_430_000, "n", '#,##0 "€"')
    share = next(
        row for row in cells[2:] if row[keys.index("indicator")].value == "board_inhabitants_share" and not row[0].value
    )
    assert share[keys.index("total")].value == pytest.approx(1300 / 28)
    assert share[keys.index("total")].number_format == '#,##0.0 "%"'

    ods = load_ods(io.BytesIO(await (await national.get(f"{base}&format=ods")).read()))
    table = ods.spreadsheet.getElementsByType(Table)[0]
    ods_rows = table.getElementsByType(TableRow)
    ods_keys = [extractText(cell) for cell in ods_rows[1].getElementsByType(TableCell)]
    found = [
        row.getElementsByType(TableCell)
        for row in ods_rows[2:]
        if extractText(row.getElementsByType(TableCell)[ods_keys.index("indicator")]) == "budget_total"
        and extractText(row.getElementsByType(TableCell)[0]) == ""  # the national row, no area
    ]
    cell = found[0][ods_keys.index("total")]
    assert cell.getAttribute("valuetype") == "float" and cell.getAttribute("value") == "4430000"
    assert cell.getAttribute("stylename")  # a number format, the figure stays a number

    english = await (await national.get(f"{base}&format=csv&lang=en")).text()
    assert "Share of inhabitants on the board" in english and "weighted mean" in english
    assert (await national.get(f"{base}&format=csv&keys=2")).status == 400


async def test_implausible_values_received_are_flagged_and_set_aside(hub: Network, browse: Callable[..., Any]) -> None:
    # A modified node got 250 % and 2.5 board members past its own checks: the hub stores the report as sent.
    engine = hub.hub.context.engine
    async with engine.begin() as connection:
        row = (
            await connection.execute(
                select(records.c.id, records.c.body).where(records.c.kind == "report", records.c.origin == "rq-paris")
            )
        ).one()
        body = json.loads(row.body)
        body["indicators"].update(board_inhabitants_share=250, board_members=2.5)
        await connection.execute(
            update(records).where(records.c.id == row.id).values(body=json.dumps(body, ensure_ascii=False))
        )
    national = await browse("national")
    report = await national.get(f"/hub/reports/rq-paris/{row.id}", headers={"Accept": "text/html"})
    page = spaced(await report.text())
    assert report.status == 200
    assert '250 % <strong class="state-bad">valeur invraisemblable, écartée des tableaux</strong>' in page
    assert "3 430 000 €" in page
    dashboard = await national.get("/hub?period=2025", headers={"Accept": "text/html"})
    text = spaced(await dashboard.text())
    assert dashboard.status == 200 and "valeur invraisemblable écartée" in text
    table = await (await national.get("/hub/exports/indicators?period=2025&format=json")).json()
    share = next(r for r in table["rows"] if r["indicator"] == "board_inhabitants_share" and r["area"] is None)
    assert (share["total"], share["reports"], share["set_aside"]) == (50.0, 1, 1)  # Lyon's 50 % alone
