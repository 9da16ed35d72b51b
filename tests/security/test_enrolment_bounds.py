"""The enrolment's edges against a real hub: a request one character or one request past a bound, a request asked
again, a regional coordinator's listing, what an approval through the API stores, a request under the hub's own id,
and revocations at the same moment."""

from __future__ import annotations

import asyncio
import re

from sqlalchemy import update

from federation.protocol import persistence
from federation.storage.tables import enrolments
from tests.protocol.conftest import Node, NodeFactory
from tests.security.enrolment_helpers import (
    HUB_ID,
    ForgedNode,
    coordinator,
    enrolment_rows,
    hub_call,
    make_hub,
    make_regie,
    node_fingerprints,
)


async def test_a_request_one_past_a_bound_or_not_an_object_is_refused(hub: Node) -> None:
    forged = ForgedNode("rq-edge")
    too_long = "http://127.0.0.1:9/" + "a" * (501 - len("http://127.0.0.1:9/"))
    status, _headers, problem = await ForgedNode("rq-edge", base_url=too_long).join(hub)
    assert status == 422 and problem["errors"][0]["pointer"] == "/discovery/base_url", problem
    status, _headers, problem = await forged.join(hub, b"[]")
    assert status == 422 and problem["type"].endswith("validation"), problem
    status, _headers, problem = await forged.join(hub, forged.join_body(base_url="ftp://127.0.0.1/"))
    assert status == 422 and problem["errors"][0]["pointer"] == "/discovery", problem
    two_errors = forged.join_body()
    del two_errors["profile"]["name"]
    two_errors["profile"]["kind"] = "autre"
    status, _headers, problem = await forged.join(hub, two_errors)  # the first of the profile's errors is named
    assert status == 422 and problem["errors"][0]["pointer"] == "/profile/name", problem
    assert await enrolment_rows(hub) == []


async def test_caps_of_one_let_the_first_request_in(make_node: NodeFactory) -> None:
    hub = await make_hub(make_node, enrolment_max_pending=1, enrolment_max_pending_per_source=1)
    assert (await ForgedNode("rq-first").join(hub))[0] == 202
    status, _headers, problem = await ForgedNode("rq-second").join(hub, forwarded_for="203.0.113.9")
    assert status == 429 and "awaiting a decision" in problem["detail"]
    assert [row["node_id"] for row in await enrolment_rows(hub)] == ["rq-first"]


async def test_a_request_asked_again_with_its_keys_updates_itself_only(hub: Node) -> None:
    asking = ForgedNode("rq-paris")
    assert (await asking.join(hub))[0] == 202
    assert (await ForgedNode("rq-lyon", name="Régie de Lyon").join(hub))[0] == 202
    asking.name = "Régie de Belleville-Ménilmontant"
    assert (await asking.join(hub))[0] == 202
    status, listing = await hub_call(hub, "GET", "/enrolments", await coordinator(hub))
    assert status == 200
    assert [(item["node_id"], item["name"]) for item in listing["items"]] == [
        ("rq-paris", "Régie de Belleville-Ménilmontant"),
        ("rq-lyon", "Régie de Lyon"),
    ]
    for item in listing["items"]:
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", item["requested_at"]), item


async def test_a_regional_coordinator_lists_its_regions_requests_only(hub: Node) -> None:
    assert (await ForgedNode("rq-paris").join(hub))[0] == 202
    lyon = ForgedNode("rq-lyon")
    body = lyon.join_body()
    body["profile"]["commune"] = "69123"
    assert (await lyon.join(hub, body))[0] == 202
    for region, expected in (("84", ["rq-lyon"]), ("11", ["rq-paris"])):
        status, listing = await hub_call(hub, "GET", "/enrolments", await coordinator(hub, "regional", region))
        assert status == 200 and [item["node_id"] for item in listing["items"]] == expected, region


async def test_an_approval_through_the_api_pulls_nothing(make_node: NodeFactory, hub: Node) -> None:
    regie = await make_regie(make_node, hub)
    (pending,) = await enrolment_rows(hub)
    body = {"fingerprints": node_fingerprints(regie)}
    assert (await hub_call(hub, "POST", f"/enrolments/{pending['id']}/approve", await coordinator(hub), body))[0] == 200
    member = await persistence.get_peer(hub.context.engine, "rq-paris")
    assert member is not None and (member.role, member.pull, member.push) == ("member", False, False)


async def test_a_request_under_the_hubs_own_id_can_be_rejected_not_approved(hub: Node) -> None:
    """Such a request is refused on arrival; one already stored (written here into the table) can still go."""
    forged = ForgedNode("rq-paris")
    assert (await forged.join(hub))[0] == 202
    async with hub.context.engine.begin() as connection:
        await connection.execute(update(enrolments).values(node_id=HUB_ID))
    (pending,) = await enrolment_rows(hub)
    auth = await coordinator(hub)
    path = f"/enrolments/{pending['id']}"
    status, problem = await hub_call(hub, "POST", f"{path}/approve", auth, {"fingerprints": forged.fingerprints})
    assert status == 409 and "this hub's own node id" in problem["detail"], problem
    assert await persistence.get_peer(hub.context.engine, HUB_ID) is None
    status, rejected = await hub_call(hub, "POST", f"{path}/reject", auth, {"comment": "l'identifiant du hub"})
    assert status == 200 and rejected["state"] == "rejected", rejected


async def test_revocations_at_the_same_moment_revoke_once(make_node: NodeFactory, database_url: str) -> None:
    """One revocation holds (its coordinator's reason is the one kept); the others are told the node is no longer a
    member (404), also on PostgreSQL, where they may have read the member before the first committed."""
    hub = await make_hub(make_node, database_url)
    regie = await make_regie(make_node, hub)
    (pending,) = await enrolment_rows(hub)
    auth = await coordinator(hub)
    body = {"fingerprints": node_fingerprints(regie)}
    assert (await hub_call(hub, "POST", f"/enrolments/{pending['id']}/approve", auth, body))[0] == 200
    revocations = [hub_call(hub, "POST", "/members/rq-paris/revoke", auth, {"comment": f"n{n}"}) for n in range(4)]
    answers = await asyncio.gather(*revocations)
    assert sorted(status for status, _answer in answers) == [200, 404, 404, 404], answers
    (revoked,) = await enrolment_rows(hub)
    assert revoked["state"] == "revoked"
    (kept,) = [answer for status, answer in answers if status == 200]
    assert revoked["revoke_reason"] == kept["revoke_reason"]
