"""`@target-uri` is the request line as sent (docs/protocol.md §5.2): the document's signed-request vectors, the
one with a cursor of reserved characters included, are reproduced by the node's signer, and a real node verifies
a signature over its request line exactly as received, never over a decoded or re-encoded spelling of it."""

from __future__ import annotations

import datetime as dt
import hashlib
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from yarl import URL

from federation.protocol.signing import sign_request
from tests.protocol.conftest import Node, NodeFactory

PROTOCOL = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
FEED = "https://rq-belleville.example.org/federation/v1/changes"


@pytest.mark.parametrize(
    ("query", "nonce"),
    [
        ("since=Yzo0Mg&limit=500", "mZ3vQ8tL1xR7bK2wYp9sEa4F"),
        ("since=p%3A26%40%2C%21%2A%27%28%24&limit=500", "Vb7nK2pQ9sLx4TzR1mWc8HdY"),
    ],
)
def test_the_documents_feed_request_vectors_are_reproduced_bit_for_bit(query: str, nonce: str) -> None:
    # Appendix A: the seed of rq-lilas's test key is the SHA-256 of its label.
    seed = hashlib.sha256(b"regies protocol example: rq-lilas key-20251201-4f2a9c").digest()
    headers = sign_request(
        "GET",
        f"{FEED}?{query}",
        None,
        node_id="rq-lilas",
        kid="key-20251201-4f2a9c",
        private_key=Ed25519PrivateKey.from_private_bytes(seed),
        created=dt.datetime.fromtimestamp(1767261600, dt.UTC),
        nonce=nonce,
    )

    assert f"GET /federation/v1/changes?{query} HTTP/1.1" in PROTOCOL
    assert f'"@target-uri": {FEED}?{query}\n' in PROTOCOL
    assert f"Signature-Input: {headers['Signature-Input']}\n" in PROTOCOL
    assert f"Signature: {headers['Signature']}\n" in PROTOCOL


async def signed_get(puller: Node, node: Node, sent: str, signed: str) -> int:
    """A GET of `node`'s feed whose request line carries `sent` as its query, signed by `puller` over `signed`."""
    identity = puller.context.identity
    kid, key = identity.keys.signing
    feed = f"{node.url}/federation/v1/changes"
    headers = sign_request("GET", f"{feed}?{signed}", None, node_id=identity.node_id, kid=kid, private_key=key)
    async with node.session.get(URL(f"{feed}?{sent}", encoded=True), headers=headers) as answer:
        return answer.status


@pytest.mark.parametrize(
    ("sent", "signed", "status"),
    [
        ("since=&limit=%35", "since=&limit=%35", 200),  # percent-encoded digit, signed as sent
        ("since=&limit=%35", "since=&limit=5", 401),  # signed decoded, sent encoded
        ("since=&limit=5", "since=&limit=%35", 401),  # signed encoded, sent decoded
        ("since=&limit=5&x=a~b", "since=&limit=5&x=a%7Eb", 401),  # `%7E` is not `~` to the receiver
        ("since=&limit=5&x=a%7Eb", "since=&limit=5&x=a%7Eb", 200),
    ],
)
async def test_a_node_verifies_the_request_line_exactly_as_received(
    make_node: NodeFactory, sent: str, signed: str, status: int
) -> None:
    a, b = await make_node("rq-a"), await make_node("rq-b")
    await a.add_peer(b)

    assert await signed_get(b, a, sent, signed) == status
