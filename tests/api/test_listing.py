"""Lists: filters, cursor pagination in a stable order, and query errors."""

from __future__ import annotations

import asyncio
from typing import Any

from tests.api.conftest import activity


async def _create(client: Any, auth: dict[str, str], **fields: Any) -> dict[str, Any]:
    response = await client.post("/api/v1/activities", json=activity(**fields), headers=auth)
    assert response.status == 201, await response.text()
    created: dict[str, Any] = await response.json()
    return created


async def test_pagination_walks_every_record_once_in_creation_order(client: Any, auth: dict[str, str]) -> None:
    ids = [(await _create(client, auth, title=f"Activité {n}"))["id"] for n in range(7)]
    seen: list[str] = []
    url = "/api/v1/activities?limit=3"
    pages = 0
    while url:
        response = await client.get(url)
        page = await response.json()
        pages += 1
        seen += [item["id"] for item in page["items"]]
        if page["next_cursor"]:
            assert 'rel="next"' in response.headers["Link"]
            url = f"/api/v1/activities?limit=3&cursor={page['next_cursor']}"
        else:
            assert "Link" not in response.headers
            url = ""
    assert seen == ids
    assert pages == 3


async def test_records_created_while_paging_appear_at_the_end(client: Any, auth: dict[str, str]) -> None:
    first = [(await _create(client, auth))["id"] for _ in range(3)]
    page = await (await client.get("/api/v1/activities?limit=2")).json()
    late = (await _create(client, auth, title="Arrivée tardive"))["id"]
    rest = await (await client.get(f"/api/v1/activities?limit=10&cursor={page['next_cursor']}")).json()
    assert [item["id"] for item in page["items"] + rest["items"]] == [*first, late]


async def test_filters(client: Any, auth: dict[str, str]) -> None:
    a = await _create(client, auth, status="planned", place={"commune": "75056"})
    b = await _create(client, auth, status="active", place={"commune": "2A004"})
    await asyncio.sleep(0.01)
    c = await _create(client, auth, status="active", place={"commune": "75056"})

    async def ids(query: str) -> list[str]:
        response = await client.get(f"/api/v1/activities?{query}")
        assert response.status == 200, await response.text()
        return [item["id"] for item in (await response.json())["items"]]

    assert await ids("status=active") == [b["id"], c["id"]]
    assert await ids("commune=75056") == [a["id"], c["id"]]
    assert await ids("commune=2a004&status=active") == [b["id"]]
    assert await ids("category=urban_management&service_type=test_cleaning") == [a["id"], b["id"], c["id"]]
    assert await ids("category=training") == []
    assert await ids("origin=rq-test") == [a["id"], b["id"], c["id"]]
    assert await ids("origin=someone-else") == []
    since = c["updated_at"]
    assert await ids(f"updated_since={since}") == [c["id"]]
    assert await ids("updated_since=2000-01-01T00:00:00%2B01:00") == [a["id"], b["id"], c["id"]]


async def test_bad_queries_are_400_problems(client: Any) -> None:
    for query, parameter in [
        ("limit=0", "limit"),
        ("limit=100000", "limit"),
        ("limit=abc", "limit"),
        ("cursor=%%%", "cursor"),
        ("cursor=bm9wZQ", "cursor"),
        ("category=space", "category"),
        ("status=gone", "status"),
        ("commune=123", "commune"),
        ("updated_since=yesterday", "updated_since"),
        ("updated_since=2025-01-01T00:00:00", "updated_since"),
        ("categroy=training", "categroy"),
        ("service_type=' OR 1=1 --", "service_type"),
    ]:
        response = await client.get(f"/api/v1/activities?{query}")
        assert response.status == 400, query
        assert response.content_type == "application/problem+json"
        problem = await response.json()
        assert problem["errors"][0]["pointer"] == f"/{parameter}", query


async def test_resources_and_their_filters(client: Any, auth: dict[str, str]) -> None:
    minibus = {"kind": "vehicle", "name": "Minibus", "capacity": 9, "place": {"commune": "93066"}}
    salle = {"kind": "room", "name": "Salle polyvalente", "status": "unavailable", "borrowers": ["inhabitants"]}
    for body in (minibus, salle):
        assert (await client.post("/api/v1/resources", json=body, headers=auth)).status == 201
    vehicles = await (await client.get("/api/v1/resources?kind=vehicle")).json()
    assert [item["name"] for item in vehicles["items"]] == ["Minibus"]
    assert vehicles["items"][0]["borrowers"] == ["regies"]
    unavailable = await (await client.get("/api/v1/resources?status=unavailable")).json()
    assert [item["name"] for item in unavailable["items"]] == ["Salle polyvalente"]
    bad = await client.post("/api/v1/resources", json={**minibus, "borrowers": []}, headers=auth)
    assert bad.status == 422
