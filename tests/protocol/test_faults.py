"""Hostile and broken conditions: forged, replayed, stale or spoofed requests, key rotation, peers going down."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from federation.appkeys import READER
from federation.protocol import persistence, puller, sender
from federation.protocol.keys import create_key
from federation.protocol.puller import PullError, pull_peer
from federation.protocol.signing import sign_request
from federation.protocol.worker import pull_due_peers
from federation.schema.records import utcnow
from federation.storage.engine import create_engine
from federation.storage.mapping import to_micros
from federation.storage.tables import outbox_batches, records
from tests.protocol.conftest import Node, NodeFactory, activity, make_pair


async def _raw(
    sender_node: Node,
    receiver: Node,
    method: str,
    path: str,
    body: bytes | None = None,
    *,
    key: Ed25519PrivateKey | None = None,
    kid: str | None = None,
    node_id: str | None = None,
    created: dt.datetime | None = None,
    headers: Any = None,
    send_body: bytes | None = None,
) -> tuple[int, dict[str, Any]]:
    url = f"{receiver.url}{path}"
    own_kid, own_key = sender_node.context.identity.keys.signing
    signed = headers or sign_request(
        method,
        url,
        body,
        node_id=node_id or sender_node.node_id,
        kid=kid or own_kid,
        private_key=key or own_key,
        created=created,
    )
    data = send_body if send_body is not None else body
    async with sender_node.session.request(method, url, data=data, headers=signed) as response:
        return response.status, await response.json(content_type=None)


async def _record_count(node: Node) -> int:
    async with node.context.engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(records)) or 0)


@pytest.fixture
async def pair(make_node: NodeFactory) -> tuple[Node, Node]:
    a, b = await make_node("rq-a"), await make_node("rq-b")
    await a.add_peer(b)
    await b.add_peer(a)
    return a, b


def _batch(origin: str, record_origin: str | None = None) -> bytes:
    record_id = str(uuid.uuid4())
    payload = {**activity(1), "origin": record_origin or origin, "id": record_id, "version": 1}
    payload["updated_at"] = "2026-01-01T00:00:00Z"
    envelope = {
        "origin": record_origin or origin,
        "id": record_id,
        "kind": "activity",
        "version": 1,
        "updated_at": "2026-01-01T00:00:00Z",
        "deleted": False,
        "payload": payload,
    }
    return json.dumps({"origin": origin, "batch_id": str(uuid.uuid4()), "records": [envelope]}).encode()


async def test_valid_signed_batch_is_accepted(pair: tuple[Node, Node]) -> None:
    a, b = pair
    status, answer = await _raw(a, b, "POST", "/federation/v1/inbox", _batch("rq-a"))
    assert (status, answer["status"]) == (202, "applied")


async def test_unsigned_request_is_401(pair: tuple[Node, Node]) -> None:
    a, b = pair
    async with a.session.get(f"{b.url}/federation/v1/changes") as response:
        assert response.status == 401
        assert response.content_type == "application/problem+json"
        assert "not signed" in (await response.json())["detail"]


async def test_unknown_node_is_401(make_node: NodeFactory, pair: tuple[Node, Node]) -> None:
    _a, b = pair
    stranger = await make_node("rq-inconnue")
    before = await _record_count(b)
    status, problem = await _raw(stranger, b, "POST", "/federation/v1/inbox", _batch("rq-inconnue"))
    assert status == 401
    assert "not a peer" in problem["detail"]
    assert await _record_count(b) == before


async def test_peer_removed_by_another_process_is_refused_at_its_next_request(pair: tuple[Node, Node]) -> None:
    a, b = pair
    assert (await _raw(a, b, "POST", "/federation/v1/inbox", _batch("rq-a")))[0] == 202
    # `regies peer remove` runs in its own process, with its own connections to the node's database.
    operator = create_engine(b.settings.database_url)
    try:
        assert await persistence.remove_peer(operator, "rq-a")
    finally:
        await operator.dispose()
    status, problem = await _raw(a, b, "POST", "/federation/v1/inbox", _batch("rq-a"))
    assert status == 401
    assert "not a peer" in problem["detail"]


async def test_peer_lookup_through_the_reader_matches_the_engine(pair: tuple[Node, Node]) -> None:
    _a, b = pair
    reader = b.server.app[READER]
    assert await persistence.read_peer(reader, "rq-a") == await persistence.get_peer(b.context.engine, "rq-a")
    assert await persistence.read_peer(reader, "rq-inconnue") is None


async def test_tampered_body_is_401_and_writes_nothing(pair: tuple[Node, Node]) -> None:
    a, b = pair
    before = await _record_count(b)
    body = _batch("rq-a")
    tampered = body.replace(b"Espaces verts", b"Espaces ROUGES")
    status, problem = await _raw(a, b, "POST", "/federation/v1/inbox", body, send_body=tampered)
    assert status == 401
    assert "Content-Digest" in problem["detail"]
    assert await _record_count(b) == before


async def test_replayed_request_is_401(pair: tuple[Node, Node]) -> None:
    a, b = pair
    url = f"{b.url}/federation/v1/inbox"
    body = _batch("rq-a")
    kid, key = a.context.identity.keys.signing
    headers = sign_request("POST", url, body, node_id="rq-a", kid=kid, private_key=key)
    assert (await _raw(a, b, "POST", "/federation/v1/inbox", body, headers=headers))[0] == 202
    status, problem = await _raw(a, b, "POST", "/federation/v1/inbox", body, headers=headers)
    assert status == 401
    assert "replay" in problem["detail"]


async def test_expired_signature_is_401(pair: tuple[Node, Node]) -> None:
    a, b = pair
    old = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10)
    status, problem = await _raw(a, b, "GET", "/federation/v1/changes", created=old)
    assert status == 401
    assert "age" in problem["detail"]


async def test_unknown_key_is_401(pair: tuple[Node, Node]) -> None:
    a, b = pair
    status, problem = await _raw(a, b, "GET", "/federation/v1/changes", key=Ed25519PrivateKey.generate(), kid="stolen")
    assert status == 401
    assert "unknown" in problem["detail"]


async def test_signature_by_another_key_of_a_real_kid_is_401(pair: tuple[Node, Node]) -> None:
    a, b = pair
    status, _ = await _raw(a, b, "GET", "/federation/v1/changes", key=Ed25519PrivateKey.generate())
    assert status == 401


async def test_spoofed_origin_is_403_and_writes_nothing(pair: tuple[Node, Node]) -> None:
    a, b = pair
    before = await _record_count(b)
    status, problem = await _raw(a, b, "POST", "/federation/v1/inbox", _batch("rq-a", record_origin="rq-b"))
    assert status == 403
    assert "origin" in problem["detail"]
    status, _ = await _raw(a, b, "POST", "/federation/v1/inbox", _batch("rq-b"))
    assert status == 403
    assert await _record_count(b) == before


async def test_pulled_page_with_foreign_origin_is_refused(pair: tuple[Node, Node], make_node: NodeFactory) -> None:
    """A peer serving someone else's records in its feed is refused: nothing applied, checkpoint unchanged."""
    a, b = pair
    await a.create("activities", activity(1))
    async with a.context.engine.begin() as connection:
        # a's database now claims one of b's records as its own change: a serves it in its feed.
        await connection.execute(
            records.update()
            .where(records.c.kind == "activity")
            .values(body=func.replace(records.c.body, '"origin":"rq-a"', '"origin":"rq-b"'))
        )
    before = await _record_count(b)
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None
    with pytest.raises(PullError, match="origin"):
        await pull_peer(b.context, peer)
    assert await _record_count(b) == before
    refreshed = await persistence.get_peer(b.context.engine, "rq-a")
    assert refreshed is not None and refreshed.cursor is None and refreshed.last_error


async def test_key_rotation_during_sync(pair: tuple[Node, Node]) -> None:
    a, b = pair
    for n in range(6):
        await a.create("activities", activity(n))
    # b pulls one page, then b rotates its key: a must fetch b's discovery document to accept the new key.
    b.context.settings.batch_size = 2
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None
    await pull_peer(b.context, peer, max_pages=1)
    old_kid, _ = b.context.identity.keys.signing
    await create_key(b.context.engine, b.settings.keys_dir, "rq-b")
    from federation.protocol.keys import KeyStore

    b.context.identity.keys = await KeyStore.load(b.context.engine, b.settings.keys_dir)
    new_kid, _ = b.context.identity.keys.signing
    assert new_kid != old_kid
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    progress = await pull_peer(b.context, peer)  # type: ignore[arg-type]
    assert len(await b.records("rq-a")) == 6
    assert progress.received == 5  # the rest: 4 activities + profile after the first page of 2
    pinned = await persistence.get_peer(a.context.engine, "rq-b")
    assert pinned is not None and {key.kid for key in pinned.keys} == {old_kid, new_kid}
    # The old key keeps working during the overlap window.
    status, _ = await _raw(b, a, "GET", "/federation/v1/changes", kid=old_kid, key=_private(b, old_kid))
    assert status == 200


def _private(node: Node, kid: str) -> Ed25519PrivateKey:
    return node.context.identity.keys._private[kid]


async def test_rotated_key_without_valid_proof_is_refused(pair: tuple[Node, Node]) -> None:
    """A key that appears in the discovery document but is not signed by a pinned key is never trusted."""
    a, _b = pair
    from federation.protocol.discovery import accept_rotated_keys
    from federation.protocol.keys import PublicKeyInfo, b64url, raw_public

    intruder = Ed25519PrivateKey.generate()
    forged = PublicKeyInfo("key-forged", b64url(raw_public(intruder.public_key())), 1, None, "whatever", "AAAA")
    pinned = list((await persistence.get_peer(a.context.engine, "rq-b")).keys)  # type: ignore[union-attr]
    assert accept_rotated_keys("rq-b", pinned, [*pinned, forged]) == pinned


async def test_peer_down_mid_sync_then_back(make_node: NodeFactory, caplog: pytest.LogCaptureFixture) -> None:
    a, b = await make_node("rq-a"), await make_node("rq-b", batch_size=4)
    await a.add_peer(b)
    await b.add_peer(a)
    created = [await a.create("activities", activity(n)) for n in range(10)]
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    await pull_peer(b.context, peer, max_pages=1)  # type: ignore[arg-type]
    port = a.server.port
    await a.server.close()
    with pytest.raises(PullError):
        await pull_peer(b.context, await persistence.get_peer(b.context.engine, "rq-a"))  # type: ignore[arg-type]
    failing = await persistence.get_peer(b.context.engine, "rq-a")
    assert failing is not None and failing.consecutive_failures == 1 and failing.last_error
    # The server's background worker says so once in its log (the pull itself leaves that to its caller).
    with caplog.at_level("INFO", logger="federation"):
        await pull_due_peers(b.context)
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 1 and warnings[0].startswith("pull from rq-a failed: "), warnings
    assert warnings[0].endswith("; the next round tries again")
    from aiohttp.test_utils import TestServer

    from federation.app import create_app

    a.server = TestServer(create_app(a.settings), host="127.0.0.1", port=port)
    await a.server.start_server()
    try:
        progress = await pull_peer(b.context, await persistence.get_peer(b.context.engine, "rq-a"))  # type: ignore[arg-type]
        assert progress.received == 7  # resumed after the first page of 4
        assert await b.records("rq-a") == {item["id"]: item for item in created}
        recovered = await persistence.get_peer(b.context.engine, "rq-a")
        assert recovered is not None and recovered.consecutive_failures == 0 and recovered.last_error is None
    finally:
        await a.server.close()


async def test_outbox_retries_with_backoff_then_delivers(make_node: NodeFactory) -> None:
    a, b = (
        await make_node("rq-a", retry_initial_s=0.05, breaker_threshold=3, breaker_cooldown_s=0.2),
        await make_node("rq-b"),
    )
    await a.add_peer(b, push=True, pull=False)
    await b.add_peer(a, pull=False)
    await a.create("activities", activity(1))
    port = b.server.port
    await b.server.close()

    assert await sender.push_all(a.context) == {"peer:rq-b": 0}
    (entry,) = await sender.list_outbox(a.context)
    assert (entry.state, entry.attempts) == ("pending", 1)
    assert entry.last_error
    import asyncio

    for _ in range(2):
        await asyncio.sleep(0.15)
        await sender.push_all(a.context)
    (entry,) = await sender.list_outbox(a.context)
    assert entry.attempts == 3
    # Breaker open: nothing is attempted until the cool-down ends, even though the retry is due.
    await asyncio.sleep(0.1)
    await sender.push_all(a.context)
    assert (await sender.list_outbox(a.context))[0].attempts == 3

    from aiohttp.test_utils import TestServer

    from federation.app import create_app

    b.server = TestServer(create_app(b.settings), host="127.0.0.1", port=port)
    await b.server.start_server()
    try:
        await asyncio.sleep(0.25)
        assert await sender.push_all(a.context) == {"peer:rq-b": 1}
        assert await sender.list_outbox(a.context) == []
        assert len(await b.records("rq-a")) == 1
    finally:
        await b.server.close()


async def test_permanent_refusal_is_kept_as_failed_until_retried(make_node: NodeFactory) -> None:
    a, b = await make_node("rq-a"), await make_node("rq-b")
    await a.add_peer(b, push=True, pull=False)  # b does not know a: its inbox answers 401 (transient)…
    await a.create("activities", activity(1))
    (destination,) = sender.destinations(a.context, await persistence.list_peers(a.context.engine))
    await sender.enqueue(a.context, destination)
    async with a.context.engine.begin() as connection:
        # …so make the batch itself invalid, which b refuses for good (422).
        await connection.execute(
            outbox_batches.update().values(payload='{"origin":"rq-a","batch_id":"x","records":[]}')
        )
    await b.add_peer(a, pull=False)
    await sender.push_all(a.context)
    (entry,) = await sender.list_outbox(a.context)
    assert entry.state == "failed"
    assert "422" in (entry.last_error or "")
    assert await sender.retry_batches(a.context, [entry.id]) == [entry.id]
    assert (await sender.list_outbox(a.context))[0].state == "pending"
    assert await sender.discard_batches(a.context, [entry.id]) == [entry.id]
    assert await sender.discard_batches(a.context, [entry.id]) == []  # already discarded
    assert await sender.list_outbox(a.context) == []
    history = await sender.list_outbox(a.context, include_delivered=True)
    assert history[0].state == "discarded"


async def test_retrying_a_pending_batch_cuts_its_backoff_short(make_node: NodeFactory, database_url: str) -> None:
    a = await make_node("rq-a", database_url, retry_initial_s=30, breaker_threshold=1)
    b = await make_node("rq-b")
    await a.add_peer(b, push=True, pull=False)
    await a.create("activities", activity(1))
    assert await sender.push_all(a.context) == {"peer:rq-b": 0}  # b does not know a yet: 401, retried later
    (entry,) = await sender.list_outbox(a.context)
    assert entry.state == "pending" and entry.next_attempt_at_us > to_micros(utcnow()) + 10_000_000
    await b.add_peer(a, pull=False)  # the cause is fixed; the breaker is open and the next try seconds away
    assert await sender.push_all(a.context) == {"peer:rq-b": 0}
    assert await sender.retry_batches(a.context, [entry.id, 999]) == [entry.id]
    assert await sender.push_all(a.context) == {"peer:rq-b": 1}
    assert len(await b.records("rq-a")) == 1


def test_retry_delays_grow_with_jitter_and_cap() -> None:
    import random

    rng = random.Random(7)
    delays = [sender.retry_delay(attempt, 10, 3600, rng) for attempt in range(1, 15)]
    assert 5 <= delays[0] <= 10  # first retry within 30 s
    assert all(delay <= 3600 for delay in delays)
    assert delays[-1] >= 1800
    assert delays[3] > delays[0]


async def test_revoked_key_is_refused_after_refresh(pair: tuple[Node, Node]) -> None:
    from federation.protocol.keys import KeyStore, revoke_key
    from federation.protocol.worker import refresh_peer_keys

    a, b = pair
    old_kid, old_key = b.context.identity.keys.signing
    with pytest.raises(ValueError, match="only valid key"):
        await revoke_key(b.context.engine, b.settings.keys_dir, old_kid)
    await create_key(b.context.engine, b.settings.keys_dir, "rq-b")
    await revoke_key(b.context.engine, b.settings.keys_dir, old_kid)
    b.context.identity.keys = await KeyStore.load(b.context.engine, b.settings.keys_dir)
    await refresh_peer_keys(a.context)
    status, problem = await _raw(b, a, "GET", "/federation/v1/changes", kid=old_kid, key=old_key)
    assert status == 401
    assert "expired" in problem["detail"]
    status, _ = await _raw(b, a, "GET", "/federation/v1/changes")  # the new key works
    assert status == 200


@pytest.mark.parametrize("stage", ["parsing a page", "requesting the next page"], ids=["parsing", "requesting"])
async def test_an_unforeseen_error_ends_the_pull_with_it_instead_of_a_pull_waiting_for_ever(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch, stage: str
) -> None:
    # A bug, or anything else none of the pull's own errors covers: the pull used to wait for the page for good.
    _a, b = await make_pair(make_node, 5)

    def broken(*_args: object, **_kwargs: object) -> Any:
        raise RuntimeError(f"unforeseen while {stage}")

    monkeypatch.setattr(puller, "page_rows" if stage == "parsing a page" else "quote", broken)
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None
    with pytest.raises(RuntimeError, match=f"unforeseen while {stage}"):
        await asyncio.wait_for(pull_peer(b.context, peer), timeout=10)
    monkeypatch.undo()
    assert (await pull_peer(b.context, peer)).received == 6  # and the next pull goes on: 5 activities, the profile
