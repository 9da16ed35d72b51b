"""The inbox's answers to bodies a peer's own implementation may get wrong (docs/protocol.md §8): a body that is not
JSON is `400 malformed-json`, a `batch_id` outside 8–64 printable ASCII characters without space is `422`; both
store nothing. Requests are signed by the peer's real key, exactly as sent."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from federation.problems import PROBLEM_TYPE_BASE
from federation.protocol.signing import sign_request
from federation.storage.tables import inbox_batches, records
from tests.protocol.conftest import Node, NodeFactory, activity


async def post_signed(sender: Node, receiver: Node, body: bytes) -> tuple[int, dict[str, Any]]:
    """`body` posted to `receiver`'s inbox, signed by `sender` as its node does."""
    url = f"{receiver.url}/federation/v1/inbox"
    kid, key = sender.context.identity.keys.signing
    headers = sign_request("POST", url, body, node_id=sender.node_id, kid=kid, private_key=key)
    headers["Content-Type"] = "application/json"
    async with receiver.session.post(url, data=body, headers=headers) as answer:
        return answer.status, await answer.json(content_type=None)


def batch(sender: Node, batch_id: str) -> bytes:
    """One new activity of `sender`'s, in a batch named `batch_id`."""
    payload = {**activity(1), "origin": sender.node_id, "id": str(uuid.uuid4()), "version": 1}
    payload["updated_at"] = "2026-01-01T00:00:00Z"
    envelope = {key: payload[key] for key in ("origin", "id", "version", "updated_at")}
    record = {**envelope, "kind": "activity", "deleted": False, "payload": payload}
    return json.dumps({"origin": sender.node_id, "batch_id": batch_id, "records": [record]}).encode()


async def received(node: Node, origin: str) -> tuple[int, int]:
    """(records of `origin`, batches of `origin`) that `node` holds."""
    async with node.context.engine.connect() as connection:
        held = await connection.scalar(select(func.count()).select_from(records).where(records.c.origin == origin))
        batches = await connection.scalar(
            select(func.count()).select_from(inbox_batches).where(inbox_batches.c.origin == origin)
        )
    return held or 0, batches or 0


@pytest.fixture
async def pair(make_node: NodeFactory) -> tuple[Node, Node]:
    """rq-a receiving pushes from rq-b."""
    a, b = await make_node("rq-a"), await make_node("rq-b")
    await a.add_peer(b)
    await b.add_peer(a)
    return a, b


@pytest.mark.parametrize("body", [b'{"origin": "rq-b", "batch_id": ', b"\xff\xfe{\x00}\x00", b"not json"])
async def test_a_body_that_is_not_json_is_answered_400_malformed_json(pair: tuple[Node, Node], body: bytes) -> None:
    a, b = pair

    status, problem = await post_signed(b, a, body)

    assert status == 400
    assert problem["type"] == f"{PROBLEM_TYPE_BASE}malformed-json"
    assert await received(a, "rq-b") == (0, 0)


@pytest.mark.parametrize(
    ("batch_id", "accepted"),
    [
        ("batch 0001", False),  # a space
        ("batch\t0001", False),
        ("lot-é-0001", False),  # beyond ASCII
        ("b" * 7, False),
        ("b" * 8, True),  # the shortest allowed
        ("b" * 65, False),
        ("b" * 64, True),
        ("!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~", True),  # every printable ASCII character but space may be used
    ],
)
async def test_a_batch_id_is_8_to_64_printable_ascii_characters_without_space(
    pair: tuple[Node, Node], batch_id: str, accepted: bool
) -> None:
    a, b = pair

    status, answer = await post_signed(b, a, batch(b, batch_id))

    if accepted:
        assert (status, answer["batch_id"], answer["applied"]) == (202, batch_id, 1)
        assert await received(a, "rq-b") == (1, 1)
    else:
        assert status == 422
        assert answer["type"] == f"{PROBLEM_TYPE_BASE}validation"
        assert "batch_id" in answer["detail"]
        assert await received(a, "rq-b") == (0, 0)
