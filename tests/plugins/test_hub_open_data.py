"""The hub's open data: the DCAT-AP catalogue read as JSON-LD (expanded with pyld, as a harvester would), and the
tables it points at, served without a token, with the cells of fewer than three régies left empty."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from pyld import jsonld
from sqlalchemy import insert

from federation import appkeys
from federation.app import create_app
from federation.bootstrap import init_node
from federation.config import load_settings
from federation.schema.records import RECORD_KINDS
from federation.storage.mapping import record_row
from federation.storage.service import count_bulk_load
from federation.storage.tables import enrolments, records
from tests.migrated import MigratedDatabases

DCAT, DCT = "http://www.w3.org/ns/dcat#", "http://purl.org/dc/terms/"
# node id → commune (department, region): three régies in Île-de-France (11), two in Auvergne-Rhône-Alpes (84).
REGIES = {
    "rq-paris": ("75056", "75", "11"),
    "rq-saint-denis": ("93066", "93", "11"),
    "rq-montreuil": ("93048", "93", "11"),
    "rq-lyon": ("69123", "69", "84"),
    "rq-grenoble": ("38185", "38", "84"),
}
OPEN_DATA = {"datasets": ["directory", "activities", "indicators"], "periods": ["2025", "2024-Q4"], "min_regies": 3}


def _row(kind: str, origin: str, body: dict[str, Any]) -> dict[str, Any]:
    envelope = {"origin": origin, "id": str(uuid.uuid4()), "version": 1, "updated_at": dt.datetime.now(dt.UTC)}
    return record_row(RECORD_KINDS[kind], RECORD_KINDS[kind].record_model.model_validate({**body, **envelope}))


def _activity(origin: str, service_type: str, category: str) -> dict[str, Any]:
    body = {
        "category": category,
        "service_type": service_type,
        "title": f"{service_type} {origin}",
        "start_date": "2025-02-01",
        "end_date": "2025-11-30",
    }
    return _row("activity", origin, body)


@pytest.fixture
async def hub(
    aiohttp_client: Any, tmp_path: Any, database_url: str, migrated_databases: MigratedDatabases
) -> AsyncIterator[tuple[TestClient[Any, Any], str]]:
    """A hub whose members reported for 2025: every one mediates; one Parisian and one Lyon régie hold meetings."""
    settings = load_settings(
        data_dir=tmp_path / "hub",
        overrides={
            "database": {"url": database_url},
            "federation": {"worker": False},
            "plugins": {"hub": {"enabled": True, "open_data": OPEN_DATA}},
        },
    )
    await migrated_databases.fill(settings.database_url)
    created = await init_node(settings, name="Mouvement des Régies", node_id="hub-national")
    assert created.admin_token is not None
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    rows, reports = [], []
    for origin, (commune, _department, _region) in REGIES.items():
        rows.append(_row("node", origin, {"name": f"Régie {origin}", "kind": "quartier", "commune": commune}))
        rows.append(_activity(origin, "social_mediation", "mediation"))
        report = _row(
            "report",
            origin,
            {"period": {"type": "year", "year": 2025}, "state": "submitted", "indicators": {"volunteers": 10}},
        )
        rows.append(report)
        reports.append((origin, report["id"]))
    rows += [_activity(origin, "neighbourhood_meetings", "local_democracy") for origin in ("rq-paris", "rq-lyon")]
    async with client.app[appkeys.ENGINE].begin() as connection:
        await connection.execute(
            insert(enrolments),
            [
                {
                    "node_id": origin,
                    "name": f"Régie {origin}",
                    "base_url": f"https://{origin}.example",
                    "keys": "[]",
                    "commune": commune,
                    "department": department,
                    "region": region,
                    "state": "approved",
                    "requested_at_us": 1,
                }
                for origin, (commune, department, region) in REGIES.items()
            ],
        )
        await connection.execute(insert(records), rows)
        await count_bulk_load(connection)
    auth = {"Authorization": f"Bearer {created.admin_token}"}
    for origin, report_id in reports[:-1]:  # rq-grenoble's report still awaits the national acceptance
        accepted = await client.post(f"/plugins/hub/reports/{origin}/{report_id}/validate", headers=auth)
        assert accepted.status == 201, await accepted.text()
    yield client, created.admin_token


async def test_the_catalogue_is_dcat_ap(hub: tuple[TestClient[Any, Any], str]) -> None:
    client, _token = hub
    response = await client.get("/catalog.jsonld")
    assert response.status == 200
    assert response.content_type == "application/ld+json"
    (catalogue,) = jsonld.expand(json.loads(await response.read()))
    assert catalogue["@type"] == [DCAT + "Catalog"]
    base = catalogue["@id"].removesuffix("/catalog.jsonld")  # the hub's public address
    for required in ("title", "description", "publisher"):
        assert catalogue[DCT + required], required
    datasets = catalogue[DCAT + "dataset"]
    titles = sorted(dataset[DCT + "title"][0]["@value"] for dataset in datasets)
    assert titles == [
        "Activités des régies par champ d'action et type de service – 2024-Q4",
        "Activités des régies par champ d'action et type de service – 2025",
        "Annuaire des régies du réseau",
        "Indicateurs des régies – 2024-Q4",
        "Indicateurs des régies – 2025",
    ]
    for dataset in datasets:
        assert dataset["@type"] == [DCAT + "Dataset"]
        for required in ("title", "description", "license", "accrualPeriodicity", "publisher"):
            assert dataset[DCT + required], required
        formats = set()
        for distribution in dataset[DCAT + "distribution"]:
            assert distribution["@type"] == [DCAT + "Distribution"]
            assert distribution[DCAT + "accessURL"][0]["@id"] == distribution[DCAT + "downloadURL"][0]["@id"]
            assert distribution[DCT + "license"][0]["@id"] == "https://www.etalab.gouv.fr/licence-ouverte-open-licence/"
            formats.add(distribution[DCT + "format"][0]["@id"].rsplit("/", 1)[1])
            # Each distribution is served, without a token, in its format.
            url = distribution[DCAT + "downloadURL"][0]["@id"]
            served = await client.get(url.removeprefix(base))
            assert served.status == 200, url
        assert formats == {"CSV", "XLSX", "JSON"}
    quarter = next(d for d in datasets if d[DCT + "title"][0]["@value"].startswith("Indicateurs des régies – 2024-Q4"))
    (period,) = quarter[DCT + "temporal"]
    assert period[DCAT + "startDate"][0]["@value"] == "2024-10-01"
    assert period[DCAT + "endDate"][0]["@value"] == "2024-12-31"
    assert quarter[DCT + "accrualPeriodicity"][0]["@id"].endswith("/frequency/QUARTERLY")
    assert "moins de 3 régies" in quarter[DCT + "description"][0]["@value"]


def _csv(data: bytes) -> list[dict[str, str]]:
    lines = data.decode("utf-8-sig").splitlines()
    return list(csv.DictReader(io.StringIO("\n".join([lines[1], *lines[2:]]))))  # the keys' row as header


async def test_small_cells_are_left_empty_in_the_open_activity_table(hub: tuple[TestClient[Any, Any], str]) -> None:
    client, token = hub
    response = await client.get("/plugins/hub/opendata/activities?period=2025&format=csv")
    assert response.status == 200
    cells = {
        (row["area"], row["category"], row["service_type"]): (row["activities"], row["regies"])
        for row in _csv(await response.read())
    }
    assert cells[("11", "mediation", "social_mediation")] == ("3", "3")
    assert cells[("", "", "")] == ("7", "5")  # the national total: five régies
    # Two régies in region 84 and one meeting-holder per region: primary suppression.
    assert cells[("84", "mediation", "social_mediation")] == ("", "")
    assert cells[("11", "local_democracy", "neighbourhood_meetings")] == ("", "")
    assert cells[("84", "", "")] == ("", "")
    # Secondary: region 11's total would give region 84's away from the national total (and, once empty, it no
    # longer gives region 11's meetings away from its mediation subtotal, which stays).
    assert cells[("11", "", "")] == ("", "")
    assert cells[("11", "mediation", "")] == ("3", "3")
    assert cells[("11", "local_democracy", "")] == ("", "")
    # The coordinators' own table (with a token) is not suppressed.
    full = await client.get(
        "/plugins/hub/tables/activities?period=2025&format=json", headers={"Authorization": f"Bearer {token}"}
    )
    rows = (await full.json())["rows"]
    assert {(r["area"], r["service_type"], r["regies"]) for r in rows} >= {("84", "social_mediation", 2)}


async def test_open_indicators_count_nationally_accepted_reports_with_small_cells_empty(
    hub: tuple[TestClient[Any, Any], str],
) -> None:
    client, _token = hub
    table = await (await client.get("/plugins/hub/opendata/indicators?period=2025&format=json")).json()
    assert table["min_regies"] == 3
    volunteers = {
        row["area"]: (row["total"], row["reports"]) for row in table["rows"] if row["indicator"] == "volunteers"
    }
    assert volunteers[None] == (40.0, 4)  # rq-grenoble's report is not accepted yet
    assert volunteers["11"] == (None, None)  # secondary: the national total less region 84 would give it
    assert volunteers["84"] == (None, None)  # one accepted report


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/plugins/hub/opendata/activities?period=2023&format=csv", 404),  # a period not opened
        ("/plugins/hub/opendata/completeness?period=2025", 404),  # not an open dataset
        ("/plugins/hub/opendata/activities?format=csv", 404),  # a table is one period's
        ("/plugins/hub/opendata/directory?format=pdf", 400),
        ("/plugins/hub/opendata/directory?format=xlsx", 200),
    ],
)
async def test_only_what_was_opened_is_served(hub: tuple[TestClient[Any, Any], str], path: str, status: int) -> None:
    client, _token = hub
    assert (await client.get(path)).status == status


async def test_nothing_is_open_by_default(aiohttp_client: Any, tmp_path: Any) -> None:
    settings = load_settings(
        data_dir=tmp_path / "hub",
        overrides={"federation": {"worker": False}, "plugins": {"hub": {"enabled": True}}},
    )
    await init_node(settings, name="Hub", node_id="hub-national")
    client: TestClient[Any, Any] = await aiohttp_client(create_app(settings))
    (catalogue,) = jsonld.expand(json.loads(await (await client.get("/catalog.jsonld")).read()))
    assert catalogue.get(DCAT + "dataset", []) == []
    assert (await client.get("/plugins/hub/opendata/directory")).status == 404
