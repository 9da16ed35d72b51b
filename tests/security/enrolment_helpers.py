"""What the enrolment attack tests share: a régie forged from fresh keys, a real hub on SQLite or PostgreSQL, and
the coordinators' calls."""

from __future__ import annotations

import argparse
import contextlib
import json
import re
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from regies_hubclient import HubClientSettings
from regies_hubclient.cli import _join
from sqlalchemy import select

from federation.protocol.directory import verify_directory
from federation.protocol.keys import PublicKeyInfo, b64url, fingerprint, raw_public
from federation.protocol.signing import sign_request
from federation.storage.tables import enrolments
from federation.storage.tokens import create_token
from tests.protocol.conftest import Node, NodeFactory

HUB_ID = "hub-national"
HTML = {"Accept": "text/html"}


@dataclass
class ForgedNode:
    """Whoever sends a join request: any node id, any name and address, keys it generated itself."""

    node_id: str
    name: str = "Régie de Belleville"
    base_url: str = "http://127.0.0.1:9"
    private_keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.private_keys:
            self.private_keys = {f"key-{uuid.uuid4().hex[:8]}": Ed25519PrivateKey.generate()}

    @property
    def public_keys(self) -> list[PublicKeyInfo]:
        return [
            PublicKeyInfo(kid, b64url(raw_public(key.public_key())), int(time.time()))
            for kid, key in self.private_keys.items()
        ]

    @property
    def fingerprints(self) -> list[str]:
        return [fingerprint(key.x) for key in self.public_keys]

    def join_body(self, **discovery: Any) -> dict[str, Any]:
        now = "2025-12-07T09:00:00Z"
        return {
            "discovery": {
                "node_id": self.node_id,
                "name": self.name,
                "base_url": self.base_url,
                "keys": [key.jwk() for key in self.public_keys],
                **discovery,
            },
            "profile": {
                "origin": self.node_id,
                "id": str(uuid.uuid4()),
                "version": 1,
                "updated_at": now,
                "name": self.name,
                "kind": "quartier",
                "commune": "75056",
                "label_status": "labellisee",
            },
        }

    async def join(
        self,
        hub: Node,
        body: dict[str, Any] | bytes | None = None,
        signing_kid: str | None = None,
        forwarded_for: str | None = None,
    ) -> tuple[int, dict[str, str], Any]:
        """POST a join request signed by one of this node's keys: (status, headers, JSON answer)."""
        data = body if isinstance(body, bytes) else json.dumps(body or self.join_body()).encode()
        kid = signing_kid or next(iter(self.private_keys))
        url = f"{hub.url}/plugins/hub/enrolments"
        headers = sign_request("POST", url, data, node_id=self.node_id, kid=kid, private_key=self.private_keys[kid])
        headers["Content-Type"] = "application/json"
        if forwarded_for:  # as a reverse proxy on the hub's machine passes the client's address on
            headers["X-Forwarded-For"] = forwarded_for
        async with hub.session.post(url, data=data, headers=headers) as response:
            answer = await response.json() if "json" in response.content_type else await response.text()
            return response.status, dict(response.headers), answer


async def enrolment_rows(hub: Node) -> list[dict[str, Any]]:
    async with hub.context.engine.connect() as connection:
        rows = await connection.execute(select(enrolments).order_by(enrolments.c.id))
        return [dict(row) for row in rows.mappings()]


async def coordinator(hub: Node, role: str = "national", region: str | None = None) -> dict[str, str]:
    token = await create_token(hub.context.engine, f"coordination {role} {region or ''}", role, region)
    return {"Authorization": f"Bearer {token}"}


async def hub_call(hub: Node, method: str, path: str, auth: dict[str, str], body: Any = None) -> tuple[int, Any]:
    async with hub.session.request(method, f"{hub.url}/plugins/hub{path}", json=body, headers=auth) as response:
        return response.status, await response.json()


async def signed_directory(hub: Node) -> dict[str, list[str]]:
    """The directory's members and the fingerprints it publishes for them, checked with the hub's key."""
    async with hub.session.get(f"{hub.url}/plugins/hub/directory") as response:
        document = await response.json()
    hub_keys = {key.kid: key for key in hub.context.identity.keys.published}
    return {
        node["node_id"]: [fingerprint(jwk["x"]) for jwk in node["keys"]]
        for node in verify_directory(document, hub_keys)
    }


def node_fingerprints(node: Node) -> list[str]:
    return [fingerprint(key.x) for key in node.context.identity.keys.published]


async def make_hub(make_node: NodeFactory, database_url: str | None = None, **limits: int) -> Node:
    # Behind a reverse proxy on its own machine, which names each client in X-Forwarded-For.
    return await make_node(
        HUB_ID,
        database_url,
        plugin_settings={"hub": {"enabled": True, **limits}},
        web={"trusted_proxies": ["127.0.0.1"]},
    )


async def make_regie(make_node: NodeFactory, hub: Node, node_id: str = "rq-paris") -> Node:
    """A real régie that asked to join `hub` with `regies network join`."""
    node = await make_node(node_id, plugin_settings={"hubclient": {"url": hub.url}})
    profile = {"name": "Régie de Belleville", "kind": "quartier", "commune": "75056", "label_status": "labellisee"}
    async with node.session.put(f"{node.url}/api/v1/node", json=profile, headers=node.auth) as response:
        assert response.status == 200
    config = HubClientSettings(url=hub.url, fingerprint=fingerprint(hub.context.identity.keys.published[0].x))
    assert await _join(argparse.Namespace(url=None, fingerprint=None), node.opened, config) == 0
    return node


@contextlib.asynccontextmanager
async def dashboard(hub: Node, regies_login: Any) -> AsyncIterator[TestClient[Any, Any]]:
    """A national coordinator logged in on the hub's pages (closing it stops the hub's server: use it last)."""
    client: TestClient[Any, Any] = TestClient(hub.server)
    await client.start_server()
    try:
        assert (await regies_login(client, "national")).status == 303
        yield client
    finally:
        await client.close()


def csrf(page: str) -> str:
    match = re.search(r'name="_csrf" value="([^"]+)"', page)
    assert match
    return match.group(1)
