"""The HSDS 3.0 read API: every answer conforms to Open Referral's official schemas (HSDA's OpenAPI document and
the compiled HSDS schemas), and carries what the régie published — and nothing it did not."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import insert

from federation import appkeys
from federation.schema.records import RECORD_KINDS
from federation.storage.mapping import record_row
from federation.storage.tables import records
from tests.plugins.hsds import official
from tests.plugins.hsds.conftest import MEDIATION, MEMBERS, MINIBUS, model


async def answer(client: TestClient[Any, Any], path: str, official_path: str, status: int = 200) -> Any:
    """The JSON answer of `path`, checked against the official schema of HSDA path `official_path`."""
    response = await client.get(path)
    assert response.status == status, await response.text()
    document = await response.json()
    if status == 200:
        assert official.errors(official_path, document) == []
    return document


async def test_meta_says_version_profile_openapi_and_publisher(regie: dict[str, Any]) -> None:
    client = regie["client"]
    meta = await answer(client, "/hsds/", "/")
    base = str(client.make_url("")).rstrip("/")
    assert meta["version"] == "3.0"
    assert meta["openapi_url"].endswith("/openapi.json")
    assert meta["profile"].endswith("/hsds/profile")
    assert meta["publisher"]["name"] == "Régie de quartier de Saint-Denis"
    assert meta["publisher"]["email"] == "accueil@regie.example"
    assert base.split(":")[0] == "http"
    profile = await (await client.get("/hsds/profile")).json()
    assert profile["hsds_version"] == "3.0"
    assert len(profile["taxonomies"]) == 3


async def test_services_list_the_regies_activities_and_resources(regie: dict[str, Any]) -> None:
    listing = await answer(regie["client"], "/hsds/services", "/services")
    names = {service["name"] for service in listing["contents"]}
    assert names == {"Médiation dans les halls", "Minibus 9 places", "Réunion d'habitants de printemps"}
    assert "Réunion annulée" not in names  # deleted at its origin
    assert listing["total_items"] == 3 and listing["total_pages"] == 1 and listing["empty"] is False
    by_name = {service["name"]: service for service in listing["contents"]}
    assert by_name["Réunion d'habitants de printemps"]["status"] == "inactive"  # planned, not running yet
    assert by_name["Minibus 9 places"]["fees_description"] == MINIBUS["conditions"]
    assert {service["organization"]["name"] for service in listing["contents"]} == {"Régie de quartier de Saint-Denis"}


async def test_paging_and_filters(regie: dict[str, Any]) -> None:
    client = regie["client"]
    first = await answer(client, "/hsds/services?per_page=2", "/services")
    second = await answer(client, "/hsds/services?per_page=2&page=2", "/services")
    assert (first["size"], first["first_page"], first["last_page"]) == (2, True, False)
    assert (second["size"], second["last_page"], second["total_pages"]) == (1, True, 2)
    seen = {service["id"] for service in first["contents"] + second["contents"]}
    assert len(seen) == 3

    found = await answer(client, "/hsds/services?search=MINIBUS", "/services")
    assert [service["name"] for service in found["contents"]] == ["Minibus 9 places"]
    found = await answer(client, "/hsds/services?search=soir", "/services")  # in the description
    assert [service["name"] for service in found["contents"]] == ["Médiation dans les halls"]
    found = await answer(client, "/hsds/services?search=M%C3%89DIATION", "/services")  # accents, any case
    assert [service["name"] for service in found["contents"]] == ["Médiation dans les halls"]
    found = await answer(client, "/hsds/services?search=d%27habitants", "/services")
    assert [service["name"] for service in found["contents"]] == ["Réunion d'habitants de printemps"]
    assert (await answer(client, "/hsds/services?search=title", "/services"))["empty"]  # a key, not the text

    future = (dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)).isoformat()
    assert (await answer(client, f"/hsds/services?modified_after={future.replace('+', '%2B')}", "/services"))["empty"]
    assert (await answer(client, "/hsds/services?modified_after=2020-01-01", "/services"))["total_items"] == 3

    terms = (await answer(client, "/hsds/taxonomy_terms?per_page=500", "/taxonomy_terms"))["contents"]
    term = {t["code"]: t for t in terms}
    democracy = await answer(client, f"/hsds/services?taxonomy_term_id={term['local_democracy']['id']}", "/services")
    assert [service["name"] for service in democracy["contents"]] == ["Réunion d'habitants de printemps"]
    vehicles = await answer(client, f"/hsds/services?taxonomy_term_id={term['vehicle']['id']}", "/services")
    assert [service["name"] for service in vehicles["contents"]] == ["Minibus 9 places"]
    mediation = await answer(client, f"/hsds/services?taxonomy_term_id={term['social_mediation']['id']}", "/services")
    assert [service["name"] for service in mediation["contents"]] == ["Médiation dans les halls"]


@pytest.mark.parametrize(
    "query",
    ["page=0", "per_page=501", "per_page=x", "full=yes", "taxonomy_term_id=urban", "modified_after=yesterday"],
)
async def test_bad_parameters_are_named(regie: dict[str, Any], query: str) -> None:
    response = await regie["client"].get(f"/hsds/services?{query}")
    assert response.status == 400
    assert response.content_type == "application/problem+json"
    assert (await response.json())["errors"][0]["pointer"] == "/" + query.split("=")[0]


async def test_a_service_is_fully_nested(regie: dict[str, Any]) -> None:
    client = regie["client"]
    listing = (await answer(client, "/hsds/services", "/services"))["contents"]
    ids = {service["name"]: service["id"] for service in listing}

    minibus = await answer(client, f"/hsds/services/{ids['Minibus 9 places']}", "/services/{id}")
    assert [(s["byday"], s["opens_at"], s["closes_at"], s["freq"]) for s in minibus["schedules"]] == [
        ("TU", "09:00", "12:30", "WEEKLY"),
        ("SA", "14:00", "18:00", "WEEKLY"),
    ]
    assert minibus["eligibility_description"] == "Prêt ouvert aux : associations, habitants."
    assert minibus["contacts"][0]["email"] == "accueil@regie.example"  # the régie's, the resource naming none
    organization = minibus["organization"]
    assert {(i["identifier_type"], i["identifier"]) for i in organization["organization_identifiers"]} >= {
        ("SIRET", "73282932000074"),
        ("RNA", "W931234567"),
    }
    (head_office,) = organization["locations"]
    assert head_office["addresses"][0]["postal_code"] == "93200"
    assert head_office["addresses"][0]["state_province"] == "Seine-Saint-Denis"
    assert [a["taxonomy_term"]["code"] for a in minibus["attributes"]] == ["vehicle"]

    mediation = await answer(client, f"/hsds/services/{ids['Médiation dans les halls']}", "/services/{id}")
    (schedule,) = mediation["schedules"]
    assert (schedule["valid_from"], schedule["valid_to"]) == ("2025-01-06", "2025-12-19")
    assert [area["name"] for area in mediation["service_areas"]] == ["Saint-Denis (93066)", "QN09306M"]
    (at_location,) = mediation["service_at_locations"]
    assert at_location["location"]["name"] == "Cité Franc-Moisin"
    assert at_location["location"]["latitude"] == 48.93
    assert [a["taxonomy_term"]["code"] for a in mediation["attributes"]] == ["mediation", "social_mediation"]


async def test_ids_are_stable_and_unknown_ids_are_404(regie: dict[str, Any]) -> None:
    client = regie["client"]
    first = await answer(client, "/hsds/services", "/services")
    again = await answer(client, "/hsds/services", "/services")
    assert [s["id"] for s in first["contents"]] == [s["id"] for s in again["contents"]]
    record_ids = {regie[name]["id"] for name in ("mediation", "meeting", "minibus")}
    assert not record_ids & {s["id"] for s in first["contents"]}  # derived from (origin, id), not the bare id
    for path in ("/hsds/services/", "/hsds/organizations/", "/hsds/taxonomies/", "/hsds/taxonomy_terms/"):
        for wanted in ("3f7b145d-84af-42d7-8fae-eaca714b02b2", "not-a-uuid"):
            response = await client.get(path + wanted)
            assert response.status == 404
            assert response.content_type == "application/problem+json"


async def test_organizations_and_taxonomies(regie: dict[str, Any]) -> None:
    client = regie["client"]
    organizations = await answer(client, "/hsds/organizations", "/organizations")
    (organization,) = organizations["contents"]
    assert organization["name"] == "Régie de quartier de Saint-Denis"
    assert organization["website"] == "https://regie.example/"
    full = await answer(client, f"/hsds/organizations/{organization['id']}", "/organizations/{id}")
    assert full["contacts"][0]["phones"][0]["number"] == "+33148000000"

    taxonomies = await answer(client, "/hsds/taxonomies", "/taxonomies")
    assert taxonomies["total_items"] == 3
    for taxonomy in taxonomies["contents"]:
        assert (await answer(client, f"/hsds/taxonomies/{taxonomy['id']}", "/taxonomies/{id}")) == taxonomy
    fields = next(t for t in taxonomies["contents"] if t["name"] == "Champs d'action des régies")
    terms = await answer(client, f"/hsds/taxonomy_terms?taxonomy_id={fields['id']}", "/taxonomy_terms")
    assert terms["total_items"] == 8
    assert "Gestion urbaine de proximité" in {term["name"] for term in terms["contents"]}
    every = (await answer(client, "/hsds/taxonomy_terms?per_page=500", "/taxonomy_terms"))["contents"]
    meetings = next(term for term in every if term["code"] == "neighbourhood_meetings")
    democracy = next(term for term in every if term["code"] == "local_democracy")
    assert meetings["parent_id"] == democracy["id"]  # a service type sits under its field of action
    assert await answer(client, f"/hsds/taxonomy_terms/{meetings['id']}", "/taxonomy_terms/{id}") == meetings


async def test_the_hub_publishes_its_members_only(hub: TestClient[Any, Any]) -> None:
    listing = await answer(hub, "/hsds/services?full=true", "/services")
    organizations = {service["organization"]["name"] for service in listing["contents"]}
    assert organizations == {f"Régie {member}" for member in MEMBERS}  # never rq-stranger, not enrolled
    assert listing["total_items"] == 2
    for service in listing["contents"]:
        detail = await answer(hub, f"/hsds/services/{service['id']}", "/services/{id}")
        assert detail == service
        assert detail["organization"]["uri"].startswith("https://rq-") or detail["organization"]["uri"].startswith(
            "https://rt-"
        )
    members = await answer(hub, "/hsds/organizations", "/organizations")
    assert members["total_items"] == 2
    meta = await answer(hub, "/hsds/", "/")
    assert meta["publisher"]["name"] == "Mouvement des Régies"


async def test_the_routes_are_in_the_node_openapi_document(regie: dict[str, Any]) -> None:
    document = await (await regie["client"].get("/openapi.json")).json()
    for path in official.official_paths():
        assert "/hsds" + path in document["paths"], path


async def test_a_record_addressed_to_one_node_is_never_published(regie: dict[str, Any]) -> None:
    client = regie["client"]
    row = record_row(
        RECORD_KINDS["activity"], model("activity", "rq-test", {**MEDIATION, "title": "Pour rq-voisine seulement"})
    )
    async with client.app[appkeys.ENGINE].begin() as connection:
        await connection.execute(insert(records), [{**row, "audience": "rq-voisine"}])
    listing = await answer(client, "/hsds/services?search=seulement", "/services")
    assert listing["empty"] and listing["total_items"] == 0
    assert (await answer(client, "/hsds/services", "/services"))["total_items"] == 3
    calendar = await (await client.get("/feeds/activities.ics")).text()
    atom = await (await client.get("/feeds/activities.atom")).text()
    assert "rq-voisine" not in calendar + atom and "seulement" not in calendar + atom
