"""Each rule of the signature profile (federation/protocol/signing.py), broken the way an attacker would break it,
against real nodes: the key a keyid names and no other, `content-digest` and `@status` covered, a maximum age on
answers too, keyids of the form `<node>#<key>`, nonces of 16 to 100 characters."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from http_message_signatures import HTTPMessageSigner, MappingKeyResolver, algorithms
from http_message_signatures.digests import ContentDigest
from multidict import CIMultiDict
from sqlalchemy import select

from federation.protocol import persistence
from federation.protocol.keys import KeyStore, create_key
from federation.protocol.puller import pull_peer
from federation.protocol.signing import (
    REQUIRED_COMPONENTS,
    RESPONSE_COMPONENTS,
    SIGNATURE_LABEL,
    SIGNATURE_TAG,
    HttpMessage,
    HttpResponse,
)
from federation.storage.tables import records
from tests.protocol.conftest import Node, NodeFactory, activity, failed_pull

Message = HttpMessage | HttpResponse
REQUEST_WITH_DIGEST = (*REQUIRED_COMPONENTS, "content-digest")


def forge(
    message: Message,
    keyid: str,
    key: Ed25519PrivateKey,
    components: tuple[str, ...],
    *,
    body: bytes | None = None,
    created: dt.datetime | None = None,
    nonce: str | None = "n" * 24,
) -> None:
    """Sign `message` in place as an attacker can with a key it holds: any keyid, components, time or nonce. With
    `body`, Content-Digest is set for it but covered only if `components` name it."""
    if body is not None:
        message.headers["Content-Digest"] = ContentDigest.create(body)
    signer = HTTPMessageSigner(
        signature_algorithm=algorithms.ED25519,
        key_resolver=MappingKeyResolver(public_keys={}, private_keys={keyid: key}),
    )
    signer.sign(
        message,
        key_id=keyid,
        created=created or dt.datetime.now(dt.UTC),
        nonce=nonce,
        label=SIGNATURE_LABEL,
        tag=SIGNATURE_TAG,
        covered_component_ids=components,
        use_existing_digest=body is not None,
    )


async def post_inbox(sender: Node, receiver: Node, sign: Callable[[HttpMessage, bytes], None]) -> tuple[int, Any]:
    """A batch of one of `sender`'s activities, signed by `sign`, posted to `receiver`'s inbox."""
    url = f"{receiver.url}/federation/v1/inbox"
    record_id = str(uuid.uuid4())
    payload = {**activity(1), "origin": sender.node_id, "id": record_id, "version": 1}
    payload["updated_at"] = "2026-01-01T00:00:00Z"
    envelope = {k: payload[k] for k in ("origin", "id", "version", "updated_at")}
    batch = {
        "origin": sender.node_id,
        "batch_id": str(uuid.uuid4()),
        "records": [{**envelope, "kind": "activity", "deleted": False, "payload": payload}],
    }
    body = json.dumps(batch).encode()
    message = HttpMessage("POST", url, CIMultiDict({"Content-Type": "application/json"}))
    sign(message, body)
    async with receiver.session.post(url, data=body, headers=message.headers) as answer:
        return answer.status, await answer.json()


async def stored(node: Node, origin: str) -> int:
    async with node.context.engine.connect() as connection:
        return len((await connection.execute(select(records.c.id).where(records.c.origin == origin))).all())


@pytest.fixture
async def pair(make_node: NodeFactory) -> tuple[Node, Node]:
    a, b = await make_node("rq-a"), await make_node("rq-b")
    await a.add_peer(b)
    await b.add_peer(a)
    return a, b


async def rotated(node: Node) -> tuple[tuple[str, Ed25519PrivateKey], tuple[str, Ed25519PrivateKey]]:
    """Rotate `node`'s key: (old kid and key, new kid and key), both valid during the overlap."""
    old = node.context.identity.keys.signing
    await create_key(node.context.engine, node.settings.keys_dir, node.node_id)
    node.context.identity.keys = await KeyStore.load(node.context.engine, node.settings.keys_dir)
    return old, node.context.identity.keys.signing


# --- Requests -------------------------------------------------------------------------------------------


async def test_a_request_is_checked_with_the_key_its_keyid_names_and_no_other(pair: tuple[Node, Node]) -> None:
    a, b = pair
    (old_kid, old_key), (new_kid, new_key) = await rotated(a)
    await b.add_peer(a)  # B pins both keys of A
    both = REQUEST_WITH_DIGEST

    def signed(kid: str, key: Ed25519PrivateKey) -> Callable[[HttpMessage, bytes], None]:
        return lambda message, body: forge(message, f"rq-a#{kid}", key, both, body=body)

    for kid, key in ((old_kid, new_key), (new_kid, old_key)):  # a keyid naming the other pinned key
        status, problem = await post_inbox(a, b, signed(kid, key))
        assert status == 401, problem
    assert await stored(b, "rq-a") == 0
    for kid, key in ((old_kid, old_key), (new_kid, new_key)):  # each key named by its own keyid
        status, answer = await post_inbox(a, b, signed(kid, key))
        assert status == 202, answer
    assert await stored(b, "rq-a") == 2


async def test_a_request_body_not_covered_by_the_signature_is_refused(pair: tuple[Node, Node]) -> None:
    """On the way, a body is swapped and Content-Digest recomputed: the signature must cover the digest."""
    a, b = pair
    kid, key = a.context.identity.keys.signing
    status, problem = await post_inbox(
        a, b, lambda message, body: forge(message, f"rq-a#{kid}", key, REQUIRED_COMPONENTS, body=body)
    )
    assert status == 401, problem
    assert "content-digest" in problem["detail"].lower()
    assert await stored(b, "rq-a") == 0


@pytest.mark.parametrize("keyid", ["rq-a", "rq-a#", "#key", "rq-akey"])
async def test_a_keyid_not_of_the_form_node_hash_key_is_refused(pair: tuple[Node, Node], keyid: str) -> None:
    a, b = pair
    _, key = a.context.identity.keys.signing
    components = REQUEST_WITH_DIGEST
    status, problem = await post_inbox(a, b, lambda message, body: forge(message, keyid, key, components, body=body))
    assert status == 401
    assert "is not of the form <node id>#<key id>" in problem["detail"]
    assert await stored(b, "rq-a") == 0


@pytest.mark.parametrize(("length", "accepted"), [(None, False), (15, False), (16, True), (100, True), (101, False)])
async def test_the_nonce_has_16_to_100_characters(pair: tuple[Node, Node], length: int | None, accepted: bool) -> None:
    a, b = pair
    kid, key = a.context.identity.keys.signing
    components = REQUEST_WITH_DIGEST
    nonce = None if length is None else "x" * length
    status, answer = await post_inbox(
        a, b, lambda message, body: forge(message, f"rq-a#{kid}", key, components, body=body, nonce=nonce)
    )
    if accepted:
        assert status == 202, answer
    else:
        assert status == 401
        assert "nonce of 16 to 100 characters" in answer["detail"]
    assert await stored(b, "rq-a") == (1 if accepted else 0)


# --- Answers --------------------------------------------------------------------------------------------


@dataclass
class Resigner:
    """Stands at A's address: forwards each request to A, then signs A's answer its own way (a man in the middle
    holding some key, or A itself misbehaving)."""

    node: Node
    sign: Callable[[HttpResponse, bytes], None] | None = None
    alter: Callable[[bytes], bytes] = lambda body: body
    url: str = ""
    servers: list[TestServer] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        forwarded = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        async with self.node.session.get(self.node.url + request.path_qs, headers=forwarded) as upstream:
            body, status = await upstream.read(), upstream.status
            headers = CIMultiDict((k, v) for k, v in upstream.headers.items() if k.lower().startswith(("regies-",)))
        body = self.alter(body)
        answer = HttpResponse(status, headers, HttpMessage("GET", self.url + request.path_qs, request.headers))
        if self.sign is not None:
            self.sign(answer, body)
        return web.Response(status=status, body=body, headers=headers, content_type="application/json")


@pytest.fixture
async def resigner(pair: tuple[Node, Node]) -> AsyncIterator[Resigner]:
    a, b = pair
    man = Resigner(a)
    app = web.Application()
    app.router.add_get("/{tail:.*}", man.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    man.url = str(server.make_url("")).rstrip("/")
    a.behind(man.url)
    await b.add_peer(a, via=man.url)
    await a.create("activities", activity(1))
    yield man
    await server.close()


def tampered(body: bytes) -> bytes:
    return body.replace(b"Espaces verts", b"Espaces rouges")


ANSWER_WITH_DIGEST = (*RESPONSE_COMPONENTS, "content-digest")


async def test_an_answer_signed_with_a_key_not_pinned_for_the_peer_is_refused(
    pair: tuple[Node, Node], resigner: Resigner
) -> None:
    a, b = pair
    mine = Ed25519PrivateKey.generate()
    b_kid, b_key = b.context.identity.keys.signing
    a_kid, _ = a.context.identity.keys.signing
    for keyid, key, match in (
        ("rq-a#key-mitm", mine, "not one pinned for this peer"),  # a key A never had
        (f"rq-b#{b_kid}", b_key, "not one pinned for this peer"),  # a key B trusts, but not A's
        (f"rq-a#{a_kid}", mine, "signature check failed"),  # A's keyid, another key
    ):
        resigner.sign = lambda answer, body, k=keyid, p=key: forge(answer, k, p, ANSWER_WITH_DIGEST, body=body)
        await failed_pull(b, "rq-a", match)
        assert await stored(b, "rq-a") == 0


async def test_an_answer_is_checked_with_the_key_its_keyid_names(pair: tuple[Node, Node], resigner: Resigner) -> None:
    a, b = pair
    (old_kid, _), (new_kid, new_key) = await rotated(a)
    await b.add_peer(a, via=resigner.url)
    resigner.sign = lambda answer, body: forge(answer, f"rq-a#{old_kid}", new_key, ANSWER_WITH_DIGEST, body=body)
    await failed_pull(b, "rq-a", "signature check failed")
    assert await stored(b, "rq-a") == 0
    resigner.sign = lambda answer, body: forge(answer, f"rq-a#{new_kid}", new_key, ANSWER_WITH_DIGEST, body=body)
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None
    await pull_peer(b.context, peer)
    assert [item["title"] for item in (await b.records("rq-a")).values()] == ["Espaces verts n°1"]


@pytest.mark.parametrize(
    ("components", "match"),
    [
        (RESPONSE_COMPONENTS, "content-digest"),  # body swapped on the way, digest recomputed, not covered
        (tuple(c for c in ANSWER_WITH_DIGEST if c != "@status"), "@status"),
    ],
    ids=["no-content-digest", "no-status"],
)
async def test_an_answer_must_cover_its_digest_and_status(
    pair: tuple[Node, Node], resigner: Resigner, components: tuple[str, ...], match: str
) -> None:
    a, b = pair
    kid, key = a.context.identity.keys.signing
    resigner.alter = tampered
    resigner.sign = lambda answer, body: forge(answer, f"rq-a#{kid}", key, components, body=body)
    peer = await failed_pull(b, "rq-a", "signature")
    assert peer.last_error is not None and match in peer.last_error.lower()
    assert await stored(b, "rq-a") == 0


async def test_a_stale_answer_is_refused(pair: tuple[Node, Node], resigner: Resigner) -> None:
    a, b = pair
    kid, key = a.context.identity.keys.signing
    ten_minutes_ago = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    resigner.sign = lambda answer, body: forge(
        answer, f"rq-a#{kid}", key, ANSWER_WITH_DIGEST, body=body, created=ten_minutes_ago, nonce=None
    )
    await failed_pull(b, "rq-a", "maximum allowable age")
    assert await stored(b, "rq-a") == 0
