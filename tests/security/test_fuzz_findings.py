"""One direct test per class of bug the API fuzzer found (docs/security.md), so each stays fixed even if the
fuzzer's random cases move elsewhere."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from federation.protocol.transport import TransportError
from tests.protocol.conftest import Node, NodeFactory, activity

RESOURCE = {"kind": "room", "name": "Salle polyvalente"}


@pytest.fixture
async def node(make_node: NodeFactory) -> Node:
    return await make_node("rq-findings")


async def _send(node: Node, method: str, path: str, body: Any = None, **headers: str) -> tuple[int, Any]:
    async with node.session.request(
        method, f"{node.url}{path}", json=body, headers={**node.auth, **headers}
    ) as response:
        return response.status, await response.json(content_type=None)


async def test_numbers_are_not_strings_but_integral_floats_are_integers(node: Node) -> None:
    place = {"commune": "93066", "point": {"lat": 48.9, "lon": "2.35"}}
    assert (await _send(node, "POST", "/api/v1/activities", activity(1, place=place)))[0] == 422
    status, created = await _send(node, "POST", "/api/v1/activities", activity(1, inhabitants_involved=12.0))
    assert (status, created["inhabitants_involved"]) == (201, 12)


async def test_invalid_body_is_refused_before_if_match_is_checked(node: Node) -> None:
    created = await node.create("activities", activity(1))
    path = f"/api/v1/activities/{created['id']}"
    assert (await _send(node, "PUT", path, {"title": ""}, **{"If-Match": '"stale"'}))[0] == 422
    tags = f'"{created["id"]}.7", "{created["id"]}.1"'
    status, updated = await _send(node, "PUT", path, activity(2), **{"If-Match": tags})
    assert (status, updated["version"]) == (200, 2)


async def test_list_cursors_of_earlier_versions_still_work(node: Node) -> None:
    first = await node.create("activities", activity(1))
    second = await node.create("activities", activity(2))
    status, page = await _send(node, "GET", "/api/v1/activities?limit=1")
    assert page["next_cursor"].startswith("r")
    legacy = base64.urlsafe_b64encode(page["next_cursor"].replace("r", "r:", 1).encode()).decode().rstrip("=")
    status, rest = await _send(node, "GET", f"/api/v1/activities?limit=1&cursor={legacy}")
    assert status == 200 and [item["id"] for item in rest["items"]] == [second["id"]] != [first["id"]]


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({**RESOURCE, "availability": {"slots": [{"weekday": 1, "start": "09:00+02:00", "end": "18:00"}]}}, "slots"),
        ({**RESOURCE, "place": {"region": ""}}, "place"),
        ({**RESOURCE, "contact": {"email": "jérôme@example.org"}}, "email"),
        ({**RESOURCE, "name": "\x1e"}, "name"),
    ],
)
async def test_contract_edge_cases_are_422_not_500(node: Node, body: dict[str, Any], pointer: str) -> None:
    status, problem = await _send(node, "POST", "/api/v1/resources", body)
    assert status == 422 and pointer in json.dumps(problem["errors"])


async def test_email_domains_stay_in_ascii(node: Node) -> None:
    body = {**RESOURCE, "contact": {"email": "accueil@xn--rgie-bpa.example"}}
    status, created = await _send(node, "POST", "/api/v1/resources", body)
    assert (status, created["contact"]["email"]) == (201, "accueil@xn--rgie-bpa.example")


async def test_siret_whose_siren_is_invalid_is_422(node: Node) -> None:
    status, _problem = await _send(node, "PUT", "/api/v1/node", {"name": "Régie", "siret": "83929047118609"})
    assert status == 422


async def test_inbox_refuses_versions_and_batch_ids_the_database_cannot_hold(make_node: NodeFactory) -> None:
    receiver, sender = await make_node("rq-receiver"), await make_node("rq-sender")
    await receiver.add_peer(sender)
    record_id = str(uuid.uuid4())
    envelope = {
        "origin": "rq-sender",
        "id": record_id,
        "kind": "activity",
        "version": 2**31,
        "updated_at": "2026-01-01T00:00:00Z",
        "deleted": True,
    }
    for batch in (
        {"origin": "rq-sender", "batch_id": str(uuid.uuid4()), "records": [envelope]},
        {"origin": "rq-sender", "batch_id": "nul\u0000byte-id", "records": []},
    ):
        with pytest.raises(TransportError) as refused:
            await sender.context.client.request(
                "POST", f"{receiver.url}/federation/v1/inbox", json.dumps(batch).encode()
            )
        assert refused.value.status == 422


async def test_hub_refuses_what_it_used_to_ignore_or_crash_on(make_node: NodeFactory) -> None:
    hub = await make_node("hub-findings", plugin_settings={"hub": {"enabled": True}})
    member = await make_node("rq-member")
    assert (await _send(hub, "GET", "/plugins/hub/tables/activities?period=2026&region=99"))[0] == 400
    assert (await _send(hub, "POST", f"/plugins/hub/enrolments/{2**31}/approve"))[0] == 404
    _status, discovery = await member.get("/.well-known/regies-node")
    _status, profile = await member.get("/api/v1/node")
    discovery["keys"][0]["created"] = ["2026"]
    join = json.dumps({"discovery": discovery, "profile": profile}).encode()
    with pytest.raises(TransportError) as refused:
        await member.context.client.request("POST", f"{hub.url}/plugins/hub/enrolments", join)
    assert refused.value.status == 422


async def test_what_the_details_models_check_the_contract_says(node: Node) -> None:
    """Seed 4242 found duplicate `trades` refused though the document allowed them; plugins' text was stripped
    before its length and blankness were checked."""
    async with node.session.get(f"{node.url}/openapi.json") as response:
        document = await response.json()
    variants = {variant["title"]: variant for variant in document["components"]["schemas"]["ActivityData"]["oneOf"]}
    trades = variants["small_repairs"]["properties"]["details"]["properties"]["trades"]
    assert trades["uniqueItems"] is True
    body = activity(1, category="urban_management", service_type="small_repairs")
    status, problem = await _send(node, "POST", "/api/v1/activities", {**body, "details": {"trades": ["painting"] * 2}})
    assert status == 422 and problem["errors"][0]["pointer"] == "/details/trades"
    landlord = variants["caretaker_replacement"]["properties"]["details"]["properties"]["social_landlord"]
    assert "pattern" in json.dumps(landlord)
