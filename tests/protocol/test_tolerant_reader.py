"""Tolerant reader between real nodes: envelope members a later minor version adds, and tombstones' payloads, are
ignored on pull and on push (docs/protocol.md §6.1, §6.3, §14); the members this version knows stay strict."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import select, update

from federation.protocol import persistence, receiver, sender
from federation.protocol.puller import pull_peer
from federation.storage.tables import outbox_batches, records
from tests.protocol.conftest import Node, NodeFactory, activity, signed_call

# What a node of a later minor version may add to each envelope: unknown to this version, so ignored.
LATER_MEMBERS = {"priority": "high", "signatures": [{"by": "rq-hub", "value": "…"}], "schema": "1.7"}
# A tombstone's payload is ignored: even one the models would refuse (no title, another id).
TOMBSTONE_PAYLOAD = {"title": "", "id": "not-a-uuid", "colour": "green"}


def as_later_version(envelope: dict[str, Any]) -> dict[str, Any]:
    changed = {**envelope, **LATER_MEMBERS}
    if changed.get("deleted"):
        changed["payload"] = TOMBSTONE_PAYLOAD
    return changed


async def stored_bodies(node: Node, origin: str) -> dict[str, Any]:
    async with node.context.engine.connect() as connection:
        rows = await connection.execute(
            select(records.c.id, records.c.body, records.c.deleted).where(records.c.origin == origin)
        )
        return {str(row.id): (row.body, row.deleted) for row in rows}


async def changes_on_a(a: Node) -> tuple[list[dict[str, Any]], str]:
    """Three activities and a resource on `a`, one activity deleted: the live records by id, and the deleted id."""
    created = [await a.create("activities", activity(n)) for n in range(3)]
    created.append(await a.create("resources", {"kind": "vehicle", "name": "Minibus"}))
    await a.delete("activities", created[1]["id"])
    return [created[0], created[2], created[3]], created[1]["id"]


async def assert_replicated_without_the_later_members(a: Node, b: Node, live: list[dict[str, Any]], gone: str) -> None:
    assert await b.records("rq-a") == {item["id"]: item for item in live if "category" in item}
    assert await b.records("rq-a", "resource") == {item["id"]: item for item in live if "category" not in item}
    status, _ = await b.get(f"/api/v1/activities/{gone}")
    assert status == 410
    bodies = await stored_bodies(b, "rq-a")
    assert bodies[gone][1]
    assert not any(member in str(bodies) for member in ("priority", "signatures", "colour"))


async def test_a_pulled_page_with_later_envelope_members_is_applied_without_them(
    make_node: NodeFactory, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    a, b = await make_node("rq-a"), await make_node("rq-b", database_url, batch_size=2)
    await a.add_peer(b)
    await b.add_peer(a)
    live, gone = await changes_on_a(a)
    # rq-a serves its feed as a node of a later minor version would: more envelope members, a tombstone's payload.
    read_feed = persistence.read_feed

    async def later_feed(*args: Any, **kwargs: Any) -> persistence.FeedPage:
        page = await read_feed(*args, **kwargs)
        items = [json.dumps(as_later_version(json.loads(item))).encode() for item in page.items]
        return persistence.FeedPage(items, page.last_seq, page.head_seq)

    monkeypatch.setattr(receiver.persistence, "read_feed", later_feed)
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None

    progress = await pull_peer(b.context, peer)

    assert progress.received == 5  # the profile, two activities, the resource, the tombstone
    await assert_replicated_without_the_later_members(a, b, live, gone)


async def test_a_pushed_batch_with_later_envelope_members_is_applied_without_them(
    make_node: NodeFactory, database_url: str
) -> None:
    a, b = await make_node("rq-a"), await make_node("rq-b", database_url)
    await a.add_peer(b, push=True, pull=False)
    await b.add_peer(a, pull=False)
    live, gone = await changes_on_a(a)
    (destination,) = sender.destinations(a.context, await persistence.list_peers(a.context.engine))
    await sender.enqueue(a.context, destination)
    # rq-a's outbox batch, as a node of a later minor version would have written it.
    async with a.context.engine.begin() as connection:
        (batch_row,) = (await connection.execute(select(outbox_batches.c.id, outbox_batches.c.payload))).all()
        batch = json.loads(batch_row.payload)
        batch["records"] = [as_later_version(envelope) for envelope in batch["records"]]
        later = json.dumps(batch)
        await connection.execute(
            update(outbox_batches).where(outbox_batches.c.id == batch_row.id).values(payload=later)
        )
    assert "priority" in later and "colour" in later

    assert await sender.push_all(a.context) == {"peer:rq-b": 1}

    assert await sender.list_outbox(a.context) == []  # delivered, not failed
    await assert_replicated_without_the_later_members(a, b, live, gone)


async def post_signed(a: Node, b: Node, body: bytes) -> tuple[int, Any]:
    status, answer, _ = await signed_call(a, b, "POST", "/federation/v1/inbox", body)
    return status, answer


def one_activity(origin: str, **envelope_changes: Any) -> bytes:
    record_id = str(uuid.uuid4())
    payload = {**activity(1), "origin": origin, "id": record_id, "version": 1, "updated_at": "2026-01-01T00:00:00Z"}
    envelope = {key: payload[key] for key in ("origin", "id", "version", "updated_at")}
    record = {**envelope, "kind": "activity", "deleted": False, "payload": payload, **LATER_MEMBERS}
    record.update(envelope_changes)
    return json.dumps({"origin": origin, "batch_id": str(uuid.uuid4()), "records": [record]}).encode()


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"version": 0}, "version"),
        ({"updated_at": "yesterday"}, "updated_at"),
        ({"deleted": "perhaps"}, "deleted"),
        # Not a kind's name at all (a well-formed kind this node does not know is skipped: §6.4,
        # tests/plugins/test_record_kinds.py).
        ({"kind": "Gossip!"}, "kind"),
        ({"kind": 7}, "kind"),
    ],
)
async def test_known_envelope_members_stay_strict(make_node: NodeFactory, change: dict[str, Any], says: str) -> None:
    a, b = await make_node("rq-a"), await make_node("rq-b")
    await b.add_peer(a, pull=False)
    status, problem = await post_signed(a, b, one_activity("rq-a", **change))
    assert (status, problem["type"]) == (422, "urn:regies:problem:validation")
    assert says in problem["detail"]
    assert await stored_bodies(b, "rq-a") == {}


async def test_a_live_record_with_an_invalid_payload_is_still_refused(make_node: NodeFactory) -> None:
    a, b = await make_node("rq-a"), await make_node("rq-b")
    await b.add_peer(a, pull=False)
    body = json.loads(one_activity("rq-a"))
    body["records"][0]["payload"]["title"] = ""
    status, problem = await post_signed(a, b, json.dumps(body).encode())
    assert status == 422
    assert "invalid payload" in problem["detail"] and "title" in problem["detail"]
    assert await stored_bodies(b, "rq-a") == {}
