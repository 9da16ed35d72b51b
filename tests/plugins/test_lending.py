"""Lending between régies in one process: a request checked by the lender's node, decided, picked up and returned,
identical on both nodes and invisible to a third; the lender's rules; convergence of duplicates, reordering and a
cancellation crossing a decision."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import icalendar
import pytest
from sqlalchemy import select, update

from federation.storage.tables import peers, records
from tests.plugins.lending_helpers import call, loan_body, next_weekday, pull, van
from tests.protocol.conftest import Node, NodeFactory, make_node, signed_call

__all__ = ["make_node"]


@pytest.fixture
async def trio(make_node: NodeFactory) -> tuple[Node, Node, Node, dict[str, Any]]:
    """Lender rq-lilas with a van, borrower rq-voisine holding its replica, and rq-tierce, a peer of both."""
    lender, borrower, third = await make_node("rq-lilas"), await make_node("rq-voisine"), await make_node("rq-tierce")
    for a, b in ((lender, borrower), (lender, third), (borrower, third)):
        await a.add_peer(b)
        await b.add_peer(a)
    resource = await lender.create("resources", van())
    await pull(borrower, "rq-lilas")
    return lender, borrower, third, resource


async def loan_records(node: Node) -> list[dict[str, Any]]:
    async with node.context.engine.connect() as connection:
        rows = await connection.execute(select(records.c.body).where(records.c.kind.like("loan_%")))
        return [json.loads(row.body) for row in rows]


async def test_request_accept_pick_up_return_same_on_both_nodes_and_hidden_from_a_third(
    trio: tuple[Node, Node, Node, dict[str, Any]],
) -> None:
    lender, borrower, third, resource = trio
    monday = next_weekday(1)
    status, loan = await call(borrower, "POST", "/requests", loan_body(resource, monday))
    assert status == 201, loan
    assert loan["state"] == "requested" and loan["role"] == "borrower"
    request = loan["request"]
    assert request["lender"] == "rq-lilas" and request["start"].endswith(("+02:00", "+01:00"))
    assert request["history"][0]["state"] == "requested"
    path = f"/loans/rq-voisine/{request['id']}"

    await pull(lender, "rq-voisine")
    status, inbox = await call(lender, "GET", "/loans?role=lender&state=requested")
    assert status == 200 and [item["request"]["id"] for item in inbox["items"]] == [request["id"]]

    status, accepted = await call(
        lender, "POST", f"{path}/accept", {"deposit_eur": 500, "pickup_instructions": "Clés à l'accueil"}
    )
    assert status == 200 and accepted["state"] == "accepted", accepted
    again = await call(lender, "POST", f"{path}/accept", {})
    assert again[0] == 200 and again[1]["decision"] == accepted["decision"]  # idempotent: no second decision

    await pull(borrower, "rq-lilas")
    assert (await call(borrower, "GET", path))[1]["state"] == "accepted"
    assert (await call(borrower, "POST", f"{path}/picked-up"))[1]["state"] == "picked_up"
    assert (await call(borrower, "POST", f"{path}/returned"))[1]["state"] == "returned"
    await pull(lender, "rq-voisine")
    on_lender, on_borrower = (await call(lender, "GET", path))[1], (await call(borrower, "GET", path))[1]
    assert on_lender["state"] == on_borrower["state"] == "returned"
    assert on_lender["request"] == on_borrower["request"] and on_lender["decision"] == on_borrower["decision"]
    assert [step["state"] for step in on_lender["request"]["history"]] == ["requested", "picked_up", "returned"]

    # The third régie pulls both and holds no loan record; nobody lists them publicly.
    await pull(third, "rq-lilas")
    await pull(third, "rq-voisine")
    assert await loan_records(third) == []
    assert len(await third.records("rq-lilas", "resource")) == 1  # it did pull the lender's public records
    assert (await call(third, "GET", "/loans"))[1] == {"items": []}
    async with lender.session.get(f"{lender.url}/plugins/lending/loans") as anonymous:
        assert anonymous.status == 401


async def test_the_lenders_rules_name_the_field(trio: tuple[Node, Node, Node, dict[str, Any]]) -> None:
    lender, borrower, _third, resource = trio
    sunday, tuesday = next_weekday(7), next_weekday(2)

    status, problem = await call(borrower, "POST", "/requests", loan_body(resource, sunday))
    assert status == 422 and problem["type"].endswith(":outside-availability")
    assert {error["pointer"] for error in problem["errors"]} == {"/start", "/end"}

    status, problem = await call(borrower, "POST", "/requests", loan_body(resource, tuesday, quantity=2))
    assert status == 422 and problem["errors"][0]["pointer"] == "/quantity"

    # Two requests for the same day: the first accepted, the second conflicts (capacity 1).
    first = (await call(borrower, "POST", "/requests", loan_body(resource, tuesday)))[1]["request"]
    second = (await call(borrower, "POST", "/requests", loan_body(resource, tuesday, "13:00", "15:00")))[1]["request"]
    await pull(lender, "rq-voisine")
    assert (await call(lender, "POST", f"/loans/rq-voisine/{first['id']}/accept", {}))[0] == 200
    [pending] = (await call(lender, "GET", "/loans?state=requested"))[1]["items"]
    assert pending["request"]["id"] == second["id"] and pending["conflicts"][0]["id"] == first["id"]
    status, problem = await call(lender, "POST", f"/loans/rq-voisine/{second['id']}/accept", {})
    assert status == 409 and problem["type"].endswith(":loan-conflict") and problem["errors"][0]["pointer"] == "/start"
    # The owner decides: accepted explicitly, with a warning.
    status, loan = await call(lender, "POST", f"/loans/rq-voisine/{second['id']}/accept", {"allow_overlap": True})
    assert status == 200 and loan["decision"]["overlap_accepted"] is True and loan["warnings"]

    # A new request over the two accepted loans is refused by the lender's node before it is made.
    status, problem = await call(borrower, "POST", "/requests", loan_body(resource, tuesday, "10:00", "11:00"))
    assert status == 409 and problem["type"].endswith(":loan-conflict") and problem["errors"][0]["pointer"] == "/start"

    # Not lendable to régies any more.
    await lender.put("resources", resource["id"], van(borrowers=["associations"]))
    await pull(borrower, "rq-lilas")
    replica = (await borrower.records("rq-lilas", "resource"))[resource["id"]]
    status, problem = await call(borrower, "POST", "/requests", loan_body(replica, next_weekday(3)))
    assert (
        status == 422 and problem["type"].endswith(":not-lendable") and problem["errors"][0]["pointer"] == "/resource"
    )
    # A request naming the version read before the change must read the conditions again.
    status, problem = await call(borrower, "POST", "/requests", loan_body(resource, next_weekday(3)))
    assert status == 409 and problem["errors"][0]["pointer"] == "/resource/version"

    # The lender no longer trusts the borrower: its node refuses the check.
    async with lender.context.engine.begin() as connection:
        await connection.execute(update(peers).where(peers.c.node_id == "rq-voisine").values(status="revoked"))
    status, problem = await call(borrower, "POST", "/requests", loan_body(replica, next_weekday(3)))
    assert status == 403 and problem["type"].endswith(":not-a-peer")
    assert problem["errors"][0]["pointer"] == "/resource/origin"


async def test_duplicates_and_reordered_deliveries_converge(trio: tuple[Node, Node, Node, dict[str, Any]]) -> None:
    lender, borrower, _third, resource = trio
    loan = (await call(borrower, "POST", "/requests", loan_body(resource, next_weekday(4))))[1]
    request_id = loan["request"]["id"]
    versions = [loan["request"]]
    await pull(lender, "rq-voisine")
    await call(lender, "POST", f"/loans/rq-voisine/{request_id}/accept", {})
    await pull(borrower, "rq-lilas")
    versions.append((await call(borrower, "POST", f"/loans/rq-voisine/{request_id}/picked-up"))[1]["request"])
    versions.append((await call(borrower, "POST", f"/loans/rq-voisine/{request_id}/returned"))[1]["request"])

    def batch(n: int, document: dict[str, Any]) -> bytes:
        envelope = {key: document[key] for key in ("origin", "id", "version", "updated_at")}
        record = {**envelope, "kind": "loan_request", "deleted": False, "payload": document}
        return json.dumps({"origin": "rq-voisine", "batch_id": f"batch-{n:04d}", "records": [record]}).encode()

    # Newest first, then the older ones, then the newest again under the same batch id and under a new one.
    for n, document in ((1, versions[2]), (2, versions[0]), (3, versions[1]), (1, versions[2]), (4, versions[2])):
        status, answer, _ = await signed_call(borrower, lender, "POST", "/federation/v1/inbox", batch(n, document))
        assert status == 202, answer
    on_lender = (await call(lender, "GET", f"/loans/rq-voisine/{request_id}"))[1]
    assert on_lender["request"]["version"] == 3 and on_lender["state"] == "returned"
    assert on_lender == (await call(borrower, "GET", f"/loans/rq-voisine/{request_id}"))[1] | {"role": "lender"}


async def test_a_request_cancelled_while_the_decision_is_on_its_way_ends_cancelled_on_both(
    trio: tuple[Node, Node, Node, dict[str, Any]],
) -> None:
    lender, borrower, _third, resource = trio
    loan = (await call(borrower, "POST", "/requests", loan_body(resource, next_weekday(5))))[1]
    path = f"/loans/rq-voisine/{loan['request']['id']}"
    await pull(lender, "rq-voisine")
    # Both act before hearing from the other.
    assert (await call(lender, "POST", f"{path}/accept", {}))[1]["state"] == "accepted"
    assert (await call(borrower, "POST", f"{path}/cancel"))[1]["state"] == "cancelled"
    await pull(lender, "rq-voisine")
    await pull(borrower, "rq-lilas")
    on_lender, on_borrower = (await call(lender, "GET", path))[1], (await call(borrower, "GET", path))[1]
    assert on_lender["state"] == on_borrower["state"] == "cancelled"
    assert on_lender["decision"]["decision"] == on_borrower["decision"]["decision"] == "accepted"
    # Cancelled is final: nothing picks it up, and the lender's resource is free again.
    status, problem = await call(borrower, "POST", f"{path}/picked-up")
    assert status == 409 and problem["type"].endswith(":loan-state")
    status, _ = await call(borrower, "POST", "/requests", loan_body(resource, next_weekday(5)))
    assert status == 201


async def test_calendars_of_a_resource(trio: tuple[Node, Node, Node, dict[str, Any]]) -> None:
    lender, borrower, _third, resource = trio
    monday = next_weekday(1)
    loan = (await call(borrower, "POST", "/requests", loan_body(resource, monday)))[1]
    await pull(lender, "rq-voisine")
    await call(lender, "POST", f"/loans/rq-voisine/{loan['request']['id']}/accept", {})
    status, made = await call(lender, "POST", "/calendar-token")
    assert status == 201
    url = f"{lender.url}/plugins/lending/calendar/{resource['id']}/loans.ics"
    async with lender.session.get(url, params={"token": made["token"]}) as answer:
        assert answer.status == 200 and answer.content_type == "text/calendar"
        calendar = icalendar.Calendar.from_ical(await answer.read())
    [event] = calendar.walk("VEVENT")
    assert event["summary"] == "Prêt à rq-voisine : Camion benne 3,5 t"
    assert event.decoded("dtstart") == dt.datetime.fromisoformat(loan["request"]["start"])
    # A new token revokes the previous one.
    await call(lender, "POST", "/calendar-token")
    async with lender.session.get(url, params={"token": made["token"]}) as answer:
        assert answer.status == 404
    async with lender.session.get(f"{lender.url}/plugins/lending/calendar/{resource['id']}/availability.ics") as answer:
        slots = icalendar.Calendar.from_ical(await answer.read()).walk("VEVENT")
    assert len(slots) == 5 and all(slot["rrule"]["FREQ"] == ["WEEKLY"] for slot in slots)
