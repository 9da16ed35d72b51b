"""Activities through the HTTP API: create, read, replace, delete, versions and the change log."""

from __future__ import annotations

from typing import Any

from tests.api.conftest import activity


async def test_create_then_get_returns_the_stored_record(client: Any, auth: dict[str, str]) -> None:
    response = await client.post("/api/v1/activities", json=activity(), headers=auth)
    assert response.status == 201
    created = await response.json()
    assert created["origin"] == "rq-test"
    assert created["version"] == 1
    assert created["deleted"] is False
    assert created["place"]["department"] == "93"
    assert created["place"]["region"] == "11"
    assert response.headers["Location"] == f"/api/v1/activities/{created['id']}"
    assert response.headers["ETag"] == f'"{created["id"]}.1"'

    fetched = await client.get(response.headers["Location"])
    assert fetched.status == 200
    assert await fetched.json() == created


async def test_replace_bumps_version_and_keeps_id(client: Any, auth: dict[str, str], table_counts: Any) -> None:
    created = await (await client.post("/api/v1/activities", json=activity(), headers=auth)).json()
    # A client may send back what it read, envelope included: read-only fields are ignored.
    changed = {**created, "title": "Nettoyage des halls et des caves", "version": 99, "origin": "someone-else"}
    response = await client.put(f"/api/v1/activities/{created['id']}", json=changed, headers=auth)
    assert response.status == 200
    updated = await response.json()
    assert updated["id"] == created["id"]
    assert updated["version"] == 2
    assert updated["origin"] == "rq-test"
    assert updated["title"] == "Nettoyage des halls et des caves"
    assert updated["updated_at"] >= created["updated_at"]
    records, changes = await table_counts()
    assert (records, changes) == (2, 3)  # node profile + activity; profile creation + 2 activity writes


async def test_delete_leaves_a_tombstone(client: Any, auth: dict[str, str], table_counts: Any) -> None:
    created = await (await client.post("/api/v1/activities", json=activity(), headers=auth)).json()
    path = f"/api/v1/activities/{created['id']}"
    assert (await client.delete(path, headers=auth)).status == 204
    gone = await client.get(path)
    assert gone.status == 410
    assert gone.content_type == "application/problem+json"
    listing = await (await client.get("/api/v1/activities")).json()
    assert listing["items"] == []
    assert (await client.delete(path, headers=auth)).status == 410
    assert (await client.put(path, json=activity(), headers=auth)).status == 410
    assert await table_counts() == (2, 3)  # profile, activity created, activity deleted


async def test_unknown_record_is_404(client: Any, auth: dict[str, str]) -> None:
    missing = "/api/v1/activities/00000000-0000-4000-8000-000000000000"
    assert (await client.get(missing)).status == 404
    assert (await client.put(missing, json=activity(), headers=auth)).status == 404
    assert (await client.get("/api/v1/activities/not-a-uuid")).status == 404


async def test_etag_and_if_none_match(client: Any, auth: dict[str, str]) -> None:
    created = await client.post("/api/v1/activities", json=activity(), headers=auth)
    location, etag = created.headers["Location"], created.headers["ETag"]
    cached = await client.get(location, headers={"If-None-Match": etag})
    assert cached.status == 304
    listing = await client.get("/api/v1/activities")
    list_etag = listing.headers["ETag"]
    assert (await client.get("/api/v1/activities", headers={"If-None-Match": list_etag})).status == 304
    await client.put(location, json=activity(title="Autre titre"), headers=auth)
    assert (await client.get(location, headers={"If-None-Match": etag})).status == 200
    assert (await client.get("/api/v1/activities", headers={"If-None-Match": list_etag})).status == 200


async def test_if_match_protects_against_lost_updates(client: Any, auth: dict[str, str]) -> None:
    created = await client.post("/api/v1/activities", json=activity(), headers=auth)
    location, etag = created.headers["Location"], created.headers["ETag"]
    first = await client.put(location, json=activity(title="Un"), headers={**auth, "If-Match": etag})
    assert first.status == 200
    second = await client.put(location, json=activity(title="Deux"), headers={**auth, "If-Match": etag})
    assert second.status == 412
    assert (await (await client.get(location)).json())["title"] == "Un"


async def test_details_follow_the_service_type_model(client: Any, auth: dict[str, str]) -> None:
    response = await client.post(
        "/api/v1/activities", json=activity(details={"surface_m2": -5, "colour": "red"}), headers=auth
    )
    assert response.status == 422
    pointers = {error["pointer"] for error in (await response.json())["errors"]}
    assert pointers == {"/details/surface_m2", "/details/colour"}


async def test_unknown_service_type_is_422(client: Any, auth: dict[str, str], table_counts: Any) -> None:
    before = await table_counts()
    response = await client.post("/api/v1/activities", json=activity(service_type="teleportation"), headers=auth)
    assert response.status == 422
    problem = await response.json()
    assert problem["errors"][0]["pointer"] == "/service_type"
    assert "teleportation" in problem["errors"][0]["detail"]
    assert await table_counts() == before


async def test_category_must_match_the_service_type(client: Any, auth: dict[str, str]) -> None:
    response = await client.post("/api/v1/activities", json=activity(category="training"), headers=auth)
    assert response.status == 422
    assert (await response.json())["errors"][0]["pointer"] == "/category"


async def test_department_contradicting_commune_is_refused(client: Any, auth: dict[str, str]) -> None:
    body = activity(place={"commune": "2A004", "department": "75"})
    response = await client.post("/api/v1/activities", json=body, headers=auth)
    assert response.status == 422
    assert (await response.json())["errors"][0]["pointer"] == "/place"
    corsica = await client.post("/api/v1/activities", json=activity(place={"commune": "2a004"}), headers=auth)
    place = (await corsica.json())["place"]
    assert (place["commune"], place["department"], place["region"]) == ("2A004", "2A", "94")
