"""Three régies and a hub syncing through misbehaving proxies converge once the network heals."""

from __future__ import annotations

import argparse
import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from regies_hubclient import HubClientSettings
from regies_hubclient.cli import _join
from sqlalchemy import select

from devtools.faultproxy import FAULTS, FaultProxy
from devtools.loadgen import set_checker
from federation.protocol import persistence, sender
from federation.protocol.keys import fingerprint
from federation.protocol.puller import PullError, pull_peer
from federation.storage.tables import outbox_batches, records
from federation.storage.tokens import create_token
from tests.protocol.conftest import Node, NodeFactory, activity

ORIGINS = ("rq-a", "rq-b", "rq-c")
COMMUNES = {"rq-a": "75056", "rq-b": "69123", "rq-c": "13055"}
# Fast retries and no breaker: the test is about convergence, not about the back-off schedule.
SYNC_SETTINGS = {"batch_size": 3, "retry_initial_s": 0.01, "retry_max_s": 0.05, "breaker_threshold": 10_000}


@pytest.fixture
async def echo_upstream() -> AsyncIterator[tuple[int, list[bytes]]]:
    """A tiny server that records the bodies it received and echoes them back."""
    received: list[bytes] = []

    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        received.append(body)
        return web.Response(body=b'{"echo":"' + body + b'"}', content_type="application/json")

    app = web.Application()
    app.router.add_post("/echo", echo)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield site._server.sockets[0].getsockname()[1], received  # type: ignore[union-attr]
    await runner.cleanup()


@pytest.mark.parametrize(
    ("fault", "upstream_bodies", "client_sees"),
    [
        (None, [b"hello"], b'{"echo":"hello"}'),
        ("drop_request", [], "disconnected"),
        ("drop_response", [b"hello"], "disconnected"),
        ("delay", [b"hello"], b'{"echo":"hello"}'),
        ("reorder", [b"hello"], b'{"echo":"hello"}'),
        ("duplicate", [b"hello", b"hello"], b'{"echo":"hello"}'),
        ("truncate_request", [], "disconnected"),
        ("truncate_response", [b"hello"], "disconnected"),
        ("corrupt_request", ["changed"], "changed"),
        ("corrupt_response", [b"hello"], "changed"),
    ],
)
async def test_each_fault_does_what_it_says(
    echo_upstream: tuple[int, list[bytes]], fault: str | None, upstream_bodies: list[object], client_sees: object
) -> None:
    port, received = echo_upstream
    proxy = await FaultProxy(port, seed=3, rate=1.0 if fault else 0.0, faults=[fault] if fault else FAULTS).start()
    try:
        async with aiohttp.ClientSession() as session:
            try:
                async with session.post(f"{proxy.url}/echo", data=b"hello") as response:
                    seen: object = await response.read()
            except aiohttp.ClientError:
                seen = "disconnected"
        await proxy.calm()  # the late copy of a duplicate has arrived
    finally:
        await proxy.close()
    if client_sees == "changed":
        assert isinstance(seen, bytes) and seen != b'{"echo":"hello"}' and len(seen) == len(b'{"echo":"hello"}')
    else:
        assert seen == client_sees
    if upstream_bodies == ["changed"]:
        assert len(received) == 1 and received[0] != b"hello" and len(received[0]) == 5
    else:
        assert received == upstream_bodies
    assert proxy.injected == ({fault: 1} if fault else {})


async def _activity_versions(node: Node, origin: str) -> list[tuple[str, int]]:
    """(id, version) of every activity row of `origin` in the node's database, tombstones and duplicates included."""
    async with node.context.engine.connect() as connection:
        rows = await connection.execute(
            select(records.c.id, records.c.version).where(records.c.origin == origin, records.c.kind == "activity")
        )
        return [(row[0], row[1]) for row in rows]


async def _sync_once(node: Node) -> int:
    """Pull every peer, then deliver the outbox; the number of failed pulls."""
    failures = 0
    for peer in await persistence.list_peers(node.context.engine):
        if peer.pull:
            try:
                await pull_peer(node.context, peer)
            except PullError:
                failures += 1
    await sender.push_all(node.context)
    return failures


async def _change_something(node: Node, rng: random.Random, mine: list[str]) -> None:
    """A few writes by the origin: new activities, an update, now and then a deletion."""
    for _ in range(2):
        mine.append((await node.create("activities", activity(rng.randrange(1, 99))))["id"])
    await node.put("activities", rng.choice(mine), activity(rng.randrange(1, 99), title="Modifiée"))
    if rng.random() < 0.4 and len(mine) > 3:
        await node.delete("activities", mine.pop(rng.randrange(len(mine))))


async def test_nodes_and_hub_converge_once_the_network_heals(make_node: NodeFactory, database_url: str) -> None:
    """The hub runs on SQLite, then on PostgreSQL; the régies on SQLite."""
    rng = random.Random(20261127)
    hub = await make_node("hub-national", database_url, plugin_settings={"hub": {"enabled": True}})
    nodes = [
        await make_node(origin, plugin_settings={"hubclient": {"url": "http://placeholder"}}, **SYNC_SETTINGS)
        for origin in ORIGINS
    ]
    proxies = {
        node.node_id: await FaultProxy(node.server.port, seed=n).start()
        for n, node in enumerate([hub, *nodes])  # type: ignore[arg-type]
    }
    for node in [hub, *nodes]:
        node.behind(proxies[node.node_id].url)
    try:
        # Set-up on a calm network: every régie pulls every other one and joins the hub, all through proxies.
        hub_fingerprint = fingerprint(hub.context.identity.keys.published[0].x)
        for node in nodes:
            profile = {"name": f"Régie {node.node_id}", "kind": "quartier", "commune": COMMUNES[node.node_id]}
            async with node.session.put(f"{node.url}/api/v1/node", json=profile, headers=node.auth) as response:
                assert response.status == 200, await response.text()
            for other in nodes:
                if other is not node:
                    await node.add_peer(other, via=proxies[other.node_id].url)
            config = HubClientSettings(url=proxies[hub.node_id].url, fingerprint=hub_fingerprint)
            assert await _join(argparse.Namespace(url=None, fingerprint=None), node.opened, config) == 0
        coordinator = {"Authorization": f"Bearer {await create_token(hub.context.engine, 'national', 'national')}"}
        async with hub.session.get(f"{hub.url}/plugins/hub/enrolments?state=pending", headers=coordinator) as response:
            pending = (await response.json())["items"]
        assert len(pending) == len(nodes)
        keys = {node.node_id: node.context.identity.keys.published for node in nodes}
        for item in pending:
            url = f"{hub.url}/plugins/hub/enrolments/{item['id']}/approve"
            confirmed = {"fingerprints": [fingerprint(key.x) for key in keys[item["node_id"]]]}
            async with hub.session.post(url, json=confirmed, headers=coordinator) as response:
                assert response.status == 200, await response.text()

        # Storm: every request may be dropped, delayed, duplicated, reordered, truncated or corrupted, while the
        # régies keep writing and all of them sync at once.
        for proxy in proxies.values():
            proxy.misbehave(0.5)
        mine: dict[str, list[str]] = {node.node_id: [] for node in nodes}
        failed_pulls = 0
        for _ in range(8):
            for node in nodes:
                await _change_something(node, rng, mine[node.node_id])
            failed_pulls += sum(await asyncio.gather(*(_sync_once(node) for node in nodes)))
        injected: Counter[str] = Counter()
        for proxy in proxies.values():
            injected.update(proxy.injected)
        assert set(injected) == set(FAULTS), injected
        assert failed_pulls > 0
        retried = 0
        for node in nodes:
            async with node.context.engine.connect() as connection:
                attempts = await connection.scalars(select(outbox_batches.c.attempts))
                retried += sum(1 for count in attempts if count > 1)
        assert retried > 0, "no push was ever retried: the proxies did not disturb the outbox"

        # Calm: once the proxies behave, a few sync rounds bring every side to exactly the origins' records.
        for proxy in proxies.values():
            await proxy.calm()
        expected = {node.node_id: set(await _activity_versions(node, node.node_id)) for node in nodes}
        assert all(len(versions) >= 16 for versions in expected.values())
        sides = [*nodes, hub]
        deadline = time.monotonic() + 20
        while True:
            await asyncio.gather(*(_sync_once(node) for node in nodes))
            checks = {
                (side.node_id, origin): set_checker(expected[origin], await _activity_versions(side, origin))
                for side in sides
                for origin in ORIGINS
                if side.node_id != origin
            }
            if all(c["lost"] == c["duplicated"] == c["unexpected"] == 0 for c in checks.values()):
                break
            assert time.monotonic() < deadline, {side: c for side, c in checks.items() if c["lost"] or c["unexpected"]}
            await asyncio.sleep(0.06)  # past the outbox's longest retry delay
        for node in nodes:
            assert await sender.list_outbox(node.context) == []
    finally:
        for proxy in proxies.values():
            await proxy.close()
