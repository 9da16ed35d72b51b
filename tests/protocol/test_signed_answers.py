"""Signed answers: a feed page altered on the way, a forged inbox receipt or a replayed answer is never used."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from federation.protocol import persistence, sender
from federation.protocol.puller import PullError, pull_peer
from tests.protocol.conftest import Node, NodeFactory, activity

Answer = tuple[int, dict[str, str], bytes]


class Interceptor:
    """An HTTP proxy on 127.0.0.1 in front of one node; `mode` says what it does to the traffic."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.mode = "honest"
        self.seen: dict[str, Answer] = {}
        self.session = aiohttp.ClientSession(auto_decompress=False)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if self.mode == "forge-receipt" and request.path == "/federation/v1/inbox":
            return web.json_response({"batch_id": "x", "status": "applied", "received": 1, "applied": 1}, status=202)
        if self.mode == "replay" and request.path_qs in self.seen:
            status, headers, payload = self.seen[request.path_qs]
            return web.Response(status=status, headers=headers, body=payload)
        skip = {"content-length", "transfer-encoding", "connection"}
        headers = {k: v for k, v in request.headers.items() if k.lower() not in skip}
        async with self.session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body
        ) as upstream:
            payload = await upstream.read()
            answer_headers = {k: v for k, v in upstream.headers.items() if k.lower() not in skip}
            status = upstream.status
        self.seen[request.path_qs] = (status, answer_headers, payload)
        if self.mode == "tamper" and request.path == "/federation/v1/changes":
            page = json.loads(payload)
            for record in page["records"]:
                if record.get("payload"):
                    record["payload"]["title"] = "Titre falsifié en route"
            payload = json.dumps(page).encode()
        return web.Response(status=status, headers=answer_headers, body=payload)


@pytest.fixture
async def intercepted(make_node: NodeFactory) -> AsyncIterator[Callable[[Node], Any]]:
    servers: list[TestServer] = []
    interceptors: list[Interceptor] = []

    async def put_in_front(node: Node) -> tuple[Interceptor, str]:
        interceptor = Interceptor(node.url)
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", interceptor.handle)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        interceptors.append(interceptor)
        via = str(server.make_url("")).rstrip("/")
        node.behind(via)
        return interceptor, via

    yield put_in_front
    for interceptor in interceptors:
        await interceptor.session.close()
    for server in servers:
        await server.close()


async def pulling_through_interceptor(
    make_node: NodeFactory, intercepted: Callable[[Node], Any]
) -> tuple[Node, Node, Interceptor, persistence.Peer]:
    """rq-b pulls from rq-a through an interceptor; rq-a has one activity."""
    a, b = await make_node("rq-a"), await make_node("rq-b")
    interceptor, via = await intercepted(a)
    await a.add_peer(b)
    await b.add_peer(a, via=via)
    await a.create("activities", activity(1))
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None
    return a, b, interceptor, peer


async def test_a_feed_page_altered_on_the_way_is_refused_and_nothing_is_stored(
    make_node: NodeFactory, intercepted: Callable[[Node], Any]
) -> None:
    _, b, interceptor, peer = await pulling_through_interceptor(make_node, intercepted)

    interceptor.mode = "tamper"
    with pytest.raises(PullError, match="Content-Digest does not match"):
        await pull_peer(b.context, peer)
    assert await b.records("rq-a") == {}
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None and peer.cursor is None

    interceptor.mode = "honest"
    await pull_peer(b.context, peer)
    (replica,) = (await b.records("rq-a")).values()
    assert replica["title"] == activity(1)["title"]


async def test_a_replayed_answer_does_not_answer_a_new_request(
    make_node: NodeFactory, intercepted: Callable[[Node], Any]
) -> None:
    _, b, interceptor, peer = await pulling_through_interceptor(make_node, intercepted)
    await pull_peer(b.context, peer)  # the honest answer to "since=" is recorded by the interceptor

    interceptor.mode = "replay"
    async with b.context.engine.begin() as connection:
        await persistence.set_checkpoint(connection, "rq-a", "", None)
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None
    with pytest.raises(PullError, match="the answer's signature check failed"):
        await pull_peer(b.context, peer)


async def test_a_forged_inbox_receipt_does_not_count_as_delivery(
    make_node: NodeFactory, intercepted: Callable[[Node], Any]
) -> None:
    a, b = await make_node("rq-a", retry_initial_s=0.05), await make_node("rq-b")
    interceptor, via = await intercepted(b)
    await b.add_peer(a, pull=False)
    await a.add_peer(b, via=via, push=True, pull=False)
    created = await a.create("activities", activity(1))

    interceptor.mode = "forge-receipt"
    assert await sender.push_all(a.context) == {"peer:rq-b": 0}
    (entry,) = await sender.list_outbox(a.context)
    assert entry.state == "pending"  # kept, to be retried
    assert "not signed" in (entry.last_error or "")
    assert await b.records("rq-a") == {}

    interceptor.mode = "honest"
    await asyncio.sleep(0.2)  # the retry is due
    assert await sender.push_all(a.context) == {"peer:rq-b": 1}
    assert await sender.list_outbox(a.context) == []
    assert list(await b.records("rq-a")) == [created["id"]]
