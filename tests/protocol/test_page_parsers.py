"""Parser processes of a pull: their frame protocol, answers in feed order, refusals, a parser or the peer lost
mid-pull."""

from __future__ import annotations

import asyncio
import gc
import io
import json
import struct
import uuid
from typing import Any

import pytest
from aiohttp.test_utils import TestServer

from federation import hookimpl
from federation.app import create_app
from federation.protocol import persistence, puller
from federation.protocol.apply import BatchRejected, page_rows
from federation.protocol.page_parsers import PageParsers, serve
from federation.protocol.persistence import feed_item
from federation.protocol.puller import PullError, pull_peer
from federation.schema.kinds import RecordKinds
from federation.schema.records import Activity
from federation.storage.mapping import encode_body, to_micros
from tests.protocol.conftest import NodeFactory, ReplicaListener, activity, answers, failed_pull, frames, make_pair


def feed_page(origin: str, numbers: range, *, record_origin: str | None = None, more: bool = True) -> bytes:
    """A feed page as a serving node writes it (persistence.feed_item around canonical bodies)."""
    items = []
    for n in numbers:
        record = Activity.model_validate(
            {
                **activity(n),
                "origin": record_origin or origin,
                "id": str(uuid.UUID(int=n + 1)),
                "version": 1,
                "updated_at": "2026-01-02T03:04:05Z",
            }
        )
        items.append(
            feed_item(
                json.dumps(record.origin), "activity", str(record.id), 1, to_micros(record.updated_at), False,
                encode_body(record),
            )
        )  # fmt: skip
    return (
        f'{{"origin":{json.dumps(origin)},"records":[{",".join(items)}],"next_cursor":"c{numbers.stop}",'
        f'"more":{json.dumps(more)},"remaining":7}}'
    ).encode()


def test_a_parser_answers_rows_or_a_refusal_for_each_page() -> None:
    out = io.BytesIO()
    incoming = frames(
        (feed_page("rq-a", range(3)), "rq-a", ()),
        (feed_page("rq-a", range(3, 4), record_origin="rq-x"), "rq-a", ()),  # a record that is not the sender's
        (b'{"origin":"rq-a","records":[{"kind":"activity"}],"next_cursor":"c"}', "rq-a", ()),
        (feed_page("rq-a", range(4, 6), more=False), "rq-a", ()),
    )
    assert serve(incoming, out) == 0
    ready, first, spoofed, invalid, last = answers(out)
    assert ready == ("ready",)
    expected = page_rows(feed_page("rq-a", range(3)), "rq-a")
    assert first == ("page", expected.rows, "c3", True, 7)
    assert spoofed[:2] == ("rejected", 403) and "has origin 'rq-x' but the batch comes from 'rq-a'" in spoofed[2]
    assert invalid[:2] == ("rejected", 422) and invalid[2].startswith("invalid feed page:")
    assert last[0] == "page" and len(last[1]) == 2 and last[2:] == ("c6", False, 7)


def test_a_broken_frame_is_reported_and_the_parser_exits() -> None:
    out = io.BytesIO(b"")
    incoming = io.BytesIO(struct.pack(">I", 3) + b"\xff\xff\xff")  # not marshal data
    assert serve(incoming, out) == 1
    ready, (kind, message) = answers(out)
    assert ready == ("ready",) and kind == "error" and "marshal" in message


async def test_pages_come_back_in_the_order_they_were_given() -> None:
    parsers = await PageParsers.start(2)
    try:
        pages = [feed_page("rq-a", range(first, first + 5)) for first in range(0, 40, 5)]
        pages[5] = feed_page("rq-a", range(25, 30), record_origin="rq-x")
        futures = []
        for raw in pages:
            future = None
            while future is None:  # None until a parser's start-up is done
                future = await parsers.parse(raw, "rq-a")
                if future is None:
                    await asyncio.sleep(0.01)
            futures.append(future)
        for number, future in enumerate(futures):
            if number == 5:
                with pytest.raises(BatchRejected) as refused:
                    await future
                assert refused.value.status == 403
            else:
                page = await future
                assert page.next_cursor == f"c{number * 5 + 5}"
                assert page.rows == page_rows(pages[number], "rq-a").rows
    finally:
        await parsers.close()


@pytest.fixture
def parsers_started(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, PageParsers]]:
    """The parser processes each pull starts (count, handle); a start returns once a parser is ready, so that
    the pull's next pages go to it rather than being parsed in place while it imports."""
    started: list[tuple[int, PageParsers]] = []
    original_start = PageParsers.start

    async def start(count: int, kinds: RecordKinds) -> PageParsers:
        parsers = await original_start(count, kinds)
        started.append((count, parsers))
        try:
            while not parsers.ready:  # noqa: ASYNC110 (a parser's start-up has no event to wait on)
                await asyncio.sleep(0.01)
        except asyncio.CancelledError:  # the pull was cancelled while this wait held its parsers: they end with it
            await parsers.close()
            raise
        return parsers

    monkeypatch.setattr(PageParsers, "start", staticmethod(start))
    return started


async def test_a_long_backlog_is_parsed_by_parser_processes(
    make_node: NodeFactory, parsers_started: list[tuple[int, PageParsers]], database_url: str
) -> None:
    listener = ReplicaListener()
    a, b = await make_pair(
        make_node, 60, extra=[("listener", listener)], database_url=database_url, pull_parse_workers=1
    )
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None

    progress = await pull_peer(b.context, peer)

    ((count, parsers),) = parsers_started
    assert count == 1  # as configured: one parser process
    assert parsers.pages > 0  # and it parsed pages of the backlog
    assert (progress.pages, progress.received, progress.remaining) == (31, 61, 0)
    replicas = await b.records("rq-a")
    assert len(replicas) == 60
    status, origin_copy = await a.get("/api/v1/activities?limit=100", headers=a.auth)
    assert status == 200 and {item["id"]: item for item in origin_copy["items"]} == replicas
    # Each record once, the node profile included.
    assert len(listener.heard) == 61 and set(listener.heard) >= set(replicas)
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None and peer.lag == 0 and peer.last_error is None


async def test_short_pulls_and_zero_workers_parse_in_place(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[int] = []

    async def start(count: int, kinds: RecordKinds) -> PageParsers:
        started.append(count)
        raise AssertionError("no parser process expected")

    monkeypatch.setattr(PageParsers, "start", staticmethod(start))
    a, b = await make_pair(make_node, 15, pull_parse_workers=1)  # 8 pages of 2: below PARSERS_AFTER_PAGES
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None
    assert (await pull_peer(b.context, peer)).received == 16

    for n in range(15, 30):
        await a.create("activities", activity(n))
    c = await make_node("rq-c", batch_size=2, pull_parse_workers=0)  # 16 pages: long enough, but no workers
    await a.add_peer(c)
    await c.add_peer(a)
    peer = await persistence.get_peer(c.context.engine, "rq-a")
    assert peer is not None
    assert (await pull_peer(c.context, peer)).received == 31
    assert started == []


async def test_a_parser_that_dies_mid_pull_fails_the_pull_and_the_next_pull_completes(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    original_start = PageParsers.start

    async def start_then_die(count: int, kinds: RecordKinds) -> PageParsers:
        parsers = await original_start(count, kinds)
        for parser in parsers._parsers:
            await parser.child.kill()
        await asyncio.wait([parser.answers for parser in parsers._parsers])  # each has seen its child end
        return parsers

    monkeypatch.setattr(puller, "PARSERS_AFTER_PAGES", 1)
    monkeypatch.setattr(PageParsers, "start", staticmethod(start_then_die))
    _, b = await make_pair(make_node, 15, pull_parse_workers=1)

    peer = await failed_pull(b, "rq-a", r"a page parser process ended unexpectedly \(exit status -9\)")
    assert "page parser" in (peer.last_error or "")
    assert "set [federation] pull_parse_workers = 0" in (peer.last_error or "")  # what to do if it recurs
    kept = len(await b.records("rq-a"))
    assert kept < 15  # what was parsed in place before the parsers were ready

    monkeypatch.setattr(PageParsers, "start", original_start)
    progress = await pull_peer(b.context, peer)
    assert progress.remaining == 0 and progress.received == 16 - (kept + 1)
    assert len(await b.records("rq-a")) == 15


async def test_a_peer_lost_mid_pull_fails_it_cleanly_and_the_next_pull_resumes(
    make_node: NodeFactory,
    parsers_started: list[tuple[int, PageParsers]],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Commits (and so reports to plugins) every two pages, and the pull not far ahead of them: the peer goes away
    # while the pull still has most of its backlog to fetch.
    monkeypatch.setattr(puller, "GROUP_ROWS", 4)
    monkeypatch.setattr(puller, "MAX_UNREPORTED_ROWS", 8)
    sources: list[TestServer] = []
    closing: list[asyncio.Task[None]] = []

    class LoseThePeer:
        """Stops the serving node once 10 records are committed, while the parser holds pages of the backlog."""

        heard = 0

        @hookimpl
        def records_replicated(self, origin: str, records: Any, node: Any) -> None:
            self.heard += len(records)
            if self.heard >= 10 and not closing:
                closing.append(asyncio.create_task(sources[0].close()))

    a, b = await make_pair(make_node, 60, extra=[("lose-the-peer", LoseThePeer())], pull_parse_workers=1)
    sources.append(a.server)
    port = a.server.port  # forgotten by the server once closed
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None

    with pytest.raises(PullError, match="pull from rq-a failed"):
        await pull_peer(b.context, peer)
    await asyncio.gather(*closing)
    ((_, parsers),) = parsers_started
    assert parsers.pages > 0
    gc.collect()  # an exception nobody retrieved would be logged now
    assert not [record for record in caplog.records if "never retrieved" in record.getMessage()]
    kept = len(await b.records("rq-a"))
    assert 0 < kept < 60

    a.server = TestServer(create_app(a.settings), host="127.0.0.1", port=port)
    await a.server.start_server()
    try:
        peer = await persistence.get_peer(b.context.engine, "rq-a")
        assert peer is not None
        progress = await pull_peer(b.context, peer)
        assert progress.remaining == 0
        assert len(await b.records("rq-a")) == 60
    finally:
        await a.server.close()


async def test_a_pull_cancelled_mid_way_ends_its_helpers_and_the_next_pull_goes_on(
    make_node: NodeFactory, parsers_started: list[tuple[int, PageParsers]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # What Ctrl-C does to `regies sync` (asyncio.run cancels it): the pull must end, not wait for its helpers.
    monkeypatch.setattr(puller, "GROUP_ROWS", 4)  # commits, and so progress reports, every two pages
    _a, b = await make_pair(make_node, 60, pull_parse_workers=1)
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None
    # The seventh page never comes (a peer gone quiet), so however loaded the machine, the pull is still under way
    # when it is cancelled, once (one Ctrl-C), from its first progress report (after its first commit).
    requested, quiet = 0, True
    request = puller._Pull._request

    def quiet_after_six_pages(pull: puller._Pull, cursor: str) -> Any:
        nonlocal requested
        requested += 1
        if requested <= 6 or not quiet:
            return request(pull, cursor)
        loop = asyncio.get_running_loop()
        return asyncio.ensure_future(loop.create_future()), loop.create_future()

    monkeypatch.setattr(puller._Pull, "_request", quiet_after_six_pages)
    reports: list[object] = []

    def cancel_at_first_report(progress: object) -> None:
        if not reports:
            pull.cancel()
        reports.append(progress)

    pull: asyncio.Task[Any] = asyncio.create_task(pull_peer(b.context, peer, on_page=cancel_at_first_report))
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(pull, timeout=10)
    ((_, parsers),) = parsers_started
    assert all(parser.child._process.returncode is not None for parser in parsers._parsers)  # none left behind
    kept = len(await b.records("rq-a"))
    assert 0 < kept < 60  # what was committed stays
    quiet = False  # the peer answers again
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None
    await pull_peer(b.context, peer)  # the lease was given back: the next pull runs, from the checkpoint
    assert len(await b.records("rq-a")) == 60
