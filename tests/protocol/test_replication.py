"""Nodes exchanging records on 127.0.0.1: discovery, pull with checkpoints, push through the inbox, visibility."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from federation import __version__
from federation.protocol import persistence, sender
from federation.protocol.puller import pull_peer
from federation.protocol.transport import TransportError
from tests.protocol.conftest import NodeFactory, activity

REPORT = {"period": {"type": "year", "year": 2025}, "indicators": {"employees_cddi": 12, "volunteers": 4}}


async def test_discovery_documents(make_node: NodeFactory) -> None:
    a = await make_node("rq-a")
    status, document = await a.get("/.well-known/regies-node")
    assert status == 200
    assert document["node_id"] == "rq-a"
    assert document["name"] == "Régie rq-a"
    assert document["base_url"] == a.url
    assert document["endpoints"]["changes"] == f"{a.url}/federation/v1/changes"
    (key,) = document["keys"]
    assert (key["kty"], key["crv"], key["use"]) == ("OKP", "Ed25519", "sig")
    assert "green_spaces" in document["service_types"]
    # A built-in plugin's version is that of the distribution it ships in.
    assert {"name": "urban", "version": __version__} in document["plugins"]


async def test_keys_are_private_files(make_node: NodeFactory) -> None:
    a = await make_node("rq-a")
    keys_dir = a.settings.keys_dir
    (pem,) = keys_dir.glob("*.pem")
    assert oct(pem.stat().st_mode & 0o777) == "0o600"
    assert oct(keys_dir.stat().st_mode & 0o777) == "0o700"


async def test_pull_replicates_records_updates_and_deletions(make_node: NodeFactory, database_url: str) -> None:
    a, b = await make_node("rq-a"), await make_node("rq-b", database_url, batch_size=3)
    await a.add_peer(b)
    await b.add_peer(a)
    created = [await a.create("activities", activity(n)) for n in range(7)]
    resource = await a.create("resources", {"kind": "vehicle", "name": "Minibus"})
    await a.create("reports", REPORT)
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None

    progress = await pull_peer(b.context, peer)
    assert progress.received == 9  # profile, 7 activities, 1 resource; the report is for the hub only
    assert progress.pages == 3
    replicas = await b.records("rq-a")
    assert replicas == {item["id"]: item for item in created}
    assert (await b.records("rq-a", "resource")) == {resource["id"]: resource}
    assert await b.records("rq-a", "report") == {}

    updated = await a.put("activities", created[0]["id"], activity(0, title="Titre modifié"))
    await a.delete("activities", created[1]["id"])
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None and peer.cursor
    progress = await pull_peer(b.context, peer)
    assert progress.received == 2
    status, replica = await b.get(f"/api/v1/activities/{created[0]['id']}")
    assert (status, replica) == (200, updated)
    status, _ = await b.get(f"/api/v1/activities/{created[1]['id']}")
    assert status == 410

    again = await pull_peer(b.context, await persistence.get_peer(b.context.engine, "rq-a"))  # type: ignore[arg-type]
    assert again.received == 0


async def test_replicas_are_read_only_on_the_receiver(make_node: NodeFactory) -> None:
    a, b = await make_node("rq-a"), await make_node("rq-b")
    await a.add_peer(b)
    await b.add_peer(a)
    created = await a.create("activities", activity(1))
    await pull_peer(b.context, await persistence.get_peer(b.context.engine, "rq-a"))  # type: ignore[arg-type]
    async with b.session.put(f"{b.url}/api/v1/activities/{created['id']}", json=activity(1), headers=b.auth) as r:
        assert r.status == 409
        assert "rq-a" in (await r.json())["detail"]
    async with b.session.delete(f"{b.url}/api/v1/activities/{created['id']}", headers=b.auth) as r:
        assert r.status == 409
    _status, page = await b.get("/api/v1/activities?origin=rq-a")
    assert [item["id"] for item in page["items"]] == [created["id"]]
    _status, page = await b.get("/api/v1/activities?origin=rq-b")
    assert page["items"] == []


async def test_hub_peer_receives_period_reports(make_node: NodeFactory) -> None:
    a, hub = await make_node("rq-a"), await make_node("hub-national")
    await a.add_peer(hub, role="hub")
    await hub.add_peer(a)
    report = await a.create("reports", REPORT)
    await pull_peer(hub.context, await persistence.get_peer(hub.context.engine, "rq-a"))  # type: ignore[arg-type]
    assert await hub.records("rq-a", "report") == {report["id"]: report}


async def test_push_delivers_through_the_inbox_once(make_node: NodeFactory, database_url: str) -> None:
    a, b = await make_node("rq-a", batch_size=4), await make_node("rq-b", database_url)
    await a.add_peer(b, push=True, pull=False)
    await b.add_peer(a, pull=False)
    created = [await a.create("activities", activity(n)) for n in range(10)]

    delivered = await sender.push_all(a.context)
    assert delivered == {"peer:rq-b": 3}
    assert await b.records("rq-a") == {item["id"]: item for item in created}
    assert await sender.list_outbox(a.context) == []
    history = await sender.list_outbox(a.context, include_delivered=True)
    assert [entry.record_count for entry in history] == [4, 4, 3]  # the profile and 10 activities

    # Redelivering a batch (the acknowledgement was lost) is answered 202 "duplicate" and changes nothing.
    async with a.context.engine.connect() as connection:
        from sqlalchemy import select

        from federation.storage.tables import outbox_batches

        payload = await connection.scalar(select(outbox_batches.c.payload).order_by(outbox_batches.c.id).limit(1))
    response = await a.context.client.request("POST", f"{b.url}/federation/v1/inbox", payload.encode())
    assert response.status == 202
    assert response.json()["status"] == "duplicate"
    assert await b.records("rq-a") == {item["id"]: item for item in created}


async def test_out_of_order_versions_keep_the_newest(make_node: NodeFactory, database_url: str) -> None:
    a, b = await make_node("rq-a"), await make_node("rq-b", database_url)
    await b.add_peer(a, pull=False)
    record_id = str(uuid.uuid4())

    def envelope(version: int, title: str) -> dict[str, object]:
        body = {**activity(1, title=title), "origin": "rq-a", "id": record_id, "version": version}
        body["updated_at"] = f"2026-01-0{version}T00:00:00Z"
        return {k: body[k] for k in ("origin", "id", "version", "updated_at")} | {
            "kind": "activity",
            "deleted": False,
            "payload": body,
        }

    for version, title in ((3, "trois"), (2, "deux"), (1, "un"), (3, "trois bis")):
        batch = {"origin": "rq-a", "batch_id": str(uuid.uuid4()), "records": [envelope(version, title)]}
        response = await a.context.client.request("POST", f"{b.url}/federation/v1/inbox", json.dumps(batch).encode())
        assert response.status == 202
    _status, stored = await b.get(f"/api/v1/activities/{record_id}")
    assert (stored["version"], stored["title"]) == (3, "trois")


async def test_peers_status_after_pull(make_node: NodeFactory) -> None:
    a, b = await make_node("rq-a"), await make_node("rq-b")
    await a.add_peer(b)
    await b.add_peer(a)
    await a.create("activities", activity(1))
    await pull_peer(b.context, await persistence.get_peer(b.context.engine, "rq-a"))  # type: ignore[arg-type]
    (peer,) = await persistence.list_peers(b.context.engine)
    described = peer.describe()
    assert described["last_sync"] is not None
    assert described["lag"] == 0
    assert described["last_error"] is None


async def test_records_replicated(make_node: NodeFactory) -> None:
    from federation import hookimpl

    seen: list[tuple[str, list[str]]] = []
    kinds: list[frozenset[str]] = []
    nodes: list[object] = []

    class Watcher:
        @hookimpl
        async def records_replicated(self, origin: str, records: Any, node: object) -> None:
            kinds.append(records.kinds)
            seen.append((origin, [str(record["id"]) for record in records]))
            nodes.append(node)

    a = await make_node("rq-a")
    b = await make_node("rq-b", extra_plugins=[("watcher", Watcher())])
    await a.add_peer(b, push=True)
    await b.add_peer(a)
    pulled = await a.create("activities", activity(1))
    await pull_peer(b.context, await persistence.get_peer(b.context.engine, "rq-a"))  # type: ignore[arg-type]
    assert seen and seen[0][0] == "rq-a" and pulled["id"] in seen[0][1]
    seen.clear()
    pushed = await a.create("activities", activity(2))
    await sender.push_all(a.context)
    assert any(pushed["id"] in ids for _, ids in seen)
    # Pulled or pushed, the hook gets the node the app opened (hook API 2.0), not a context of its own.
    assert nodes and all(node is b.opened for node in nodes)
    # Both ways tell the kinds in the batch without decoding it (hook API 1.3): the pull brought the node's
    # profile and its first activity, the push the second activity.
    assert kinds[0] == {"node", "activity"}
    assert all("activity" in batch_kinds and batch_kinds <= {"node", "activity"} for batch_kinds in kinds[1:])


async def test_adding_a_peer_at_a_wrong_address_says_what_is_wrong(make_node: NodeFactory) -> None:
    a = await make_node("rq-a")
    for address in ("127.0.0.1:8080", "ftp://regie.example", "https://"):
        with pytest.raises(TransportError, match="is not a node's address: it starts with https://"):
            await a.context.client.fetch_discovery(address)
    # A web server that is not a node (here the node's own address, one level down).
    with pytest.raises(TransportError, match="answered 404: no régie node answers at this address") as raised:
        await a.context.client.fetch_discovery(f"{a.url}/elsewhere")
    assert raised.value.status == 404
