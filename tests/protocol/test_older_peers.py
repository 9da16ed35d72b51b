"""What a peer of an older minor version is served and pushed: only the record kinds its discovery document lists
(or those of protocol 1.0), and payloads without the members its schema version does not know."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from sqlalchemy import select, update

from federation import appkeys
from federation.protocol import persistence, sender
from federation.protocol.older_peers import PROTOCOL_1_0_KINDS, reading_of
from federation.protocol.worker import running_worker
from federation.schema.records import RECORD_KINDS, ReportReview
from federation.storage import tables
from federation.storage.tables import outbox_batches
from federation.versions import SCHEMA_VERSION
from tests.protocol.conftest import Node, NodeFactory, activity, signed_call

# What a 0.1.0 node's discovery document says, as the peer's row stores it (federation.versions.spoken).
SPEAKS_1_0 = {"protocol_version": "1.0", "schema_versions": ["1.0"], "record_kinds": [], "service_types": []}


async def feed_of(reader: Node, server: Node) -> dict[str, Any]:
    status, page, _ = await signed_call(reader, server, "GET", "/federation/v1/changes?limit=100")
    assert status == 200, page
    return dict(page)


async def write_review(node: Node, member: str, **fields: Any) -> None:
    review = {
        "report_origin": member,
        "report_id": str(uuid.uuid4()),
        "report_version": 2,
        "decision": "validated",
        "reviewer": "Coordination régionale",
        **fields,
    }
    await node.context.store.create_built(
        "review", lambda _previous, envelope: ReportReview.model_validate(review | envelope)
    )


async def pushed_records(node: Node, destination_id: str) -> list[dict[str, Any]]:
    """The records of the batch `node` freezes for its peer `destination_id` (not sent)."""
    peer = await persistence.get_peer(node.context.engine, destination_id)
    assert peer is not None
    (destination,) = sender.destinations(node.context, [peer])
    assert await sender.enqueue(node.context, destination) > 0
    (entry,) = await sender.list_outbox(node.context)
    async with node.context.engine.connect() as connection:
        payload = await connection.scalar(
            select(outbox_batches.c.payload).where(outbox_batches.c.batch_id == entry.batch_id)
        )
    return list(json.loads(payload)["records"])


async def test_kinds_a_peer_does_not_list_are_neither_served_nor_pushed(make_node: NodeFactory) -> None:
    a, b = await make_node("rq-a"), await make_node("rq-b")
    await a.add_peer(b)
    await b.add_peer(a, push=True)
    await b.create("activities", activity(1))
    await b.create("resources", {"kind": "vehicle", "name": "Camionnette"})
    # rq-a's discovery document lists the kinds it reads: not `resource` (it predates them, say).
    await persistence.update_peer_speaks(
        b.context.engine,
        "rq-a",
        {"protocol_version": "1.1", "schema_versions": ["1.1"], "record_kinds": ["node", "activity"]},
    )

    page = await feed_of(a, b)
    assert sorted(record["kind"] for record in page["records"]) == ["activity", "node"]
    assert (page["more"], page["remaining"]) == (False, 0)  # nothing hidden is announced as still to come
    assert sorted(record["kind"] for record in await pushed_records(b, "rq-a")) == ["activity", "node"]

    # Once its document lists `resource` (it upgraded), the resource is served from the start of the feed.
    await persistence.update_peer_speaks(
        b.context.engine,
        "rq-a",
        {"protocol_version": "1.1", "schema_versions": ["1.1"], "record_kinds": sorted(RECORD_KINDS)},
    )
    assert sorted(record["kind"] for record in (await feed_of(a, b))["records"]) == ["activity", "node", "resource"]


async def test_a_1_0_peer_gets_reviews_without_the_members_of_schema_1_1(make_node: NodeFactory) -> None:
    member, hub = await make_node("rq-member"), await make_node("rq-hub")
    await hub.add_peer(member, push=True)
    await member.add_peer(hub, role="hub")
    await write_review(hub, "rq-member", level="regional", reviewer_role="regional")

    # As a peer of this version, the member gets the review whole.
    (review,) = [record for record in (await feed_of(member, hub))["records"] if record["kind"] == "review"]
    assert (review["payload"]["level"], review["payload"]["reviewer_role"]) == ("regional", "regional")

    # As a 0.1.0 node (schema 1.0, strict payloads), it gets the review without `level` and `reviewer_role`.
    await persistence.update_peer_speaks(hub.context.engine, "rq-member", SPEAKS_1_0)
    for records in ((await feed_of(member, hub))["records"], await pushed_records(hub, "rq-member")):
        (review,) = [record for record in records if record["kind"] == "review"]
        assert "level" not in review["payload"] and "reviewer_role" not in review["payload"]
        assert review["payload"]["decision"] == "validated"
    # The hub keeps its own record whole.
    async with hub.context.engine.connect() as connection:
        body = await connection.scalar(select(tables.records.c.body).where(tables.records.c.kind == "review"))
    assert json.loads(body)["level"] == "regional"


def test_what_a_peer_reads_follows_its_discovery_document() -> None:
    current = reading_of({"protocol_version": "1.1", "schema_versions": ["1.1"], "record_kinds": ["node"]}, "1.1")
    assert current.hidden_kinds(RECORD_KINDS) == tuple(sorted(set(RECORD_KINDS) - {"node"}))
    assert not current.adapts_payloads
    old = reading_of(SPEAKS_1_0, "1.1")
    assert old.kinds == PROTOCOL_1_0_KINDS and old.hidden_kinds([*RECORD_KINDS, "loan"]) == ("loan",)
    assert dict(old.unknown_members)["review"] == (("level",), ("reviewer_role",))
    # Unknown versions (a peer pinned before nodes recorded them): served as this node's own version.
    assert reading_of(None, SCHEMA_VERSION).hidden_kinds(["anything"]) == ()
    # Another major version is refused anyway; nothing is adapted for it.
    assert not reading_of({"protocol_version": "2.0", "schema_versions": ["2.0"]}, "1.1").adapts_payloads
    envelope = b'{"origin":"rq-a","id":"5c01c6e2-081f-4145-a85a-96d67c8c2f43","kind":"report","version":1,'
    envelope += b'"payload":{"audit":[{"action":"validated","level":"national"},{"action":"created"}],"level":1}}'
    adapted = json.loads(old.adapt(envelope))
    assert adapted["payload"] == {"audit": [{"action": "validated"}, {"action": "created"}], "level": 1}


async def test_the_worker_reads_at_start_the_versions_of_a_peer_pinned_before_nodes_recorded_them(
    make_node: NodeFactory,
) -> None:
    a, b = await make_node("rq-a"), await make_node("rq-b")
    await b.add_peer(a)
    async with b.context.engine.begin() as connection:  # as the migration to 0.2.0 leaves a peer of 0.1.0
        await connection.execute(update(tables.peers).where(tables.peers.c.node_id == "rq-a").values(speaks=None))
    async with running_worker(b.context):
        for _ in range(200):
            peer = await persistence.get_peer(b.context.engine, "rq-a")
            if peer is not None and peer.speaks is not None:
                break
            await asyncio.sleep(0.05)
    assert (
        peer is not None
        and peer.speaks is not None
        and peer.speaks["record_kinds"] == sorted(a.server.app[appkeys.PLUGINS].registry.kinds)
    )
