"""Versions between real nodes: what discovery says a node speaks, the Regies-Protocol header on requests and
answers, refusal of another major version naming both, and `regies peers` showing each peer's versions."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import pytest

from federation.cli import main
from federation.protocol import discovery, persistence, receiver
from federation.protocol.peerkeys import refresh_pinned_keys
from federation.schema.records import RECORD_KINDS
from federation.versions import PROTOCOL_HEADER, PROTOCOL_VERSION, SCHEMA_VERSION
from tests.protocol.conftest import Node, NodeFactory, activity, failed_pull, signed_call


async def test_discovery_says_what_the_node_speaks(make_node: NodeFactory) -> None:
    a = await make_node("rq-a")
    status, document = await a.get("/.well-known/regies-node")
    assert status == 200
    assert (document["protocol_version"], document["schema_versions"]) == ("1.1", ["1.1"])
    # The core's kinds and those of the node's plugins (the lending plugin's loan requests and decisions).
    assert document["record_kinds"] == sorted(a.context.registry.kinds) and set(RECORD_KINDS) < set(
        document["record_kinds"]
    )
    assert {"review", "loan_request", "loan_decision"} <= set(document["record_kinds"])
    assert document["service_types"] == sorted(a.context.registry.service_types)
    assert "green_spaces" in document["service_types"]


async def signed_get(a: Node, b: Node, path: str, version: str | None) -> tuple[int, Any, Any]:
    """GET `path` on `b` signed by `a`, announcing `version` (no header if None): status, body and headers."""
    announced = {} if version is None else {PROTOCOL_HEADER: version}
    return await signed_call(a, b, "GET", path, **announced)


async def signed_post(a: Node, b: Node, body: bytes, version: str) -> tuple[int, Any]:
    status, answer, _ = await signed_call(a, b, "POST", "/federation/v1/inbox", body, **{PROTOCOL_HEADER: version})
    return status, answer


@pytest.fixture
async def pair(make_node: NodeFactory) -> tuple[Node, Node]:
    a, b = await make_node("rq-a"), await make_node("rq-b")
    await a.add_peer(b)
    await b.add_peer(a)
    await b.create("activities", activity(1))
    return a, b


@pytest.mark.parametrize("version", [None, "1.0", "1.1", "1.7"])
async def test_a_peer_of_the_same_major_version_is_served(pair: tuple[Node, Node], version: str | None) -> None:
    a, b = pair
    status, page, headers = await signed_get(a, b, "/federation/v1/changes", version)
    assert status == 200
    assert len(page["records"]) == 2  # the profile and the activity
    assert headers[PROTOCOL_HEADER] == PROTOCOL_VERSION  # the answer says what the server speaks


@pytest.mark.parametrize(("version", "says"), [("2.0", "protocol 2.0"), ("0.9", "protocol 0.9"), ("1", "MAJOR.MINOR")])
async def test_a_feed_request_of_another_major_version_is_refused_naming_both(
    pair: tuple[Node, Node], version: str, says: str
) -> None:
    a, b = pair
    status, problem, headers = await signed_get(a, b, "/federation/v1/changes", version)
    assert (status, problem["type"]) == (400, "urn:regies:problem:protocol-version")
    assert says in problem["detail"] and PROTOCOL_VERSION in problem["detail"]
    assert headers[PROTOCOL_HEADER] == PROTOCOL_VERSION
    assert "records" not in problem


async def test_a_batch_of_another_major_version_is_refused_and_nothing_is_stored(pair: tuple[Node, Node]) -> None:
    a, b = pair
    record_id = str(uuid.uuid4())
    payload = {**activity(2), "origin": "rq-a", "id": record_id, "version": 1, "updated_at": "2026-01-01T00:00:00Z"}
    envelope = {key: payload[key] for key in ("origin", "id", "version", "updated_at")}
    record = {**envelope, "kind": "activity", "payload": payload}
    body = json.dumps({"origin": "rq-a", "batch_id": str(uuid.uuid4()), "records": [record]}).encode()

    status, problem = await signed_post(a, b, body, "2.3")

    assert (status, problem["type"]) == (400, "urn:regies:problem:protocol-version")
    assert "protocol 2.3" in problem["detail"] and f"protocol {PROTOCOL_VERSION}" in problem["detail"]
    assert await b.records("rq-a") == {}
    # The same batch from a peer of a later minor version is applied.
    status, answer = await signed_post(a, b, body, "1.4")
    assert (status, answer["status"]) == (202, "applied")
    assert list(await b.records("rq-a")) == [record_id]


async def test_a_page_answered_in_another_major_version_is_not_applied(
    pair: tuple[Node, Node], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = pair
    monkeypatch.setattr(receiver, "PROTOCOL_VERSION", "2.0")  # b answers as a node of protocol 2.0 would
    peer = await failed_pull(a, "rq-b", "protocol 2.0 and this node protocol 1.1")
    assert peer.cursor is None
    assert await a.records("rq-b") == {}


async def add_peer_by_cli(node: Node, other: Node, monkeypatch: pytest.MonkeyPatch) -> None:
    """`regies peer add` of `other` on `node`'s data directory, as its operator runs it."""
    monkeypatch.setenv("REGIES_FEDERATION__ALLOW_PRIVATE_ADDRESSES", "true")
    data = str(node.settings.data_dir)
    assert await asyncio.to_thread(main, ["--data-dir", data, "peer", "add", other.url, "--yes"]) == 0


@pytest.mark.parametrize(
    ("protocol", "schemas", "shown"),
    [
        (PROTOCOL_VERSION, [SCHEMA_VERSION], f"{PROTOCOL_VERSION}, {SCHEMA_VERSION} "),
        ("1", ["v1"], "1.0, 1.0 (protocol: older minor)"),  # what a 0.1.0 node publishes
        ("1.3", ["1.3"], "1.3, 1.3 (protocol: newer minor)"),
        ("2.0", ["2.0"], "2.0, 2.0 (protocol: other major: refused)"),
        (PROTOCOL_VERSION, ["1.0"], f"{PROTOCOL_VERSION}, 1.0 (schema: older minor)"),
        # A hostile document: the terminal sees the escape as text, the version is unreadable, not refused.
        ("\x1b[2J1.1", ["1.1"], "(protocol: unreadable)"),
    ],
)
async def test_regies_peers_shows_each_peers_versions_and_flags_skew(
    make_node: NodeFactory,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    protocol: str,
    schemas: list[str],
    shown: str,
) -> None:
    a, b = await make_node("rq-a"), await make_node("rq-b")
    # rq-a publishes the versions of another release in its discovery document.
    monkeypatch.setattr(discovery, "PROTOCOL_VERSION", protocol)
    monkeypatch.setattr(discovery, "SCHEMA_VERSION", schemas[0])
    await add_peer_by_cli(b, a, monkeypatch)
    capsys.readouterr()

    assert await asyncio.to_thread(main, ["--data-dir", str(b.settings.data_dir), "peers"]) == 0

    (row,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("rq-a")]
    assert shown in row + " "
    assert "\x1b" not in row
    if shown.endswith(" "):  # the same versions: nothing flagged
        assert "(protocol" not in row and "(schema" not in row
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None and peer.speaks is not None
    assert peer.speaks["record_kinds"] == sorted(b.context.registry.kinds)
    assert await asyncio.to_thread(main, ["--data-dir", str(b.settings.data_dir), "peers", "--json"]) == 0
    (described,) = json.loads(capsys.readouterr().out)
    assert described["speaks"]["protocol_version"] == ("1.0" if protocol == "1" else protocol)


async def test_a_peers_versions_follow_its_upgrade(make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    a, b = await make_node("rq-a"), await make_node("rq-b")
    monkeypatch.setattr(discovery, "PROTOCOL_VERSION", "1")  # rq-a is still a 0.1.0 node when it is added
    monkeypatch.setattr(discovery, "SCHEMA_VERSION", "v1")
    await b.add_peer(a)
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None and peer.speaks is not None and peer.speaks["protocol_version"] == "1.0"
    monkeypatch.undo()  # rq-a upgrades; rq-b reads its discovery document again (the worker's periodic refresh)
    await refresh_pinned_keys(b.context.engine, b.context.client, peer, due=True)
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None and peer.speaks is not None
    assert (peer.speaks["protocol_version"], peer.speaks["schema_versions"]) == ("1.1", ["1.1"])
