"""HSDA beyond services: the service_at_locations endpoints with `postcode`, and every query parameter HSDA's
openapi.json defines (`format`, `minimal`, `full_service`, `parent_id`, `top_only`), each answer checked against
the official schemas; `proximity`, which this node cannot serve faithfully, is a 400 naming it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from aiohttp.test_utils import TestClient
from regies_hsds.query import MAX_STREAMED
from regies_hsds.taxonomy import at_location_ids
from sqlalchemy import insert

from federation import appkeys
from federation.schema.records import RECORD_KINDS
from federation.storage.mapping import record_row
from federation.storage.tables import records
from tests.plugins.hsds import official
from tests.plugins.hsds.conftest import MEDIATION, MEETING, MEMBERS, create, model
from tests.plugins.hsds.test_hsds_api import answer

NAMES = {"Médiation dans les halls", "Minibus 9 places", "Réunion d'habitants de printemps"}


async def lines(client: TestClient[Any, Any], path: str, official_path: str) -> list[Any]:
    """The NDJSON answer of `path`, each line checked as one item of HSDA listing `official_path`."""
    response = await client.get(path)
    assert response.status == 200, await response.text()
    assert response.content_type == "application/x-ndjson"
    text = await response.text()
    assert text.endswith("\n")
    items = [json.loads(line) for line in text.splitlines()]
    for item in items:
        assert official.item_errors(official_path, item) == []
    return items


async def problem_pointer(client: TestClient[Any, Any], path: str) -> str:
    response = await client.get(path)
    assert response.status == 400, await response.text()
    assert response.content_type == "application/problem+json"
    pointer: str = (await response.json())["errors"][0]["pointer"]
    return pointer


async def test_each_service_at_its_location(regie: dict[str, Any]) -> None:
    client = regie["client"]
    services = {s["name"]: s for s in (await answer(client, "/hsds/services", "/services"))["contents"]}
    listing = await answer(client, "/hsds/service_at_locations", "/service_at_locations")
    assert listing["total_items"] == 3
    by_name = {item["service"]["name"]: item for item in listing["contents"]}
    assert set(by_name) == NAMES
    for name, item in by_name.items():
        assert item["service_id"] == services[name]["id"] == item["service"]["id"]
        assert item["location_id"] == item["location"]["id"]
        assert "addresses" not in item["location"] and "organization" not in item["service"]  # one-to-one only
    assert by_name["Médiation dans les halls"]["location"]["name"] == "Cité Franc-Moisin"
    assert by_name["Minibus 9 places"]["location"]["name"] == "Saint-Denis"  # its place names only the commune

    full = await answer(client, "/hsds/service_at_locations?full=true", "/service_at_locations")
    for item in full["contents"]:
        detail = await answer(client, f"/hsds/service_at_locations/{item['id']}", "/service_at_locations/{id}")
        assert detail == item
        whole = await answer(client, f"/hsds/services/{item['service_id']}", "/services/{id}")
        assert whole["service_at_locations"][0]["id"] == item["id"]  # the id the service itself gives
        assert detail["service"] == {k: v for k, v in whole.items() if k != "service_at_locations"}
    minibus = next(item for item in full["contents"] if item["service"]["name"] == "Minibus 9 places")
    assert [s["byday"] for s in minibus["service"]["schedules"]] == ["TU", "SA"]


async def test_unknown_and_foreign_service_at_location_ids_are_404(regie: dict[str, Any]) -> None:
    client = regie["client"]
    node_id = (await answer(client, "/hsds/", "/"))["publisher"]["node_id"]
    # The mediation has a place: the id it would have at the head office names nothing.
    at_place, at_head_office = at_location_ids(node_id, "activity", regie["mediation"]["id"])
    assert (await client.get(f"/hsds/service_at_locations/{at_place}")).status == 200
    for wanted in (at_head_office, "3f7b145d-84af-42d7-8fae-eaca714b02b2", "not-a-uuid"):
        response = await client.get(f"/hsds/service_at_locations/{wanted}")
        assert response.status == 404
        assert response.content_type == "application/problem+json"


async def test_service_at_locations_take_the_services_filters(regie: dict[str, Any]) -> None:
    client = regie["client"]
    terms = (await answer(client, "/hsds/taxonomy_terms?per_page=500", "/taxonomy_terms"))["contents"]
    vehicle = next(term for term in terms if term["code"] == "vehicle")
    found = await answer(
        client, f"/hsds/service_at_locations?taxonomy_term_id={vehicle['id']}", "/service_at_locations"
    )
    assert [item["service"]["name"] for item in found["contents"]] == ["Minibus 9 places"]
    found = await answer(client, "/hsds/service_at_locations?search=soir", "/service_at_locations")
    assert [item["service"]["name"] for item in found["contents"]] == ["Médiation dans les halls"]
    paged = await answer(client, "/hsds/service_at_locations?per_page=2&page=2", "/service_at_locations")
    assert (paged["size"], paged["total_items"], paged["last_page"]) == (1, 3, True)
    organization = (await answer(client, "/hsds/organizations", "/organizations"))["contents"][0]["id"]
    found = await answer(client, f"/hsds/service_at_locations?organization_id={organization}", "/service_at_locations")
    assert found["total_items"] == 3


async def test_postcode_is_matched_on_service_areas_then_addresses(regie: dict[str, Any]) -> None:
    client, auth = regie["client"], regie["auth"]
    unplaced = {key: value for key, value in MEETING.items() if key != "place"}
    # No place: given at the head office (12 rue de la République, 93200), without a service area.
    await create(client, auth, "/api/v1/activities", {**unplaced, "title": "Permanence au siège"})
    # Only a QPV: no postal code is known for it.
    await create(
        client, auth, "/api/v1/activities", {**MEETING, "title": "Dans le quartier", "place": {"qpv": ["QN09306M"]}}
    )
    every = await answer(client, "/hsds/service_at_locations", "/service_at_locations")
    assert every["total_items"] == 5

    async def named(postcode: str) -> set[str]:
        page = await answer(client, f"/hsds/service_at_locations?postcode={postcode}", "/service_at_locations")
        return {item["service"]["name"] for item in page["contents"]}

    # Saint-Denis (93066) has the postal codes 93200, 93210 and 93380: its services are in each.
    assert await named("93200") == NAMES | {"Permanence au siège"}
    assert await named("93210") == NAMES
    assert await named("75011") == set()
    for bad in ("9320", "932000", "ABCDE", "%EF%BC%99%EF%BC%93%EF%BC%92%EF%BC%90%EF%BC%90"):  # fullwidth digits
        assert await problem_pointer(client, f"/hsds/service_at_locations?postcode={bad}") == "/postcode"


@pytest.mark.parametrize("query", ["proximity=1000", "postcode=93200&proximity=1000", "proximity=48.93,2.36,500"])
async def test_proximity_is_refused_by_name(regie: dict[str, Any], query: str) -> None:
    assert await problem_pointer(regie["client"], f"/hsds/service_at_locations?{query}") == "/proximity"


async def test_ndjson_streams_every_item_without_pages(regie: dict[str, Any]) -> None:
    client = regie["client"]
    for path, official_path in (
        ("/hsds/services", "/services"),
        ("/hsds/service_at_locations", "/service_at_locations"),
        ("/hsds/organizations", "/organizations"),
        ("/hsds/taxonomies", "/taxonomies"),
        ("/hsds/taxonomy_terms", "/taxonomy_terms"),
    ):
        paged = await answer(client, f"{path}?per_page=500", official_path)
        streamed = await lines(client, f"{path}?format=ndjson", official_path)
        assert streamed == paged["contents"], path
    full = await lines(client, "/hsds/services?format=ndjson&full=true&search=minibus", "/services")
    assert [service["schedules"][0]["byday"] for service in full] == ["TU"]
    assert official.errors("/services/{id}", full[0]) == []
    explicit = await answer(client, "/hsds/services?format=json", "/services")
    assert explicit["total_items"] == 3


async def test_an_oversized_ndjson_listing_is_refused_before_anything_is_streamed(regie: dict[str, Any]) -> None:
    """Attack: an anonymous client asking for every service of a large hub at each request. ndjson streams at most
    MAX_STREAMED items; past it a 400 names `format` and says how to read the listing, which pages still serve."""
    client = regie["client"]
    node_id = (await answer(client, "/hsds/", "/"))["publisher"]["node_id"]
    published = (await answer(client, "/hsds/services", "/services"))["total_items"]
    # Core inserts, as fill_hub does: the API would take minutes for thousands of records.
    series = [
        record_row(RECORD_KINDS["activity"], model("activity", node_id, {**MEDIATION, "title": f"Séance {n}"}))
        for n in range(MAX_STREAMED - published + 1)
    ]
    async with client.app[appkeys.ENGINE].begin() as connection:
        await connection.execute(insert(records), series[:-1])
    at_the_bound = await client.get("/hsds/services?format=ndjson&minimal=true")
    assert at_the_bound.status == 200
    assert len((await at_the_bound.text()).splitlines()) == MAX_STREAMED

    async with client.app[appkeys.ENGINE].begin() as connection:
        await connection.execute(insert(records), series[-1:])
    for path in ("/hsds/services", "/hsds/services?full=true", "/hsds/service_at_locations"):
        over = await client.get(f"{path}{'&' if '?' in path else '?'}format=ndjson")
        assert over.status == 400, path
        assert over.content_type == "application/problem+json"
        problem = await over.json()
        assert problem["errors"][0]["pointer"] == "/format"
        assert f"cannot be ndjson for more than {MAX_STREAMED} items" in problem["errors"][0]["detail"]
    paged = await answer(client, "/hsds/services?per_page=500&page=11", "/services")
    assert (paged["total_items"], paged["size"], paged["last_page"]) == (MAX_STREAMED + 1, 1, True)


@pytest.mark.parametrize(
    ("query", "pointer"),
    [("format=csv", "/format"), ("format=ndjson&page=2", "/page"), ("format=ndjson&per_page=10", "/per_page")],
)
async def test_bad_formats_are_named(regie: dict[str, Any], query: str, pointer: str) -> None:
    client = regie["client"]
    for path in ("/hsds/services", "/hsds/service_at_locations", "/hsds/organizations", "/hsds/taxonomy_terms"):
        assert await problem_pointer(client, f"{path}?{query}") == pointer


async def test_minimal_lists_ids_and_changes_on_one_page(regie: dict[str, Any]) -> None:
    client = regie["client"]
    node_id = (await answer(client, "/hsds/", "/"))["publisher"]["node_id"]
    rows = [
        record_row(RECORD_KINDS["activity"], model("activity", node_id, {**MEDIATION, "title": f"Séance {n}"}))
        for n in range(60)
    ]
    async with client.app[appkeys.ENGINE].begin() as connection:
        await connection.execute(insert(records), rows)
    default = await answer(client, "/hsds/services", "/services")
    assert (default["size"], default["total_items"]) == (50, 63)
    short = await answer(client, "/hsds/services?minimal=true", "/services")
    assert (short["size"], short["total_pages"]) == (63, 1)  # HSDA: "aim to return all services within one page"
    for item in short["contents"]:
        assert set(item) == {"id", "name", "status", "last_modified"}
    assert {item["id"] for item in short["contents"]} == {
        item["id"] for item in (await answer(client, "/hsds/services?per_page=100", "/services"))["contents"]
    }
    assert await problem_pointer(client, "/hsds/services?minimal=true&full=true") == "/minimal"
    assert await problem_pointer(client, "/hsds/services?minimal=yes") == "/minimal"


async def test_an_organization_lists_its_services(regie: dict[str, Any]) -> None:
    client = regie["client"]
    (organization,) = (await answer(client, "/hsds/organizations", "/organizations"))["contents"]
    nested = await answer(client, f"/hsds/organizations/{organization['id']}", "/organizations/{id}")
    assert {service["name"] for service in nested["services"]} == NAMES
    assert all("schedules" not in service and "organization" not in service for service in nested["services"])
    fully = await answer(client, f"/hsds/organizations/{organization['id']}?full_service=true", "/organizations/{id}")
    minibus = next(service for service in fully["services"] if service["name"] == "Minibus 9 places")
    assert [s["byday"] for s in minibus["schedules"]] == ["TU", "SA"]
    listed = await answer(client, "/hsds/organizations?full_service=true", "/organizations")
    assert listed["contents"] == [fully]
    assert await problem_pointer(client, f"/hsds/organizations/{organization['id']}?full_service=1") == "/full_service"


async def test_terms_by_parent_and_top_only(regie: dict[str, Any]) -> None:
    client = regie["client"]
    every = (await answer(client, "/hsds/taxonomy_terms?per_page=500", "/taxonomy_terms"))["contents"]
    democracy = next(term for term in every if term["code"] == "local_democracy")
    children = await answer(client, f"/hsds/taxonomy_terms?parent_id={democracy['id']}", "/taxonomy_terms")
    assert children["total_items"] >= 1
    assert "neighbourhood_meetings" in {term["code"] for term in children["contents"]}
    assert {term["parent_id"] for term in children["contents"]} == {democracy["id"]}
    top = await answer(client, "/hsds/taxonomy_terms?top_only=true&per_page=500", "/taxonomy_terms")
    parents = {term.get("parent_id") for term in every}
    assert {term["id"] for term in top["contents"]} == {term["id"] for term in every if term["id"] not in parents}
    assert democracy["id"] not in {term["id"] for term in top["contents"]}
    assert "vehicle" in {term["code"] for term in top["contents"]}
    assert await problem_pointer(client, "/hsds/taxonomy_terms?parent_id=local_democracy") == "/parent_id"


async def test_every_hsda_parameter_is_in_the_node_openapi_document(regie: dict[str, Any]) -> None:
    document = await (await regie["client"].get("/openapi.json")).json()
    for path in official.official_paths():
        operation = document["paths"]["/hsds" + path]["get"]
        declared = {parameter["name"] for parameter in operation.get("parameters", []) if parameter["in"] == "query"}
        # proximity is refused (a 400 naming it), so it is not offered to clients
        assert set(official.official_parameters(path)) - {"proximity"} <= declared, path


async def test_the_hub_places_its_members_services_only(hub: TestClient[Any, Any]) -> None:
    listing = await answer(hub, "/hsds/service_at_locations?full=true", "/service_at_locations")
    assert {item["service"]["organization"]["name"] for item in listing["contents"]} == {
        f"Régie {member}" for member in MEMBERS
    }
    for item in listing["contents"]:
        assert await answer(hub, f"/hsds/service_at_locations/{item['id']}", "/service_at_locations/{id}") == item
