"""What a client sees when its request is refused: every error at once, with pointers, in its language, in a
bounded answer; bodies that are not whole JSON documents in UTF-8; tokens of the wrong role; inverted periods."""

from __future__ import annotations

import json
from typing import Any

import pytest

from federation.config import Settings
from federation.openapi import _write_errors
from federation.problems import MAX_LISTED_ERRORS
from federation.storage.engine import create_engine
from federation.storage.tokens import create_token
from tests.api.conftest import activity


async def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    problem: dict[str, Any] = await response.json(content_type=None)
    return problem


def _pointers(problem: dict[str, Any]) -> set[str]:
    return {error["pointer"] for error in problem["errors"]}


async def test_details_errors_come_with_the_other_errors(client: Any, auth: dict[str, str]) -> None:
    body = activity(title="", place={"commune": "99999"}, details={"surface_m2": -5, "unknown": 1})
    problem = await _problem(await client.post("/api/v1/activities", json=body, headers=auth), 422)
    assert _pointers(problem) == {"/title", "/place/commune", "/details/surface_m2", "/details/unknown"}


async def test_a_wrong_category_is_reported_with_the_other_errors(client: Any, auth: dict[str, str]) -> None:
    body = activity(category="training", title="", details={"surface_m2": "grand"})
    problem = await _problem(await client.post("/api/v1/activities", json=body, headers=auth), 422)
    assert _pointers(problem) == {"/title", "/category", "/details/surface_m2"}


async def test_unknown_indicators_come_with_the_other_errors(client: Any, auth: dict[str, str]) -> None:
    body = {"period": {"type": "survey", "year": 2025}, "indicators": {"made_up": 3, "other": -1}}
    problem = await _problem(await client.post("/api/v1/reports", json=body, headers=auth), 422)
    assert _pointers(problem) == {"/period", "/indicators/made_up", "/indicators/other"}


async def test_an_end_before_the_start_points_at_the_end(client: Any, auth: dict[str, str]) -> None:
    body = activity(start_date="2025-06-01", end_date="2025-01-01")
    problem = await _problem(await client.post("/api/v1/activities", json=body, headers=auth), 422)
    assert _pointers(problem) == {"/end_date"}
    slot = {"weekday": 1, "start": "18:00", "end": "08:00"}
    resource = {"kind": "room", "name": "Salle", "availability": {"slots": [slot]}}
    problem = await _problem(await client.post("/api/v1/resources", json=resource, headers=auth), 422)
    assert _pointers(problem) == {"/availability/slots/0/end"}


async def test_errors_are_in_french_when_the_client_prefers_french(client: Any, auth: dict[str, str]) -> None:
    body = activity(title="", start_date="2025-06-01", end_date="2025-01-01", details={"surface_m2": -5})
    french = {**auth, "Accept-Language": "fr-FR,fr;q=0.9,en;q=0.5"}
    problem = await _problem(await client.post("/api/v1/activities", json=body, headers=french), 422)
    details = {error["pointer"]: error["detail"] for error in problem["errors"]}
    assert problem["title"] == "Données invalides"
    assert problem["detail"] == "la requête comporte 3 champs invalides"
    assert details == {
        "/title": "Ce champ est obligatoire.",
        "/end_date": "La date de fin ne peut pas précéder la date de début.",
        "/details/surface_m2": "Saisissez un nombre supérieur ou égal à 0.",
    }
    assert {error["code"] for error in problem["errors"]} == {"string_too_short", "value_error", "greater_than_equal"}
    english = await _problem(await client.post("/api/v1/activities", json=body, headers=auth), 422)
    assert english["title"] == "Invalid data" and "end_date must not be before start_date" in json.dumps(english)


async def test_many_errors_are_capped(client: Any, auth: dict[str, str]) -> None:
    """A body of thousands of invalid items once got an answer ten times its size."""
    body = {"period": {"type": "year", "year": 2025}, "indicators": {f"k{n}": -1 for n in range(500)}}
    raw = json.dumps(body).encode()
    response = await client.post("/api/v1/reports", data=raw, headers={**auth, "Content-Type": "application/json"})
    problem = await _problem(response, 422)
    assert len(problem["errors"]) == MAX_LISTED_ERRORS
    assert problem["errors_not_listed"] == 400
    assert problem["detail"] == "the request body has 500 invalid fields"
    assert len(await response.read()) < 3 * len(raw)


@pytest.mark.parametrize(
    "content_type",
    ["application/merge-patch+json", "application/json-patch+json", "application/vnd.regies+json", "text/plain"],
)
async def test_bodies_that_are_not_plain_json_are_415(
    client: Any, auth: dict[str, str], table_counts: Any, content_type: str
) -> None:
    created = await (await client.post("/api/v1/activities", json=activity(), headers=auth)).json()
    before = await table_counts()
    response = await client.put(
        f"/api/v1/activities/{created['id']}",
        data=json.dumps({"title": "Seulement le titre"}),
        headers={**auth, "Content-Type": content_type},
    )
    problem = await _problem(response, 415)
    assert problem["accepted"] == ["application/json"]
    assert await table_counts() == before
    kept = await (await client.get(f"/api/v1/activities/{created['id']}")).json()
    assert (kept["title"], kept["details"], kept["version"]) == (created["title"], {"surface_m2": 1200}, 1)


@pytest.mark.parametrize(
    ("raw", "content_type", "status"),
    [
        (json.dumps(activity()).encode("utf-16"), "application/json", 400),  # with a byte order mark
        (json.dumps(activity()).encode("utf-16-le"), "application/json", 400),
        (json.dumps(activity()).encode("utf-32"), "application/json", 400),
        (json.dumps(activity(title="Élagage")).encode("latin-1"), "application/json; charset=latin-1", 415),
        (json.dumps(activity()).encode("utf-16-le"), "application/json; charset=utf-16", 415),
        (json.dumps(activity(title="Élagage"), ensure_ascii=False).encode(), "application/json; charset=UTF-8", 201),
        (json.dumps(activity(title="Élagage"), ensure_ascii=False).encode(), "application/json; charset=utf8", 201),
    ],
    ids=["utf16-bom", "utf16", "utf32", "latin1-declared", "utf16-declared", "utf8-declared", "utf8-alias"],
)
async def test_bodies_are_utf8_only(
    client: Any, auth: dict[str, str], table_counts: Any, raw: bytes, content_type: str, status: int
) -> None:
    before = await table_counts()
    response = await client.post("/api/v1/activities", data=raw, headers={**auth, "Content-Type": content_type})
    if status == 201:
        assert response.status == 201 and (await response.json())["title"] == "Élagage"
        return
    problem = await _problem(response, status)
    assert "UTF-8" in problem["detail"]
    assert await table_counts() == before


async def test_an_inverted_period_is_400_on_the_node(client: Any, auth: dict[str, str]) -> None:
    problem = await _problem(await client.get("/api/v1/reports?period=2025-2023", headers=auth), 400)
    assert _pointers(problem) == {"/period"}
    assert "end_year" in problem["detail"] and "validation error" not in problem["detail"]
    assert (await client.get("/api/v1/reports?period=2023-2025", headers=auth)).status == 200


async def test_a_coordinators_token_is_403_on_a_node_and_the_contract_says_so(
    client: Any, settings: Settings, table_counts: Any
) -> None:
    engine = create_engine(settings.database_url)
    try:
        token = await create_token(engine, "coordination", "national")
    finally:
        await engine.dispose()
    headers = {"Authorization": f"Bearer {token}"}
    before = await table_counts()
    problem = await _problem(await client.post("/api/v1/activities", json=activity(), headers=headers), 403)
    assert problem["type"] == "urn:regies:problem:forbidden"
    await _problem(await client.get("/api/v1/reports", headers=headers), 403)
    assert await table_counts() == before
    document = await (await client.get("/openapi.json")).json()
    secured = [
        (path, method)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict) and {"bearerAuth": []} in operation.get("security", [])
    ]
    assert len(secured) >= 10
    assert [(p, m) for p, m in secured if "403" not in document["paths"][p][m]["responses"]] == []
    assert "403" in _write_errors()


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"name": "Régie", "kind": "quartier", "siret": 73282932000074}, "/siret"),
        ({"name": "Régie", "kind": "quartier", "commune": 93066}, "/commune"),
        ({"name": "Régie" + " " * 200, "kind": "quartier"}, "/name"),
    ],
    ids=["siret-number", "commune-number", "too-long-before-stripping"],
)
async def test_the_node_holds_to_the_published_types_and_lengths(
    client: Any, auth: dict[str, str], body: dict[str, Any], pointer: str
) -> None:
    problem = await _problem(await client.put("/api/v1/node", json=body, headers=auth), 422)
    assert _pointers(problem) == {pointer}


async def test_text_is_stored_stripped(client: Any, auth: dict[str, str]) -> None:
    response = await client.post("/api/v1/activities", json=activity(title="  Élagage  "), headers=auth)
    assert (await response.json())["title"] == "Élagage"


async def test_a_header_the_server_cannot_parse_gets_a_problem_too(client: Any) -> None:
    # Refused by aiohttp's HTTP parser before any handler runs: the test client serves the app as `regies serve`
    # does, so the answer is the node's problem+json and not aiohttp's plain text.
    response = await client.get("/api/v1/activities", headers={"X-Padding": "a" * 9000})
    problem = await _problem(response, 400)
    assert problem["type"] == "urn:regies:problem:malformed-request"
    assert "aaaa" not in json.dumps(problem)
