"""Every error is RFC 9457 problem+json, tokens guard writes, and a rejected request writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from federation.config import Settings
from federation.storage.engine import create_engine
from federation.storage.tokens import create_token, revoke_tokens
from tests.api.conftest import activity


async def _problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status == status, await response.text()
    assert response.content_type == "application/problem+json"
    problem: dict[str, Any] = await response.json()
    assert problem["status"] == status
    assert problem["title"] and problem["type"]
    return problem


async def test_missing_token_is_401(client: Any, table_counts: Any) -> None:
    before = await table_counts()
    problem = await _problem(await client.post("/api/v1/activities", json=activity()), 401)
    assert "Bearer" in problem["detail"]
    assert await table_counts() == before


async def test_wrong_token_is_401(client: Any) -> None:
    response = await client.post("/api/v1/activities", json=activity(), headers={"Authorization": "Bearer rgs_nope"})
    await _problem(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_revoked_token_stops_working(client: Any, settings: Settings) -> None:
    engine = create_engine(settings.database_url)
    try:
        token = await create_token(engine, "accueil")
        headers = {"Authorization": f"Bearer {token}"}
        assert (await client.post("/api/v1/activities", json=activity(), headers=headers)).status == 201
        assert await revoke_tokens(engine, "accueil") == 1
    finally:
        await engine.dispose()
    await _problem(await client.post("/api/v1/activities", json=activity(), headers=headers), 401)


async def test_reads_of_public_records_need_no_token(client: Any) -> None:
    assert (await client.get("/api/v1/activities")).status == 200
    assert (await client.get("/api/v1/resources")).status == 200
    assert (await client.get("/api/v1/node")).status == 200


@pytest.mark.parametrize(
    ("body", "content_type", "status"),
    [
        (b"{not json", "application/json", 400),
        (b"\xff\xfe{}", "application/json", 400),
        (b"[1, 2, 3]", "application/json", 422),
        (b'"just a string"', "application/json", 422),
        (b"title=x", "application/x-www-form-urlencoded", 415),
        (b"[" * 100_000 + b"]" * 100_000, "application/json", 400),
    ],
    ids=["malformed", "not-utf8", "array", "string", "form", "deeply-nested"],
)
async def test_bad_bodies_get_a_problem_and_write_nothing(
    client: Any, auth: dict[str, str], table_counts: Any, body: bytes, content_type: str, status: int
) -> None:
    before = await table_counts()
    response = await client.post("/api/v1/activities", data=body, headers={**auth, "Content-Type": content_type})
    await _problem(response, status)
    assert await table_counts() == before


async def test_body_over_the_limit_is_413(client: Any, auth: dict[str, str], table_counts: Any) -> None:
    before = await table_counts()
    huge = activity(description="x" * 2_000_000)
    await _problem(await client.post("/api/v1/activities", json=huge, headers=auth), 413)
    assert await table_counts() == before


async def test_validation_lists_every_field_with_a_pointer(
    client: Any, auth: dict[str, str], table_counts: Any
) -> None:
    before = await table_counts()
    body = activity(
        title="",
        status="finished",
        start_date="2025-02-01",
        place={"commune": "99999", "qpv": ["QX1"]},
        partners=[{"name": "Bailleur", "siret": "73282932000015"}],
        surprise=True,
    )
    problem = await _problem(await client.post("/api/v1/activities", json=body, headers=auth), 422)
    pointers = {error["pointer"] for error in problem["errors"]}
    assert pointers == {"/title", "/status", "/place/commune", "/place/qpv/0", "/partners/0/siret", "/surprise"}
    assert all(error["detail"] for error in problem["errors"])
    assert await table_counts() == before


async def test_dates_out_of_order_are_refused(client: Any, auth: dict[str, str]) -> None:
    body = activity(start_date="2025-06-01", end_date="2025-01-01")
    problem = await _problem(await client.post("/api/v1/activities", json=body, headers=auth), 422)
    assert "end_date" in problem["errors"][0]["detail"]


async def test_unknown_route_and_method_are_problems(client: Any) -> None:
    await _problem(await client.get("/api/v1/nothing-here"), 404)
    problem = await _problem(await client.patch("/api/v1/activities"), 405)
    assert problem["detail"]


async def test_rejected_update_changes_nothing(client: Any, auth: dict[str, str], table_counts: Any) -> None:
    created = await client.post("/api/v1/activities", json=activity(), headers=auth)
    location = created.headers["Location"]
    original = await (await client.get(location)).json()
    before = await table_counts()
    await _problem(await client.put(location, json=activity(title=""), headers=auth), 422)
    await _problem(await client.put(location, json=activity(), headers={**auth, "If-Match": '"x.1"'}), 412)
    await _problem(await client.put(location, json=activity()), 401)
    assert await table_counts() == before
    assert await (await client.get(location)).json() == original
