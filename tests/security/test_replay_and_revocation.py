"""A signed request verifies only at the node it was made for, and a key revocation seen is final."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from federation.protocol import persistence
from federation.protocol.keys import (
    KeyStore,
    PublicKeyInfo,
    b64url,
    create_key,
    raw_public,
    revoke_key,
    rotation_statement,
)
from federation.protocol.puller import PullError, pull_peer
from federation.protocol.signing import sign_request
from federation.protocol.worker import refresh_peer_keys
from federation.schema.records import utcnow
from tests.protocol.conftest import Node, NodeFactory

REPORT = {"period": {"type": "year", "year": 2025}, "indicators": {"volunteers": 12, "headcount_aided": 30}}


async def send(node: Node, url: str, headers: Any, host: str | None = None) -> tuple[int, dict[str, Any]]:
    sent = dict(headers)
    if host is not None:
        sent["Host"] = host
    async with node.session.get(url, headers=sent) as answer:
        return answer.status, await answer.json()


async def test_a_request_signed_for_one_node_is_refused_by_another(make_node: NodeFactory) -> None:
    signer, a, b = await make_node("rq-signer"), await make_node("rq-a"), await make_node("rq-b")
    await a.add_peer(signer)
    await b.add_peer(signer)
    kid, key = signer.context.identity.keys.signing
    path = "/federation/v1/changes?since=&limit=10"
    headers = sign_request("GET", a.url + path, None, node_id="rq-signer", kid=kid, private_key=key)

    for host in (None, a.url.removeprefix("http://")):  # as sent, and with A's Host header (the old bypass)
        status, problem = await send(b, b.url + path, headers, host)
        assert status == 401
        assert "signature check failed" in problem["detail"]
    status, page = await send(a, a.url + path, headers)  # the node it was meant for takes it
    assert status == 200 and page["origin"] == "rq-a"


@pytest.fixture
async def recorder() -> AsyncIterator[tuple[str, list[tuple[str, dict[str, str]]]]]:
    """An attacker's server that records the signed requests it receives."""
    seen: list[tuple[str, dict[str, str]]] = []

    async def record(request: web.Request) -> web.Response:
        seen.append((request.path_qs, dict(request.headers)))
        return web.json_response({"origin": "rq-mallory", "records": [], "next_cursor": "", "more": False})

    app = web.Application()
    app.router.add_get("/{tail:.*}", record)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    yield str(server.make_url("")).rstrip("/"), seen
    await server.close()


async def test_the_hubs_pull_replayed_to_another_regie_reads_none_of_its_reports(
    make_node: NodeFactory, recorder: tuple[str, list[tuple[str, dict[str, str]]]]
) -> None:
    """A member the hub pulls from replays the hub's request to another régie, which serves reports to the hub."""
    hub = await make_node("hub-national", plugin_settings={"hub": {"enabled": True}})
    victim = await make_node("rq-victim")
    mallory_url, seen = recorder
    await victim.add_peer(hub, role="hub", push=True)
    report = await victim.create("reports", {**REPORT, "state": "submitted"})
    hub_keys = [PublicKeyInfo.from_jwk(jwk) for jwk in (await hub.get("/.well-known/regies-node"))[1]["keys"]]
    await persistence.save_peer(hub.context.engine, node_id="rq-mallory", name="M", base_url=mallory_url, keys=[])
    await persistence.save_peer(
        victim.context.engine, node_id="hub-national", name="Hub", base_url=hub.url, keys=hub_keys, role="hub"
    )

    mallory = await persistence.get_peer(hub.context.engine, "rq-mallory")
    assert mallory is not None
    with pytest.raises(PullError):  # the hub pulls from the member; its answer is not signed: refused
        await pull_peer(hub.context, mallory)
    [(path_qs, headers)] = seen
    headers = {name: value for name, value in headers.items() if name.lower() not in ("content-length",)}
    for host in (None, mallory_url.removeprefix("http://")):
        status, problem = await send(victim, victim.url + path_qs, headers, host)
        assert status == 401, problem
        assert report["id"] not in str(problem)

    # The same request, signed by the hub for the victim's own URL, does carry the report: the replay was refused
    # for being meant elsewhere, not because there was nothing to read.
    answer = await hub.context.client.request("GET", victim.url + path_qs)
    assert report["id"] in {record["id"] for record in answer.json()["records"]}


async def _request(sender: Node, receiver: Node, kid: str, key: Ed25519PrivateKey) -> tuple[int, dict[str, Any]]:
    url = f"{receiver.url}/federation/v1/changes"
    return await send(receiver, url, sign_request("GET", url, None, node_id=sender.node_id, kid=kid, private_key=key))


def _vouched_key(node_id: str, signer_kid: str, signer: Ed25519PrivateKey) -> tuple[PublicKeyInfo, Ed25519PrivateKey]:
    """A new key with a rotation proof made by `signer` (which a thief of that key could make)."""
    private = Ed25519PrivateKey.generate()
    x, created = b64url(raw_public(private.public_key())), int(utcnow().timestamp())
    proof = b64url(signer.sign(rotation_statement(node_id, "key-thief", x, created)))
    return PublicKeyInfo("key-thief", x, created, None, signer_kid, proof), private


async def _pinned(node: Node, peer_id: str) -> dict[str, PublicKeyInfo]:
    peer = await persistence.get_peer(node.context.engine, peer_id)
    assert peer is not None
    return {key.kid: key for key in peer.keys}


@pytest.fixture
async def pair(make_node: NodeFactory) -> tuple[Node, Node]:
    a, b = await make_node("rq-a"), await make_node("rq-b")
    await a.add_peer(b)
    await b.add_peer(a)
    return a, b


async def test_a_revoked_key_stays_revoked_and_vouches_for_no_new_key(pair: tuple[Node, Node]) -> None:
    a, b = pair
    old_kid, old_key = b.context.identity.keys.signing
    await create_key(b.context.engine, b.settings.keys_dir, "rq-b")
    await revoke_key(b.context.engine, b.settings.keys_dir, old_kid)
    b.context.identity.keys = await KeyStore.load(b.context.engine, b.settings.keys_dir)
    await refresh_peer_keys(a.context)  # A learns the rotation and the revocation
    revoked_at = (await _pinned(a, "rq-b"))[old_kid].not_after
    assert revoked_at is not None and revoked_at <= int(utcnow().timestamp())

    # The thief of the old key serves a document (not signed) showing it valid again, with a key it vouches for.
    thief_key, thief_private = _vouched_key("rq-b", old_kid, old_key)
    published = b.context.identity.keys.published
    b.context.identity.keys.published = [dataclasses.replace(key, not_after=None) for key in published] + [thief_key]
    await refresh_peer_keys(a.context)
    pinned = await _pinned(a, "rq-b")
    assert pinned[old_kid].not_after == revoked_at
    assert "key-thief" not in pinned
    status, problem = await _request(b, a, old_kid, old_key)
    assert status == 401 and "has expired" in problem["detail"]
    status, problem = await _request(b, a, "key-thief", thief_private)
    assert status == 401 and "unknown" in problem["detail"]


async def test_an_expired_key_vouches_for_no_new_key(pair: tuple[Node, Node]) -> None:
    """B's key ended its overlap at A; a key it signs afterwards (B's or a thief's) is not pinned by A."""
    a, b = pair
    expired = {
        kid: dataclasses.replace(key, not_after=int(utcnow().timestamp()) - 60)
        for kid, key in (await _pinned(a, "rq-b")).items()
    }
    await persistence.update_peer_keys(a.context.engine, "rq-b", list(expired.values()))
    await create_key(b.context.engine, b.settings.keys_dir, "rq-b")  # a rotation proof made by the expired key
    b.context.identity.keys = await KeyStore.load(b.context.engine, b.settings.keys_dir)
    new_kid, new_key = b.context.identity.keys.signing
    status, problem = await _request(b, a, new_kid, new_key)
    assert status == 401 and "unknown, even after fetching its discovery document" in problem["detail"]
    assert new_kid not in await _pinned(a, "rq-b")


async def test_a_discovery_document_cannot_lengthen_a_pinned_keys_validity(pair: tuple[Node, Node]) -> None:
    a, b = pair
    old_kid, _ = b.context.identity.keys.signing
    await create_key(b.context.engine, b.settings.keys_dir, "rq-b", overlap=dt.timedelta(seconds=2))
    b.context.identity.keys = await KeyStore.load(b.context.engine, b.settings.keys_dir)
    await refresh_peer_keys(a.context)
    ends = (await _pinned(a, "rq-b"))[old_kid].not_after
    assert ends is not None
    # B's document (or whoever answers at its address) now says the old key never ends, or ends in a year.
    for not_after in (None, ends + 365 * 86400):
        b.context.identity.keys.published = [
            dataclasses.replace(key, not_after=not_after) if key.kid == old_kid else key
            for key in b.context.identity.keys.published
        ]
        await refresh_peer_keys(a.context)
        assert (await _pinned(a, "rq-b"))[old_kid].not_after == ends
    # Shortening is heard: B revokes it now.
    b.context.identity.keys.published = [
        dataclasses.replace(key, not_after=ends - 1) if key.kid == old_kid else key
        for key in b.context.identity.keys.published
    ]
    await refresh_peer_keys(a.context)
    assert (await _pinned(a, "rq-b"))[old_kid].not_after == ends - 1


async def test_a_rotation_then_an_immediate_revocation_is_still_followed(pair: tuple[Node, Node]) -> None:
    """The legitimate case next to the attacks: a peer that rotates and revokes at once keeps its peers."""
    a, b = pair
    old_kid, _ = b.context.identity.keys.signing
    await create_key(b.context.engine, b.settings.keys_dir, "rq-b")
    await revoke_key(b.context.engine, b.settings.keys_dir, old_kid)
    b.context.identity.keys = await KeyStore.load(b.context.engine, b.settings.keys_dir)
    new_kid, new_key = b.context.identity.keys.signing
    status, _ = await _request(b, a, new_kid, new_key)  # A hears of both from this request's refresh
    assert status == 200
    assert new_kid in await _pinned(a, "rq-b")
