"""Pulling a feed served by another implementation: cursors of every form docs/protocol.md §7 allows, paging told
by the page's body alone when the optional paging headers are absent, and gzip answers whose Content-Digest covers
the compressed bytes (RFC 9530)."""

from __future__ import annotations

import gzip
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from federation.protocol import persistence
from federation.protocol.puller import pull_peer
from federation.protocol.signing import HttpMessage, SignatureError, sign_response, verify_request
from tests.protocol.conftest import Node, NodeFactory, activity, failed_pull

# Every character RFC 3986 reserves, and `%`, `~` and `"`: a cursor is any printable ASCII but space.
RESERVED = ":@,!*'($/?#[]&=+;%~\"\\"


class OtherFeed:
    """rq-a's records served one per page by another implementation, under rq-a's identity and keys: it checks
    the puller's signature over the request line exactly as received, and signs its answers as §5.6 says."""

    def __init__(self, node: Node, puller: Node, records: list[Any], cursors: list[str], headers: bool) -> None:
        self.identity = node.context.client.identity
        self.puller_key = puller.context.client.identity.keys.signing[1].public_key()
        self.records, self.cursors, self.paging_headers = records, cursors, headers
        # "gzip": compressed, the digest over the bytes sent; "gzip, digest of the content": over the JSON instead.
        self.encoding = "identity"
        self.padding = 0  # characters of an extra top-level member (ignored by readers) in every page
        self.requested: list[str] = []
        self.url = ""
        self.discovery_document: dict[str, Any] = {}  # rq-a's, served with this feed's address as its base URL

    async def discovery(self, request: web.Request) -> web.Response:
        document = dict(self.discovery_document)
        document["base_url"] = self.url
        if self.encoding == "identity":
            return web.json_response(document)
        compressed = gzip.compress(json.dumps(document).encode())
        return web.Response(body=compressed, content_type="application/json", headers={"Content-Encoding": "gzip"})

    async def changes(self, request: web.Request) -> web.Response:
        target = self.url + request.raw_path
        try:
            verify_request("GET", target, request.headers, b"", self.puller_key)
        except SignatureError as exc:
            return web.json_response({"detail": str(exc)}, status=401)
        since = request.query.get("since", "")
        self.requested.append(since)
        if since and since not in self.cursors:
            return web.json_response({"detail": "unknown cursor"}, status=400)
        index = self.cursors.index(since) + 1 if since else 0
        more = index + 1 < len(self.records)
        page = {
            "origin": self.identity.node_id,
            "records": self.records[index : index + 1],
            "next_cursor": self.cursors[index],
            "more": more,
            "remaining": len(self.records) - index - 1,
            **({"padding": " " * self.padding} if self.padding else {}),
        }
        content = json.dumps(page).encode()
        body = content if self.encoding == "identity" else gzip.compress(content)
        kid, private_key = self.identity.keys.signing
        signature = sign_response(
            200,
            content if self.encoding == "gzip, digest of the content" else body,
            HttpMessage("GET", target, request.headers),
            node_id=self.identity.node_id,
            kid=kid,
            private_key=private_key,
        )
        answer = web.Response(body=body, content_type="application/json", headers=signature)
        if self.encoding != "identity":
            answer.headers["Content-Encoding"] = "gzip"
        if self.paging_headers:
            answer.headers["Regies-Next-Cursor"] = self.cursors[index]
            answer.headers["Regies-More"] = "true" if more else "false"
        return answer


Serve = Callable[..., Any]


@pytest.fixture
async def other_feed(make_node: NodeFactory) -> AsyncIterator[Serve]:
    """`await other_feed(cursors, headers=...)` → (rq-b pulling, the feed, rq-a's records): rq-b has rq-a as a
    peer reached at the other implementation's address, which serves rq-a's records (its profile, then one
    activity per further cursor) one per page."""
    servers: list[TestServer] = []

    async def serve(
        cursors: list[str], headers: bool = True, encoding: str = "identity", **puller: Any
    ) -> tuple[Node, OtherFeed, list[Any]]:
        a, b = await make_node("rq-a"), await make_node("rq-b", **puller)
        await a.add_peer(b)
        for n in range(len(cursors) - 1):
            await a.create("activities", activity(n))
        page = await b.context.client.request("GET", f"{a.url}/federation/v1/changes?since=&limit=100")
        records = page.json()["records"]
        assert len(records) == len(cursors)
        feed = OtherFeed(a, b, records, cursors, headers)
        feed.encoding = encoding  # the discovery document rq-b reads to add the peer too
        _, feed.discovery_document = await a.get("/.well-known/regies-node")
        app = web.Application()
        app.router.add_get("/.well-known/regies-node", feed.discovery)
        app.router.add_get("/federation/v1/changes", feed.changes)
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        servers.append(server)
        feed.url = str(server.make_url("")).rstrip("/")
        await b.add_peer(a, via=feed.url)
        return b, feed, records

    yield serve
    for server in servers:
        await server.close()


def activity_ids(records: list[Any]) -> set[str]:
    return {record["id"] for record in records if record["kind"] == "activity"}


async def pulled(b: Node) -> tuple[int, persistence.Peer]:
    """One pull of rq-a by rq-b: the pages it applied, and the peer as recorded afterwards."""
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None
    progress = await pull_peer(b.context, peer)
    after = await persistence.get_peer(b.context.engine, "rq-a")
    assert after is not None and after.last_error is None
    return progress.pages, after


async def test_cursors_with_reserved_characters_are_sent_as_signed_and_the_feed_is_pulled_to_the_end(
    other_feed: Serve,
) -> None:
    cursors = ["p:26", "@,!*'($", RESERVED]
    b, feed, records = await other_feed(cursors)

    pages, peer = await pulled(b)

    assert pages == 3
    assert feed.requested == ["", "p:26", "@,!*'($"]  # each cursor came back verbatim, and each request verified
    assert peer.cursor == RESERVED
    assert set(await b.records("rq-a")) == activity_ids(records)


async def test_a_cursor_of_1024_characters_is_followed_and_a_longer_one_refused(
    other_feed: Serve, database_url: str
) -> None:
    longest = (RESERVED * 60)[:1024]
    other = longest[:-1] + "1"
    b, feed, records = await other_feed([longest, other, longest + "!"], database_url=database_url)

    peer = await failed_pull(b, "rq-a", "next_cursor")

    assert feed.requested == ["", longest, other]  # both sent whole, and both signed as sent
    assert peer.cursor == other  # the page with the cursor one character too long moved nothing
    assert set(await b.records("rq-a")) == activity_ids(records[:2])


async def test_a_cursor_with_a_space_is_refused(other_feed: Serve) -> None:
    b, _, _ = await other_feed(["c 1", "c2", "c3"])

    peer = await failed_pull(b, "rq-a", "next_cursor")

    assert peer.cursor is None
    assert await b.records("rq-a") == {}


async def test_a_feed_without_paging_headers_is_followed_through_its_bodies(other_feed: Serve) -> None:
    b, feed, records = await other_feed(["c1", "c2", "c3"], headers=False)

    pages, peer = await pulled(b)

    assert pages == 3
    assert feed.requested == ["", "c1", "c2"]
    assert peer.cursor == "c3"
    assert set(await b.records("rq-a")) == activity_ids(records)


async def test_a_gzip_feed_whose_digest_covers_the_bytes_sent_is_pulled_to_the_end(other_feed: Serve) -> None:
    b, _, records = await other_feed(["c1", "c2", "c3"], encoding="gzip")  # its discovery document compressed too

    pages, peer = await pulled(b)

    assert (pages, peer.cursor) == (3, "c3")
    assert set(await b.records("rq-a")) == activity_ids(records)


async def test_a_gzip_answer_whose_digest_covers_the_decompressed_content_is_refused(other_feed: Serve) -> None:
    b, feed, _ = await other_feed(["c1", "c2", "c3"])
    feed.encoding = "gzip, digest of the content"

    peer = await failed_pull(b, "rq-a", "Content-Digest does not match")

    assert peer.cursor is None
    assert await b.records("rq-a") == {}


async def test_a_gzip_answer_inflating_past_the_answer_bound_is_refused(other_feed: Serve) -> None:
    b, feed, _ = await other_feed(["c1", "c2", "c3"], max_answer_bytes=1 << 20)
    feed.encoding, feed.padding = "gzip", 4 << 20  # a few kilobytes on the wire, 4 MiB once decompressed

    peer = await failed_pull(b, "rq-a", "decompressed answer is larger than the 1048576 bytes accepted")

    assert peer.cursor is None
    assert await b.records("rq-a") == {}
