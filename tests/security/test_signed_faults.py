"""Forged signed requests against every signed endpoint outside /federation/v1 (the hub's join requests and member
status): replayed, expired, tampered, spoofed-origin and unknown-key requests are refused and change nothing.

The signed endpoints are read from the hub's OpenAPI document, so a new one is attacked without editing this
file. The change feed and the inbox get the same attacks in tests/protocol/test_faults.py.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from federation.protocol.signing import sign_request
from federation.storage.tables import enrolments
from tests.protocol.conftest import Node, NodeFactory

SIGNED = {"httpSignature": []}


async def _signed_operations(hub: Node) -> list[tuple[str, str]]:
    status, document = await hub.get("/openapi.json")
    assert status == 200
    return sorted(
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if isinstance(operation, dict)
        and SIGNED in operation.get("security", [])
        and not path.startswith("/federation/")
    )


async def _join_request(member: Node) -> bytes:
    _status, discovery = await member.get("/.well-known/regies-node")
    _status, profile = await member.get("/api/v1/node")
    return json.dumps({"discovery": discovery, "profile": profile}).encode()


Forge = Callable[[Node, str, str, bytes | None], tuple[dict[str, str], str, bytes | None]]


def _honest(member: Node, method: str, url: str, body: bytes | None, **overrides: Any) -> dict[str, str]:
    kid, key = member.context.identity.keys.signing
    arguments: dict[str, Any] = {"node_id": member.node_id, "kid": kid, "private_key": key, **overrides}
    return dict(sign_request(method, url, body, **arguments))


FORGERIES: dict[str, Forge] = {
    "expired": lambda m, method, url, body: (
        _honest(m, method, url, body, created=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)),
        url,
        body,
    ),
    "unknown-key": lambda m, method, url, body: (
        _honest(m, method, url, body, kid="stolen", private_key=Ed25519PrivateKey.generate()),
        url,
        body,
    ),
    "another-key-same-kid": lambda m, method, url, body: (
        _honest(m, method, url, body, private_key=Ed25519PrivateKey.generate()),
        url,
        body,
    ),
    "spoofed-origin": lambda m, method, url, body: (_honest(m, method, url, body, node_id="rq-other"), url, body),
    "tampered-body": lambda m, method, url, body: (
        _honest(m, method, url, body),
        url,
        None if body is None else body.replace(b'"name"', b'"nom"', 1),
    ),
    "tampered-target": lambda m, method, url, body: (_honest(m, method, url, body), url + "?scope=all", body),
}


@pytest.fixture
async def hub_and_member(make_node: NodeFactory) -> tuple[Node, Node]:
    hub = await make_node("hub-signed", plugin_settings={"hub": {"enabled": True}})
    member = await make_node("rq-member")
    # A member (the hub refuses join requests in the name of its other peers, and answers /me to members).
    await hub.add_peer(member, role="member")
    return hub, member


async def _send(member: Node, method: str, url: str, headers: dict[str, str], body: bytes | None) -> int:
    headers = {**headers, "Content-Type": "application/json"} if body is not None else headers
    async with member.session.request(method, url, data=body, headers=headers) as response:
        return response.status


async def _enrolments(hub: Node) -> int:
    async with hub.context.engine.connect() as connection:
        return int(await connection.scalar(select(func.count()).select_from(enrolments)) or 0)


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
async def test_forged_signed_requests_are_refused(hub_and_member: tuple[Node, Node], forgery: str) -> None:
    hub, member = hub_and_member
    operations = await _signed_operations(hub)
    assert ("GET", "/plugins/hub/me") in operations and ("POST", "/plugins/hub/enrolments") in operations
    before = await _enrolments(hub)
    for method, path in operations:
        body = await _join_request(member) if method == "POST" else None
        if forgery == "tampered-body" and body is None:
            continue  # nothing to tamper with: tampered-target covers requests without a body
        headers, url, sent = FORGERIES[forgery](member, method, f"{hub.url}{path}", body)
        assert await _send(member, method, url, headers, sent) == 401, (forgery, method, path)
    assert await _enrolments(hub) == before


async def test_replayed_signed_requests_are_refused(hub_and_member: tuple[Node, Node]) -> None:
    hub, member = hub_and_member
    for method, path in await _signed_operations(hub):
        body = await _join_request(member) if method == "POST" else None
        url = f"{hub.url}{path}"
        headers = _honest(member, method, url, body)
        # The honest request passes the signature check (the hub's join endpoints accept the join request; a
        # plugin's signed endpoint, such as lending's check, may refuse this body after authenticating it)...
        first = await _send(member, method, url, headers, body)
        assert first in ((200, 202) if path.startswith("/plugins/hub/") else (200, 202, 422)), (method, path, first)
        # ...and the same signed request sent again is refused as a replay.
        assert await _send(member, method, url, headers, body) == 401, (method, path)
