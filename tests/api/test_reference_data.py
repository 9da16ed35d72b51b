"""Communes and QPV checked against the shipped reference data, through the real API: what a client sees."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from federation import appkeys
from federation.schema.identifiers import log_retired_commune
from federation.schema.records import Activity
from federation.schema.types import insee_commune
from tests.api.conftest import activity

# Béon (01039) merged into Culoz-Béon (01138) on 1 January 2025: a code retired since 2019.
RETIRED, REPLACEMENT = "01039", "Culoz-Béon (01138)"


async def _post(client: Any, auth: dict[str, str], place: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    response = await client.post("/api/v1/activities", json=activity(place=place), headers=auth)
    body: dict[str, Any] = await response.json()
    return response.status, body


@pytest.mark.parametrize("code", ["93999", "2A999", "97699"])
async def test_made_up_communes_are_refused_and_nothing_is_stored(
    client: Any, auth: dict[str, str], table_counts: Any, code: str
) -> None:
    status, problem = await _post(client, auth, {"commune": code})
    assert status == 422
    assert problem["errors"] == [
        {"pointer": "/place/commune", "detail": f"INSEE commune code {code} does not exist", "code": "value_error"}
    ]
    assert await table_counts() == (1, 1)  # the node profile only


async def test_a_postal_code_typed_for_a_commune_is_refused_with_the_commune_it_serves(
    client: Any, auth: dict[str, str]
) -> None:
    status, problem = await _post(client, auth, {"commune": "93100"})
    assert status == 422
    [error] = problem["errors"]
    assert error["pointer"] == "/place/commune"
    assert error["detail"].endswith("93100 is the postal code of Montreuil (93048)")


@pytest.mark.parametrize(
    ("code", "department", "region"),
    [("97801", "978", "978"), ("97701", "977", "977"), ("98735", "987", "987"), ("75111", "75", "11")],
)
async def test_overseas_collectivities_and_arrondissements_are_accepted(
    client: Any, auth: dict[str, str], code: str, department: str, region: str
) -> None:
    status, created = await _post(client, auth, {"commune": code})
    assert status == 201, created
    assert (created["place"]["department"], created["place"]["region"]) == (department, region)


async def test_a_local_write_with_a_retired_commune_names_its_replacement(
    client: Any, auth: dict[str, str], table_counts: Any
) -> None:
    status, problem = await _post(client, auth, {"commune": RETIRED})
    assert status == 422
    assert problem["errors"] == [
        {
            "pointer": "/place/commune",
            "detail": f"INSEE commune code {RETIRED} was retired (merged communes); it is now {REPLACEMENT}",
            "code": "retired_commune",
        }
    ]
    assert await table_counts() == (1, 1)
    profile = await (await client.get("/api/v1/node")).json()
    update = {key: profile[key] for key in ("name", "kind")} | {"commune": RETIRED}
    response = await client.put("/api/v1/node", json=update, headers=auth)
    assert response.status == 422
    assert (await response.json())["errors"][0]["pointer"] == "/commune"


async def test_a_record_written_before_the_merger_keeps_its_code_with_a_warning(
    client: Any, auth: dict[str, str], caplog: pytest.LogCaptureFixture
) -> None:
    # Stored as an earlier release (or a replica) stored it: the models accept a retired code.
    fields = activity(place={"commune": RETIRED})
    # Logged once per code and process (and validated codes are memoised): forget an earlier test's.
    insee_commune.cache_clear()
    log_retired_commune.cache_clear()
    with caplog.at_level(logging.WARNING, logger="federation.schema.identifiers"):
        stored = await client.app[appkeys.STORE].create_built(
            "activity", lambda _previous, envelope: Activity.model_validate({**fields, **envelope})
        )
    assert f"{RETIRED} was retired" in caplog.text
    record = await (await client.get(f"/api/v1/activities/{stored.id}")).json()
    assert (record["place"]["commune"], record["place"]["department"]) == (RETIRED, "01")
    kept = await client.put(
        f"/api/v1/activities/{stored.id}",
        json=activity(title="Titre corrigé", place={"commune": RETIRED}),
        headers=auth,
    )
    assert kept.status == 200, await kept.text()
    other = await client.put(
        f"/api/v1/activities/{stored.id}", json=activity(place={"commune": "02077"}), headers=auth
    )  # another retired code: a new value, so refused
    assert other.status == 422
    assert (await other.json())["errors"][0]["code"] == "retired_commune"


@pytest.mark.parametrize(
    ("place", "pointer", "detail"),
    [
        (
            {"commune": "93048", "qpv": ["QP093001", "QP075001"]},
            "/place/qpv/1",
            "QPV code QP075001 is in department 75, not in the commune's (93)",
        ),
        ({"commune": "93048", "qpv": ["QP000000"]}, "/place/qpv/0", "QPV code QP000000 names no department (000)"),
        ({"qpv": ["QP999001"]}, "/place/qpv/0", "QPV code QP999001 names no department (999)"),
        (
            {"commune": "93048", "qpv": ["QP093001", "QP093001"]},
            "/place/qpv/1",
            "QPV code QP093001: each value may appear only once",
        ),
        (
            {"commune": "2A004", "qpv": ["QN07501M"]},
            "/place/qpv/0",
            "QPV code QN07501M is in department 75, not in the commune's (2A)",
        ),
    ],
)
async def test_qpv_codes_must_exist_in_the_communes_department_once(
    client: Any, auth: dict[str, str], table_counts: Any, place: dict[str, Any], pointer: str, detail: str
) -> None:
    status, problem = await _post(client, auth, place)
    assert status == 422
    assert problem["errors"] == [{"pointer": pointer, "detail": detail, "code": "value_error"}]
    assert await table_counts() == (1, 1)


async def test_the_profile_qpv_must_be_in_its_communes_department(client: Any, auth: dict[str, str]) -> None:
    profile = await (await client.get("/api/v1/node")).json()
    update = {key: profile[key] for key in ("name", "kind")} | {"commune": "2A004", "qpv": ["QN02A01M", "QP093001"]}
    response = await client.put("/api/v1/node", json=update, headers=auth)
    assert response.status == 422
    assert [error["pointer"] for error in (await response.json())["errors"]] == ["/qpv/1"]
    update["qpv"] = ["QN02A01M"]
    assert (await client.put("/api/v1/node", json=update, headers=auth)).status == 200


@pytest.mark.parametrize(
    ("city", "arrondissements", "elsewhere"),
    [("75056", ["75111", "75120"], "93048"), ("69123", ["69381"], "69259"), ("13055", ["13201", "13216"], "13001")],
)
async def test_filtering_on_a_city_finds_its_arrondissements(
    client: Any, auth: dict[str, str], city: str, arrondissements: list[str], elsewhere: str
) -> None:
    ids = {}
    for code in [city, *arrondissements, elsewhere]:
        status, created = await _post(client, auth, {"commune": code})
        assert status == 201, created
        ids[code] = created["id"]

    async def found(query: str) -> list[str]:
        response = await client.get(f"/api/v1/activities?{query}")
        assert response.status == 200, await response.text()
        return [item["id"] for item in (await response.json())["items"]]

    assert await found(f"commune={city}") == [ids[code] for code in [city, *arrondissements]]
    assert await found(f"commune={arrondissements[0]}") == [ids[arrondissements[0]]]
    assert await found(f"commune={elsewhere}") == [ids[elsewhere]]
    assert await found(f"commune={city}&limit=1") == [ids[city]]  # paging still works on the expanded filter


async def test_filtering_on_an_unknown_commune_is_a_400_naming_the_parameter(client: Any) -> None:
    response = await client.get("/api/v1/activities?commune=93100")
    assert response.status == 400
    [error] = (await response.json())["errors"]
    assert error["pointer"] == "/commune"
    assert "postal code of Montreuil (93048)" in error["detail"]
