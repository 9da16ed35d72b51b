"""Several nodes in one process, each a real HTTP server on 127.0.0.1 with its own database."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from aiohttp.web_runner import BaseRunner

from federation import appkeys, hookimpl
from federation.app import FEDERATION, create_app
from federation.bootstrap import init_node
from federation.config import Settings, load_settings
from federation.node import Node as OpenedNode
from federation.plugins import build_plugins
from federation.protocol import persistence
from federation.protocol.context import FederationContext
from federation.protocol.frames import encode_frame, read_frame
from federation.protocol.puller import PullError, pull_peer
from federation.protocol.signing import sign_request
from federation.serving import NodeRunner
from federation.versions import spoken
from tests.migrated import MigratedDatabases


class NodeTestServer(TestServer):
    """aiohttp's test server, running the app as `regies serve` does (federation.serving.NodeRunner)."""

    async def _make_runner(self, **kwargs: Any) -> BaseRunner:
        return NodeRunner(self.app, **kwargs)


@dataclass
class Node:
    node_id: str
    settings: Settings
    server: TestServer
    token: str
    session: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    @property
    def context(self) -> FederationContext:
        return self.server.app[FEDERATION]

    @property
    def opened(self) -> OpenedNode:
        """The node its app opened (federation.node), as commands and plugins get it."""
        return self.server.app[appkeys.NODE]

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def create(self, collection: str, body: dict[str, Any]) -> dict[str, Any]:
        async with self.session.post(f"{self.url}/api/v1/{collection}", json=body, headers=self.auth) as response:
            assert response.status == 201, await response.text()
            created: dict[str, Any] = await response.json()
            return created

    async def put(self, collection: str, record_id: str, body: dict[str, Any]) -> dict[str, Any]:
        url = f"{self.url}/api/v1/{collection}/{record_id}"
        async with self.session.put(url, json=body, headers=self.auth) as response:
            assert response.status == 200, await response.text()
            updated: dict[str, Any] = await response.json()
            return updated

    async def delete(self, collection: str, record_id: str) -> None:
        async with self.session.delete(f"{self.url}/api/v1/{collection}/{record_id}", headers=self.auth) as response:
            assert response.status == 204, await response.text()

    async def get(self, path: str, **kwargs: Any) -> tuple[int, Any]:
        async with self.session.get(f"{self.url}{path}", **kwargs) as response:
            return response.status, await response.json()

    async def add_peer(
        self, other: Node, *, push: bool = False, pull: bool = True, role: str = "peer", via: str | None = None
    ) -> None:
        """Pin `other`'s keys from its discovery document, as `regies peer add` does; reached at `via` (a proxy's
        URL) if given, which `other` must name as its own (`behind`)."""
        remote = await self.context.client.fetch_discovery(via or other.url)
        await persistence.save_peer(
            self.context.engine,
            node_id=remote.node_id,
            name=remote.name,
            base_url=remote.base_url,
            keys=remote.keys,
            role=role,
            pull=pull,
            push=push,
            speaks=spoken(remote.document),
        )

    def behind(self, proxy_url: str) -> None:
        """This node is reached through a proxy at `proxy_url`: it names that URL as its own (`server.base_url`),
        as a node behind a reverse proxy does, so that signatures made for the proxy's URL verify here."""
        self.settings.server.base_url = proxy_url

    async def records(self, origin: str, kind: str = "activity") -> dict[str, dict[str, Any]]:
        """Every live record of `origin` of this kind, by id, read through the API."""
        found: dict[str, dict[str, Any]] = {}
        collection = {"activity": "activities", "resource": "resources", "report": "reports"}[kind]
        url = f"/api/v1/{collection}?origin={origin}&limit=500"
        while url:
            status, page = await self.get(url, headers=self.auth)
            assert status == 200, page
            found.update({item["id"]: item for item in page["items"]})
            url = (
                f"/api/v1/{collection}?origin={origin}&limit=500&cursor={page['next_cursor']}"
                if page["next_cursor"]
                else ""
            )
        return found


NodeFactory = Callable[..., Awaitable[Node]]


async def signed_call(
    sender: Node, receiver: Node, method: str, path: str, body: bytes | None = None, **headers: str
) -> tuple[int, Any, Any]:
    """A request to `receiver` signed by `sender`'s key, with extra `headers` (`Regies_Protocol="2.0"`): the answer's
    status, JSON body (a problem's detail included, which the federation client does not pass on) and headers."""
    url = f"{receiver.url}{path}"
    kid, key = sender.context.identity.keys.signing
    signed = sign_request(method, url, body, node_id=sender.node_id, kid=kid, private_key=key)
    if body is not None:
        signed["Content-Type"] = "application/json"
    signed.update({name.replace("_", "-"): value for name, value in headers.items()})
    async with sender.session.request(method, url, data=body, headers=signed) as answer:
        return answer.status, await answer.json(content_type=None), answer.headers


@pytest.fixture
async def make_node(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    request: pytest.FixtureRequest,
    migrated_databases: MigratedDatabases,
) -> AsyncIterator[NodeFactory]:
    """`await make_node("rq-a")` → an initialised node serving on 127.0.0.1 (SQLite unless `database_url`)."""
    for key in list(os.environ):
        if key.startswith("REGIES_") and key != "REGIES_TEST_POSTGRES_URL":
            monkeypatch.delenv(key)
    servers: list[TestServer] = []
    sessions: list[aiohttp.ClientSession] = []

    async def factory(
        node_id: str,
        database_url: str | None = None,
        extra_plugins: list[tuple[str, object]] | None = None,
        plugin_settings: dict[str, Any] | None = None,
        web: dict[str, Any] | None = None,
        **federation: Any,
    ) -> Node:
        # Every node of a test is on 127.0.0.1: contacting loopback addresses over http is allowed explicitly.
        overrides: dict[str, Any] = {"federation": {"worker": False, "allow_private_addresses": True, **federation}}
        if plugin_settings:
            overrides["plugins"] = plugin_settings
        if web:
            overrides["web"] = web
        if database_url:
            overrides["database"] = {"url": database_url}
        settings = load_settings(data_dir=tmp_path / node_id, overrides=overrides)
        await migrated_databases.fill(settings.database_url)
        result = await init_node(settings, name=f"Régie {node_id}", node_id=node_id)
        assert result.admin_token
        plugins = build_plugins(extra=extra_plugins, settings=settings.plugins.sections()) if extra_plugins else None
        server = NodeTestServer(create_app(settings, plugins), host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        # The port is known only now: the node's own URL, which signed requests must name, is set as `init` would.
        settings.server.base_url = str(server.make_url("")).rstrip("/")
        session = aiohttp.ClientSession()
        sessions.append(session)
        return Node(node_id, settings, server, result.admin_token, session)

    yield factory
    for session in sessions:
        await session.close()
    for server in servers:
        await server.close()


def activity(n: int, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "category": "urban_management",
        "service_type": "green_spaces",
        "title": f"Espaces verts n°{n}",
        "place": {"commune": "93066"},
        "details": {"surface_m2": 100 * n},
    }
    body.update(overrides)
    return body


def frames(*messages: tuple[Any, ...]) -> io.BytesIO:
    """What a pull writes to one of its child processes (federation.protocol.frames), as a stream."""
    return io.BytesIO(b"".join(encode_frame(message) for message in messages))


def answers(stream: io.BytesIO) -> list[tuple[Any, ...]]:
    """The messages a child process wrote to `stream`."""
    written = io.BytesIO(stream.getvalue())
    return list(iter(lambda: read_frame(written), None))


async def failed_pull(node: Node, origin: str, match: str) -> persistence.Peer:
    """Pull `origin` into `node`, expecting a PullError matching `match`; the peer as recorded afterwards."""
    peer = await persistence.get_peer(node.context.engine, origin)
    assert peer is not None
    with pytest.raises(PullError, match=match):
        await pull_peer(node.context, peer)
    peer = await persistence.get_peer(node.context.engine, origin)
    assert peer is not None
    return peer


async def make_pair(
    make_node: NodeFactory, records: int, extra: list[tuple[str, object]] | None = None, **settings: Any
) -> tuple[Node, Node]:
    """rq-a with `records` activities, and rq-b pulling from it in pages of 2 (`settings`: rq-b's federation)."""
    a = await make_node("rq-a")
    b = await make_node("rq-b", batch_size=2, extra_plugins=extra, **settings)
    await a.add_peer(b)
    await b.add_peer(a)
    for n in range(records):
        await a.create("activities", activity(n))
    return a, b


class ReplicaListener:
    """A plugin that notes the id of every record it hears of through `records_replicated`."""

    def __init__(self) -> None:
        self.heard: list[str] = []

    @hookimpl
    def records_replicated(self, origin: str, records: Any, node: Any) -> None:
        self.heard.extend(document["id"] for document in records)
