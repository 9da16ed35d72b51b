"""Inputs whose checking could cost more than the request: they are bounded before the costly part runs."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydantic import ValidationError
from sqlalchemy import func, select

from federation.protocol.signing import sign_request
from federation.protocol.transport import TransportError
from federation.schema.records import RECORD_KINDS
from federation.storage.tables import inbox_batches
from tests.protocol.conftest import NodeFactory

ONE_MEGABYTE = 1_000_000  # the request size limit (server.max_body_bytes)
HUGE_EMAIL = "a" * 1_000_000 + "@" + "b." * 10 + "fr"  # 1 MB: the e-mail validator alone took 0.6 s on it


async def test_a_megabyte_email_is_refused_before_the_validator_runs(make_node: NodeFactory) -> None:
    node = await make_node("rq-emails")
    profile = {"name": "Régie des Lilas", "contact": {"email": HUGE_EMAIL}}
    async with node.session.put(f"{node.url}/api/v1/node", json=profile, headers=node.auth) as response:
        assert response.status == 422
        problem = await response.json()
    [error] = [error for error in problem["errors"] if error["pointer"] == "/contact/email"]
    assert error["pointer"] == "/contact/email"
    assert "more than 254 characters" in error["detail"]
    async with node.session.get(f"{node.url}/api/v1/node") as response:
        assert "aaaaaaaaaa" not in await response.text()  # nothing stored

    model = RECORD_KINDS["node"].data_model
    started = time.perf_counter()
    for _ in range(10):
        with pytest.raises(ValidationError, match="more than 254 characters"):
            model.model_validate({"name": "Régie des Lilas", "contact": {"email": HUGE_EMAIL}})
    assert time.perf_counter() - started < 1.0  # uncapped, the ten checks took 6 s


async def test_a_huge_batch_id_is_a_422_problem_not_a_500(make_node: NodeFactory) -> None:
    receiver, sender = await make_node("rq-receveuse"), await make_node("rq-envoyeuse")
    await receiver.add_peer(sender)
    for batch_id in ("b" * 100_000, 10**400, "9" * 64 + "0"):
        batch = {"origin": "rq-envoyeuse", "batch_id": batch_id, "records": []}
        with pytest.raises(TransportError) as refused:
            await sender.context.client.request(
                "POST", f"{receiver.url}/federation/v1/inbox", json.dumps(batch).encode()
            )
        assert refused.value.status == 422  # the sender keeps only the status and the problem's type
        assert "validation" in str(refused.value)
    async with receiver.context.engine.connect() as connection:
        assert (await connection.execute(select(func.count()).select_from(inbox_batches))).scalar_one() == 0


async def _first_answer_to_headers_alone(node_url: str, path: str, headers: dict[str, str]) -> tuple[int, float]:
    """A POST whose headers announce a 1 MB body that never comes: the status line the node answers, and after how
    many seconds (a node that waited for the body would answer nothing before its body deadline)."""
    host, port = node_url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}:{port}", "Content-Type: application/json"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    lines.append(f"Content-Length: {ONE_MEGABYTE}")
    started = time.perf_counter()
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    try:
        status_line = await asyncio.wait_for(reader.readline(), timeout=5)
    finally:
        writer.close()
    return int(status_line.split()[1]), time.perf_counter() - started


async def test_an_unverifiable_push_is_refused_before_its_body_is_read(make_node: NodeFactory) -> None:
    """An anonymous client cannot make the inbox read (and hold) a megabyte: the 401 comes from the headers alone,
    whether the request is unsigned, signed by nobody the node knows, or names a peer with a forged signature."""
    receiver, peer = await make_node("rq-receveuse"), await make_node("rq-pair")
    await receiver.add_peer(peer)
    inbox = f"{receiver.url}/federation/v1/inbox"
    kid, _ = peer.context.identity.keys.signing
    forged = sign_request("POST", inbox, b"{}", node_id="rq-pair", kid=kid, private_key=Ed25519PrivateKey.generate())
    stranger = sign_request(
        "POST", inbox, b"{}", node_id="rq-inconnue", kid="k1", private_key=Ed25519PrivateKey.generate()
    )
    for headers in ({}, dict(stranger), dict(forged)):
        status, seconds = await _first_answer_to_headers_alone(receiver.url, "/federation/v1/inbox", headers)
        assert status == 401
        assert seconds < 2  # the body deadline is 30 s: the answer did not wait for the body


async def test_a_body_that_does_not_match_its_signature_does_not_spend_the_genuine_requests_nonce(
    make_node: NodeFactory,
) -> None:
    """Someone on the path who copies a peer's signed headers onto another body is refused, and the peer's own
    request, arriving after it, is still applied: the nonce is spent only once the body matches."""
    receiver, sender = await make_node("rq-receveuse"), await make_node("rq-envoyeuse")
    await receiver.add_peer(sender)
    inbox = f"{receiver.url}/federation/v1/inbox"
    genuine = json.dumps({"origin": "rq-envoyeuse", "batch_id": "lot-0000001", "records": []}).encode()
    kid, key = sender.context.identity.keys.signing
    headers = sign_request("POST", inbox, genuine, node_id="rq-envoyeuse", kid=kid, private_key=key)
    headers["Content-Type"] = "application/json"
    tampered = genuine.replace(b"lot-0000001", b"lot-0000002")
    async with receiver.session.post(inbox, data=tampered, headers=headers) as answer:
        assert answer.status == 401
        assert "Content-Digest does not match" in (await answer.json())["detail"]
    async with receiver.session.post(inbox, data=genuine, headers=headers) as answer:
        assert answer.status == 202
        assert (await answer.json())["batch_id"] == "lot-0000001"
    async with receiver.session.post(inbox, data=genuine, headers=headers) as answer:
        assert answer.status == 401  # the same request again is a replay
        assert "already used" in (await answer.json())["detail"]
