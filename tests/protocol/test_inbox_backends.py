"""A signed push into a node's inbox on each database backend: the peer lookup and the nonce, which PostgreSQL runs on
the pooled driver connection, refuse what they refused through SQLAlchemy; pushes beyond `inbox_concurrency` wait
their turn while reads are answered."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from sqlalchemy import func, select

from federation.protocol.receiver import INBOX_TURNS
from federation.protocol.signing import sign_request
from federation.storage.tables import records
from tests.protocol.conftest import Node, NodeFactory, activity


def _batch(origin: str) -> bytes:
    record_id = str(uuid.uuid4())
    updated_at = "2026-01-01T00:00:00Z"
    payload = {**activity(1), "origin": origin, "id": record_id, "version": 1, "updated_at": updated_at}
    envelope = {
        "origin": origin,
        "id": record_id,
        "kind": "activity",
        "version": 1,
        "updated_at": updated_at,
        "deleted": False,
        "payload": payload,
    }
    return json.dumps({"origin": origin, "batch_id": str(uuid.uuid4()), "records": [envelope]}).encode()


async def _post(sender: Node, url: str, body: bytes, headers: Any) -> tuple[int, dict[str, Any]]:
    async with sender.session.post(url, data=body, headers=headers) as response:
        return response.status, await response.json(content_type=None)


async def _paired(make_node: NodeFactory, database_url: str, **settings: Any) -> tuple[Node, Node]:
    """rq-a and rq-b (on the backend under test) pinned on each other."""
    sender = await make_node("rq-a")
    receiver = await make_node("rq-b", database_url=database_url, **settings)
    await sender.add_peer(receiver)
    await receiver.add_peer(sender)
    return sender, receiver


def _signed(node: Node, url: str, body: bytes) -> dict[str, str]:
    kid, key = node.context.identity.keys.signing
    return sign_request("POST", url, body, node_id=node.context.identity.node_id, kid=kid, private_key=key)


async def _replicas(node: Node, origin: str) -> int:
    async with node.context.engine.connect() as connection:
        count = await connection.scalar(select(func.count()).select_from(records).where(records.c.origin == origin))
    return int(count or 0)


async def test_a_push_is_applied_once_and_its_replay_is_refused(make_node: NodeFactory, database_url: str) -> None:
    sender, receiver = await _paired(make_node, database_url)
    url = f"{receiver.url}/federation/v1/inbox"
    body = _batch("rq-a")
    headers = _signed(sender, url, body)

    status, answer = await _post(sender, url, body, headers)
    assert (status, answer["status"], answer["applied"]) == (202, "applied", 1)
    assert await _replicas(receiver, "rq-a") == 1

    status, problem = await _post(sender, url, body, headers)  # the same signature again
    assert status == 401
    assert "replay" in problem["detail"]

    # The same batch signed anew is a delivery the inbox already has: acknowledged, applied once.
    status, answer = await _post(sender, url, body, _signed(sender, url, body))
    assert (status, answer["status"], answer["applied"]) == (202, "duplicate", 0)
    assert await _replicas(receiver, "rq-a") == 1


async def test_a_node_that_is_no_peer_is_refused(make_node: NodeFactory, database_url: str) -> None:
    stranger = await make_node("rq-a")
    receiver = await make_node("rq-b", database_url=database_url)
    url = f"{receiver.url}/federation/v1/inbox"
    body = _batch("rq-a")
    status, problem = await _post(stranger, url, body, _signed(stranger, url, body))
    assert status == 401
    assert "is not a peer of this node" in problem["detail"]
    assert await _replicas(receiver, "rq-a") == 0


async def test_a_push_beyond_the_inbox_concurrency_waits_while_reads_are_answered(
    make_node: NodeFactory, database_url: str
) -> None:
    sender, receiver = await _paired(make_node, database_url, inbox_concurrency=1)
    url = f"{receiver.url}/federation/v1/inbox"
    body = _batch("rq-a")
    headers = _signed(sender, url, body)
    turns = receiver.server.app[INBOX_TURNS]
    await turns.acquire()  # the one turn is taken, as by another régie's batch being received
    try:
        push = asyncio.create_task(_post(sender, url, body, headers))
        status, page = await receiver.get("/api/v1/activities?limit=1", headers=receiver.auth)
        assert status == 200, page
        await asyncio.sleep(0.3)
        assert not push.done()
        assert await _replicas(receiver, "rq-a") == 0
    finally:
        turns.release()
    status, answer = await push  # its turn came: the same signed request is received, once
    assert (status, answer["status"], answer["applied"]) == (202, "applied", 1)
    assert await _replicas(receiver, "rq-a") == 1
