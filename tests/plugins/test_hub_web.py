"""The coordinators' dashboard on the hub, per role: national report, report validation, enrolments, exports."""

from __future__ import annotations

import csv
import datetime as dt
import html
import io
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from aiohttp.test_utils import TestClient

from federation.protocol import persistence, sender
from federation.protocol.puller import pull_peer
from federation.reports import build_report
from federation.schema.records import PeriodReportData
from tests.plugins.test_hub import REPORT, Network, _approve_all, fingerprints_of
from tests.plugins.test_hub import network as network
from tests.protocol.conftest import activity

HTML = {"Accept": "text/html"}
Login = Callable[..., Awaitable[Any]]


@pytest.fixture
def database_url(tmp_path: Path) -> str:
    """The dashboard reads through the same SQL as the API (tested on both backends): SQLite is enough here."""
    return f"sqlite+aiosqlite:///{tmp_path / 'hub.db'}"


@pytest.fixture
async def hub(network: Network) -> Network:
    """Both régies approved, with activities and a submitted 2025 report each, received by the hub."""
    await _approve_all(network)
    for node, count in ((network.nodes["rq-paris"], 3), (network.nodes["rq-lyon"], 2)):
        for n in range(count):
            await node.create("activities", activity(n, start_date="2025-02-01"))
        report = await node.create("reports", {**REPORT, "state": "submitted"})
        node.report_id = report["id"]  # type: ignore[attr-defined]
        assert await sender.push_all(node.context) == {"target:hub": 1}
    return network


@pytest.fixture
async def browse(
    network: Network, regies_login: Login
) -> AsyncIterator[Callable[..., Awaitable[TestClient[Any, Any]]]]:
    """`await browse("national")` → a client of the hub's pages logged in with that role (`region=` for regional)."""
    clients: list[TestClient[Any, Any]] = []

    async def make(role: str | None, region: str | None = None) -> TestClient[Any, Any]:
        client: TestClient[Any, Any] = TestClient(network.hub.server)  # its own cookie jar: one session per client
        await client.start_server()
        clients.append(client)
        if role:
            assert (await regies_login(client, role, region=region)).status == 303
        return client

    yield make
    for client in clients:
        await client.session.close()  # the hub's server is closed by its own fixture


def csrf(page: str) -> str:
    match = re.search(r'name="_csrf" value="([^"]+)"', page)
    assert match
    return match.group(1)


async def text(client: TestClient[Any, Any], path: str, status: int = 200) -> str:
    response = await client.get(path, headers=HTML)
    body = await response.text()
    assert response.status == status, body[:2000]
    return body


async def test_national_report_covers_every_region(hub: Network, browse: Any) -> None:
    national = await browse("national")
    page = await text(national, "/hub?period=2025")
    assert "Rapport national" in page and "<svg" in page
    by_field = page.split('id="by-field"')[1].split("</figure>")[0]
    assert by_field.count("<rect") == 1 and "Gestion urbaine" in by_field and ">5<" in by_field
    assert "Île-de-France (11)" in page and "Auvergne-Rhône-Alpes (84)" in page
    assert 'id="indicator-by-area"' in page and 'id="trend"' in page
    assert "Chaque régie membre a envoyé son rapport." in page
    # On request, only the reports accepted at national level: none yet, so no figure, and the choice is kept.
    accepted = await text(national, "/hub?period=2025&approved=national")
    assert '<option value="national" selected>' in accepted and 'id="trend"' not in accepted
    assert "Aucun rapport reçu pour cette période" in accepted
    paris = hub.nodes["rq-paris"]
    assert (await hub.hub_post(f"/reports/rq-paris/{paris.report_id}/validate"))[0] == 201  # type: ignore[attr-defined]
    accepted = await text(national, "/hub?period=2025&approved=national")
    assert "Chiffres des rapports acceptés au niveau national" in accepted and 'id="trend"' in accepted
    assert "approved=national" in accepted.split('id="exports-title"')[1]  # exports follow the choice
    missing_2025 = await text(national, "/hub?period=2024")
    assert "rq-paris" in missing_2025 and "rq-lyon" in missing_2025
    assert "National report" in await text(national, "/hub?period=2025&lang=en")
    # A national coordinator may look at one region.
    region = await text(national, "/hub?period=2025&level=regional&region=84")
    assert "Rhône (69)" in region and "Paris (75)" not in region
    assert region.count('<input type="hidden" name="region" value="84">') == 3  # period, indicator and map forms


async def test_regional_coordinator_sees_only_their_region(hub: Network, browse: Any) -> None:
    regional = await browse("regional", region="11")
    page = await text(regional, "/hub?period=2025")
    assert "Paris (75)" in page and "Rhône" not in page and "Auvergne" not in page
    await text(regional, "/hub?period=2025&level=national", status=403)
    await text(regional, "/hub?period=2025&level=regional&region=84", status=403)
    reports = await text(regional, "/hub/reports?period=2025")
    assert "Régie de Belleville" in reports and "Duchère" not in reports
    lyon = hub.nodes["rq-lyon"]
    await text(regional, f"/hub/reports/rq-lyon/{lyon.report_id}", status=403)  # type: ignore[attr-defined]
    form = {"_csrf": csrf(reports)}
    refused = await regional.post(f"/hub/reports/rq-lyon/{lyon.report_id}/validate", data=form, headers=HTML)  # type: ignore[attr-defined]
    assert refused.status == 403
    exported = await regional.get("/hub/exports/missing?period=2024&format=csv")
    keys, *rows = list(csv.DictReader(io.StringIO((await exported.text()).lstrip("\ufeff"))))
    assert keys["Identifiant"] == "node_id"  # the column keys, in the second header row
    assert [row["Identifiant"] for row in rows] == ["rq-paris"]
    directory = await (await regional.get("/hub/exports/directory?format=json")).json()
    assert [row["node_id"] for row in directory["rows"]] == ["rq-paris"]
    assert (await regional.get("/hub/exports/activities?period=2025&level=national&format=csv")).status == 403


@pytest.mark.parametrize("path", ["/hub", "/hub/reports", "/hub/enrolments", "/hub/exports/activities?period=2025"])
async def test_staff_and_anonymous_are_refused(hub: Network, browse: Any, path: str) -> None:
    anonymous = await browse(None)
    response = await anonymous.get(path, headers=HTML, allow_redirects=False)
    assert response.status in (302, 303) and response.headers["Location"].startswith("/login")
    staff = await browse("staff")
    assert (await staff.get(path, headers=HTML)).status == 403


async def test_validate_and_return_reports(hub: Network, browse: Any) -> None:
    national = await browse("national")
    paris, lyon = hub.nodes["rq-paris"], hub.nodes["rq-lyon"]
    listing = await text(national, "/hub/reports?period=2025")
    assert listing.count("<td>Soumis</td>") == 2
    page = await text(national, f"/hub/reports/rq-paris/{paris.report_id}")  # type: ignore[attr-defined]
    # Not yet validated at regional level: the national coordinator's acceptance covers both levels, and says so.
    both = "Accepter au niveau national (les deux niveaux)"
    assert both in page and "<td>12</td>" in page and "· Soumis ·" in page  # figures, history
    validated = await national.post(
        f"/hub/reports/rq-paris/{paris.report_id}/validate",  # type: ignore[attr-defined]
        data={"_csrf": csrf(page)},
        headers=HTML,
    )
    after = await validated.text()
    assert validated.status == 200 and 'id="report-state">Validé<' in after and both not in after
    assert "Validé (niveaux régional et national en une étape) · hub:national-x (Coordination nationale)" in after

    page = await text(national, f"/hub/reports/rq-lyon/{lyon.report_id}")  # type: ignore[attr-defined]
    path = f"/hub/reports/rq-lyon/{lyon.report_id}/return"  # type: ignore[attr-defined]
    empty = await national.post(path, data={"_csrf": csrf(page), "comment": "  "}, headers=HTML)
    assert empty.status == 422 and "Dites ce que la régie doit corriger." in await empty.text()
    returned = await national.post(path, data={"_csrf": csrf(page), "comment": "Bénévoles inversés"}, headers=HTML)
    assert 'id="report-state">Renvoyé' in await returned.text()

    # The decisions reach the régies through the hub's feed, as the API's do, signed by the coordinator's name.
    for node in (paris, lyon):
        hub_peer = await persistence.get_peer(node.context.engine, "hub-national")
        assert hub_peer is not None
        await pull_peer(node.context, hub_peer)
    status, report = await paris.get(f"/api/v1/reports/{paris.report_id}", headers=paris.auth)  # type: ignore[attr-defined]
    assert status == 200 and report["state"] == "validated" and report["audit"][-1]["actor"] == "hub:national-x"
    status, report = await lyon.get(f"/api/v1/reports/{lyon.report_id}", headers=lyon.auth)  # type: ignore[attr-defined]
    assert status == 200 and report["state"] == "returned" and report["audit"][-1]["comment"] == "Bénévoles inversés"


async def test_two_level_approval_on_the_pages(hub: Network, browse: Any) -> None:
    paris = hub.nodes["rq-paris"]
    path = f"/hub/reports/rq-paris/{paris.report_id}"  # type: ignore[attr-defined]
    regional = await browse("regional", region="11")
    page = await text(regional, path)
    assert "Valider au niveau régional" in page and "Accepter au niveau national" not in page
    validated = await regional.post(f"{path}/validate", data={"_csrf": csrf(page)}, headers=HTML)
    after = await validated.text()
    assert 'id="report-state">Validé au niveau régional<' in after
    assert "un coordinateur national doit maintenant accepter le rapport" in after  # nothing left for this role
    assert "Valider au niveau régional</button>" not in after
    refused = await regional.post(f"{path}/validate", data={"_csrf": csrf(after)}, headers=HTML)
    assert refused.status == 403

    national = await browse("national")
    page = await text(national, path)
    assert "Accepter au niveau national</button>" in page and "les deux niveaux" not in page
    accepted = await national.post(f"{path}/validate", data={"_csrf": csrf(page)}, headers=HTML)
    history = await accepted.text()
    assert 'id="report-state">Validé<' in history
    assert "Validé au niveau régional · hub:regional-11 (Coordination régionale)" in history
    assert "Validé · hub:national-x (Coordination nationale)" in history


async def test_enrolment_approvals(network: Network, browse: Any) -> None:
    regional = await browse("regional", region="84")
    page = await text(regional, "/hub/enrolments")
    assert "Régie de la Duchère" in page and "Belleville" not in page
    status, listing = await network.hub_get("/enrolments")
    assert status == 200
    ids = {item["node_id"]: item["id"] for item in listing["items"]}
    refused = await regional.post(f"/hub/enrolments/{ids['rq-paris']}/approve", data={"_csrf": csrf(page)})
    assert refused.status == 403
    empty = await regional.post(f"/hub/enrolments/{ids['rq-lyon']}/reject", data={"_csrf": csrf(page)}, headers=HTML)
    assert empty.status == 422 and "Dites pourquoi la demande est refusée." in await empty.text()
    national = await browse("national")
    page = await text(national, "/hub/enrolments")
    paris_print = fingerprints_of(network.nodes["rq-paris"])["fingerprints"][0]
    assert paris_print in page  # shown, to be compared with what the régie's operator reads out
    unconfirmed = await national.post(
        f"/hub/enrolments/{ids['rq-paris']}/approve", data={"_csrf": csrf(page), "fingerprint": "AB:CD"}, headers=HTML
    )
    assert unconfirmed.status == 422 and "empreinte ne correspond pas à la clé" in await unconfirmed.text()
    form = {"_csrf": csrf(page), "fingerprint": paris_print.lower().replace(":", " ")}
    approved = await national.post(f"/hub/enrolments/{ids['rq-paris']}/approve", data=form)
    assert "la régie est maintenant membre" in await approved.text()
    form = {"_csrf": csrf(await text(regional, "/hub/enrolments")), "comment": "doublon"}
    rejected = await regional.post(f"/hub/enrolments/{ids['rq-lyon']}/reject", data=form)
    assert "Demande refusée." in await rejected.text()
    status, decided = await network.hub_get("/enrolments")
    assert status == 200
    assert {(item["node_id"], item["state"], item["decided_by"]) for item in decided["items"]} == {
        ("rq-paris", "approved", "national-x"),
        ("rq-lyon", "rejected", "regional-84"),
    }
    members = await persistence.list_peers(network.hub.context.engine)
    assert [peer.node_id for peer in members] == ["rq-paris"]


async def test_exports_from_the_session(hub: Network, browse: Any) -> None:
    national = await browse("national")
    page = await text(national, "/hub?period=2025")
    for fmt in ("csv", "xlsx", "ods", "json"):
        assert f"/hub/exports/activities?period=2025&amp;format={fmt}" in page
    raw = await (await national.get("/hub/exports/activities?period=2025&format=csv")).text()
    assert list(csv.DictReader(io.StringIO(raw.lstrip("\ufeff"))))[-1]["Activités"] == "5"
    response = await national.get("/hub/exports/indicators?period=2025&format=xlsx&lang=en")
    sheet = openpyxl.load_workbook(io.BytesIO(await response.read())).active
    assert sheet is not None
    assert [cell.value for cell in next(sheet.iter_rows(max_row=1))][:3] == ["Area", "Field of action", "Service type"]
    geojson = await (await national.get("/hub/exports/directory.geojson")).json()
    assert sorted(feature["properties"]["node_id"] for feature in geojson["features"]) == ["rq-lyon", "rq-paris"]
    assert (await national.get("/hub/exports/nothing")).status == 404
    # The API's exports still need a token: a session cookie is not one.
    assert (await national.get("/plugins/hub/tables/activities?period=2025")).status == 401


async def test_no_dashboard_without_the_hub(regies_client: Any, regies_login: Login) -> None:
    client = await regies_client()
    await regies_login(client, "national")
    assert (await client.get("/hub", headers=HTML)).status == 404


def test_dashboard_strings_are_translated() -> None:
    """Every text of the dashboard has its French translation, compiled (`python -m federation.web.messages
    plugins/regies_hub`)."""
    import regies_hub

    from federation.web import messages

    plugin = Path(regies_hub.__file__).parent
    french = messages.read_catalogue("fr", plugin / "locale")
    translated = {message.id if isinstance(message.id, str) else message.id[0] for message in french if message.string}
    sources = {
        message.id if isinstance(message.id, str) else message.id[0]
        for message in messages.extract(plugin)
        if message.id
    }
    assert "Validate the report" in sources and "Say why the request is rejected." in sources  # templates and code
    assert sources - translated == set()
    for language in ("fr", "en"):
        catalogue = messages.read_catalogue(language, plugin / "locale")
        assert messages.po_path(language, plugin / "locale").with_suffix(".mo").read_bytes() == messages.compiled(
            catalogue
        )


async def test_a_period_not_over_counts_no_report_even_one_pushed_anyway(hub: Network, browse: Any) -> None:
    # A node that skipped the submission check (an old version, a hostile one) still delivers its report.
    paris = hub.nodes["rq-paris"]
    next_year = dt.date.today().year + 1
    rogue = PeriodReportData.model_validate(
        {**REPORT, "period": {"type": "year", "year": next_year}, "state": "submitted"}
    )
    await paris.context.store.create_built(
        "report", lambda previous, envelope: build_report(rogue, previous, envelope, "rogue", hub_joined=True)
    )
    assert await sender.push_all(paris.context) == {"target:hub": 1}
    status, reports = await hub.hub_get(f"/reports?period={next_year}")
    assert status == 200 and [item["origin"] for item in reports["items"]] == ["rq-paris"]  # stored, not counted
    status, complete = await hub.hub_get(f"/tables/completeness?period={next_year}")
    assert status == 200
    assert {row["area"]: (row["expected"], row["received"], row["on_time"]) for row in complete["rows"]} == {
        "11": (1, 0, 0),
        "84": (1, 0, 0),
    }
    national = await browse("national")
    page = html.unescape(await text(national, f"/hub?period={next_year}"))
    assert (
        "Cette période n'est pas terminée : aucun rapport ne peut encore être soumis, et aucun n'est compté "
        "comme reçu." in page
    )
    assert "La période n'est pas terminée : les rapports sont attendus une fois qu'elle sera achevée." in page
    assert "Chaque régie membre a envoyé son rapport." not in page
    over = html.unescape(await text(national, "/hub?period=2025"))
    assert 'id="period-not-over"' not in over and "Chaque régie membre a envoyé son rapport." in over
