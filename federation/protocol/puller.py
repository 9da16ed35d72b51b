"""Pull replication: page through a peer's change feed, applying each page with its checkpoint atomically."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import msgspec

from federation.protocol import persistence, pull_lease
from federation.protocol.apply import (
    BatchRejected,
    ParsedPage,
    apply_rows,
    check_authors,
    gc_paused,
    page_rows,
)
from federation.protocol.child_process import ChildFailed
from federation.protocol.context import FederationContext
from federation.protocol.page_parsers import PARSE_HERE_AFTER, PageParsers
from federation.protocol.peerkeys import PeerKeys
from federation.protocol.persistence import Peer
from federation.protocol.sqlite_writer import SqliteWriterProcess
from federation.protocol.transport import Response, TransportError
from federation.storage.upsert import Row
from federation.tasks import cancel_and_wait, run_to_end

log = logging.getLogger(__name__)
PREFETCH = 2
# Rows per transaction when an SQLite node catches up on a backlog (see federation.protocol.sqlite_writer).
GROUP_ROWS = 5000
# Rows written but whose commit is not reported yet, beyond which the pull waits for the reports (memory bound:
# they are kept for plugins). Above GROUP_ROWS plus what is in flight, so that a commit is always on its way.
MAX_UNREPORTED_ROWS = 3 * GROUP_ROWS
# How long the pull waits for the next page before committing what the writer holds: the database is never
# held during a real wait on the network, but reading a page that has arrived (a few milliseconds) is not one.
# Committing at each such read made the writer commit after almost every page instead of every 5,000 rows.
LATE_PAGE_S = 0.05
# Pages whose parsing has started and that are not written yet: enough for a parser to have PARSE_HERE_AFTER
# pages and the pulling process one more.
PARSE_AHEAD = PARSE_HERE_AFTER + 1
# Parser processes start when at least this many pages remain: each costs a few hundred milliseconds of CPU to
# start (its imports), about what parsing ten pages in place costs.
PARSERS_AFTER_PAGES = 10


@dataclass
class PullProgress:
    """Reported after every applied page (for progress bars)."""

    peer: str
    received: int = 0
    applied: int = 0
    pages: int = 0
    remaining: int = 0
    started: float = 0.0

    @property
    def rate(self) -> float:
        elapsed = time.monotonic() - self.started
        return self.received / elapsed if elapsed > 0 else 0.0


class PullError(Exception):
    pass


OnPage = Callable[[PullProgress], None] | None


class _PageSink:
    """Writes pages in feed order through the node's engine, one transaction per page with its checkpoint."""

    def __init__(self, context: FederationContext, peer_id: str, progress: PullProgress, on_page: OnPage) -> None:
        self.context = context
        self.peer_id = peer_id
        self.progress = progress
        self.on_page = on_page
        self._writing: asyncio.Task[None] | None = None

    async def write(self, rows: list[Row], cursor: str, remaining: int, more: bool) -> None:
        # One page is written while the next is parsed; writes stay in order.
        await self.settle(raise_errors=True)
        self._writing = asyncio.create_task(self._write(rows, cursor, remaining))

    async def _write(self, rows: list[Row], cursor: str, remaining: int) -> None:
        async with self.context.engine.begin() as connection:
            applied = await apply_rows(self.context.store, connection, rows)
            await persistence.set_checkpoint(connection, self.peer_id, cursor, remaining)
        await self.committed([(rows, len(rows), remaining)], applied)

    async def committed(self, pages: list[tuple[list[Row] | None, int, int]], applied: int) -> None:
        """Pages (rows if plugins want them, count, feed remaining) now durable: tell plugins and the progress bar."""
        progress = self.progress
        for rows, count, remaining in pages:
            if rows:
                await self.context.store.replicated(self.peer_id, rows, self.context.node)
            progress.pages += 1
            progress.received += count
            progress.remaining = remaining
        progress.applied += applied
        if self.on_page is not None and pages:
            self.on_page(progress)

    async def before_wait(self) -> None:
        """The next page is not here yet."""

    async def settle(self, raise_errors: bool = False) -> None:
        """Wait for the write in flight; its errors are raised only if asked (a later failure is reported)."""
        writing, self._writing = self._writing, None
        if writing is None:
            return
        if raise_errors:
            await writing
        elif not writing.done():
            with contextlib.suppress(Exception):
                await writing

    async def finish(self) -> None:
        await self.settle(raise_errors=True)

    async def close(self) -> None:
        writing, self._writing = self._writing, None
        if writing is not None and not writing.done():
            await cancel_and_wait(writing)


class _ProcessPageSink(_PageSink):
    """Writes pages of an SQLite node's backlog through a writer process, several pages per transaction."""

    def __init__(self, parent: _PageSink, writer: SqliteWriterProcess) -> None:
        super().__init__(parent.context, parent.peer_id, parent.progress, parent.on_page)
        self.writer = writer
        self.keep_rows = self.context.store.wants_replicas()
        self.pending: collections.deque[tuple[list[Row] | None, int, int]] = collections.deque()
        self.uncommitted = 0
        self.reported = asyncio.Event()
        self.closing = False
        self.acks = asyncio.create_task(self._read_acks())

    async def _read_acks(self) -> None:
        try:
            while self.pending or not self.closing:
                pages, applied = await self.writer.committed()
                # Pages leave `pending` once reported: it holds every page plugins and progress have not heard of.
                await self.committed(list(itertools.islice(self.pending, pages)), applied)
                for _ in range(pages):
                    self.pending.popleft()
                self.reported.set()
        finally:
            self.reported.set()  # a write waiting for reports then sees that the writer is gone

    async def write(self, rows: list[Row], cursor: str, remaining: int, more: bool) -> None:
        # Reporting commits (plugins' records_replicated, which may read the database) can fall behind parsing;
        # the rows kept for it would then pile up, so parsing waits for it beyond MAX_UNREPORTED_ROWS.
        while sum(count for _, count, _ in self.pending) >= MAX_UNREPORTED_ROWS and not self.acks.done():
            self.reported.clear()
            await self.reported.wait()
        if self.acks.done():
            await self.acks  # the writer failed: raise its error now
        self.uncommitted += len(rows)
        commit = self.uncommitted >= GROUP_ROWS or not more
        self.pending.append((rows if self.keep_rows else None, len(rows), remaining))
        await self.writer.send_page(rows, self.peer_id, cursor, remaining, commit)
        if commit:
            self.uncommitted = 0

    async def before_wait(self) -> None:
        # Never keep the database locked while waiting for the network.
        if self.uncommitted:
            await self.writer.commit()
            self.uncommitted = 0

    async def finish(self) -> None:
        self.closing = True
        if self.uncommitted:
            await self.writer.commit()
            self.uncommitted = 0
        if not self.pending and not self.acks.done():
            await cancel_and_wait(self.acks)  # nothing more to hear of
        else:
            await self.acks  # raises the writer's error, if it failed

    async def settle(self, raise_errors: bool = False) -> None:
        if raise_errors:
            await self.finish()
            return
        with contextlib.suppress(Exception):
            await self.finish()

    async def close(self) -> None:
        # Also retrieves the error of a writer that failed while another error was raised.
        await cancel_and_wait(self.acks)
        await self.writer.close()


class PullBusy(PullError):
    """Another pull of this peer is running, in this process or another one using the node's database."""

    def __init__(self, peer_id: str, holder: str) -> None:
        super().__init__(f"a pull from {peer_id} is already running ({holder})")
        self.peer_id = peer_id
        self.holder = holder


async def pull_peer(
    context: FederationContext,
    peer: Peer,
    on_page: OnPage = None,
    max_pages: int | None = None,
) -> PullProgress:
    """Pull until the peer's feed is exhausted (or `max_pages`); the outcome is recorded on the peer.

    One pull per peer at a time (federation.protocol.pull_lease): PullBusy, before any request and without
    recording anything on the peer, if another one is running.
    """
    try:
        async with pull_lease.held(context.engine, peer.node_id):
            # The checkpoint as the previous pull left it: it may have ended while this one waited for the lease.
            current = await persistence.get_peer(context.engine, peer.node_id) or peer
            return await _Pull(context, current, on_page, max_pages).run()
    except pull_lease.LeaseHeld as exc:  # raised only when taking the lease: nothing was requested
        raise PullBusy(peer.node_id, exc.holder) from exc


class _Pull:
    """The pull itself, under the peer's lease, in named stages that overlap.

    `request_pages` asks the peer for the next pages while `parse_pages` parses the pages that have arrived (on
    the event loop, and with a long backlog in parser processes too) and `write_pages` checks the oldest parsed
    page and hands it to the sink, which applies it with its checkpoint in one transaction (a database thread,
    or on SQLite with a backlog a writer process) and then reports it (plugins, progress). Each stage takes its
    pages from the previous one's queue in feed order and writes stay strictly in that order, each transaction
    moving the checkpoint with the rows it applies, so a crash at any point leaves a prefix of the feed applied
    and the matching checkpoint. `clean_up` stops the stages and helper processes whatever happened; `run`
    records the outcome on the peer.
    """

    def __init__(self, context: FederationContext, peer: Peer, on_page: OnPage, max_pages: int | None) -> None:
        self.context = context
        self.peer = peer
        self.max_pages = max_pages
        self.limit = context.settings.batch_size
        self.kinds = context.registry.kinds
        self.progress = PullProgress(peer=peer.node_id, started=time.monotonic())
        self.peer_keys = PeerKeys(context.engine, context.client, peer)
        # Pages requested, as their bodies' futures in feed order; None once there is no next page to request.
        self.fetches: asyncio.Queue[asyncio.Future[bytes] | None] = asyncio.Queue(maxsize=PREFETCH)
        # Pages being parsed, as futures in feed order (a page parsed here is a future already done).
        self.parsed: asyncio.Queue[asyncio.Future[ParsedPage] | None] = asyncio.Queue(maxsize=PARSE_AHEAD)
        self.network_wait = asyncio.Event()  # set while the next page has not arrived after LATE_PAGE_S
        self.sink = _PageSink(context, peer.node_id, self.progress, on_page)
        self.parsers: PageParsers | None = None
        self.backlog = False

    async def run(self) -> PullProgress:
        """Run the stages to the feed's end; a failure is recorded on the peer and raised as a PullError."""
        self.producer = asyncio.create_task(self.request_pages())
        self.dispatcher = asyncio.create_task(self.parse_pages())
        try:
            with gc_paused():
                await self.write_pages()
        except (TransportError, BatchRejected, PullError, ChildFailed) as exc:
            await self.sink.settle()
            await persistence.record_pull_outcome(self.context.engine, self.peer.node_id, error=str(exc))
            # Not logged here: the caller says it once, in its own way (the worker's log, `regies sync`'s output).
            raise PullError(f"pull from {self.peer.node_id} failed: {exc}") from exc
        finally:
            await run_to_end(self.clean_up())  # even if the pull is cancelled meanwhile: no helper process left behind
        await persistence.record_pull_outcome(self.context.engine, self.peer.node_id, lag=self.progress.remaining)
        return self.progress

    async def request_pages(self) -> None:
        """Stage 1, requesting: from the checkpoint's cursor on, up to PREFETCH pages ahead of parsing.

        Each request starts as soon as the previous answer's headers (Regies-Next-Cursor, Regies-More) arrive, so
        the peer prepares pages while this node parses and writes. A peer that does not send these optional
        headers is paged through its bodies' `more` and `next_cursor`.
        """
        try:
            await self._request_pages()
        except Exception as exc:  # unforeseen: raised by the pull in its turn, never a pull waiting for ever
            failed: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            await self.fetches.put(failed)

    async def _request_pages(self) -> None:
        cursor = self.peer.cursor or ""
        requested = 0
        while True:
            body, headers = self._request(cursor)
            await self.fetches.put(body)
            requested += 1
            waiters: set[asyncio.Future[Any]] = {body, headers}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if not headers.done():
                return  # the request failed before any headers: the parse stage gets its error from the body
            more, next_cursor = _paging_headers(headers.result()) or await _paging_in_body(body)
            if not more or not next_cursor or (self.max_pages is not None and requested >= self.max_pages):
                await self.fetches.put(None)
                return
            cursor = next_cursor

    def _request(self, cursor: str) -> tuple[asyncio.Task[bytes], asyncio.Future[Mapping[str, str]]]:
        """The signed request for the page after `cursor`: its body, and its headers as soon as they arrive."""
        headers: asyncio.Future[Mapping[str, str]] = asyncio.get_running_loop().create_future()

        def seen(answer: Mapping[str, str]) -> None:
            if not headers.done():
                headers.set_result(answer)

        # Every character but letters, digits and `-._~` percent-encoded: the URL is sent as signed.
        url = f"{self.peer.base_url}/federation/v1/changes?since={quote(cursor, safe='')}&limit={self.limit}"
        request = self.context.client.request("GET", url, on_headers=seen, signed_by=self.peer_keys)
        return asyncio.create_task(_body(request)), headers

    async def parse_pages(self) -> None:
        """Stage 2, parsing: each page as it arrives, in feed order, here or (a long backlog) in parser processes.

        A page that failed (its request or its parsing) is passed on as a failed future and ends this stage:
        the write stage raises its error when it reaches it, after the pages before it are written.
        """
        while (fetch := await self.fetches.get()) is not None:
            await self._arrival(fetch)
            try:
                page = await self._parse(fetch.result())
            except Exception as exc:  # raised by the pull in feed order; anything unforeseen too (it waited for ever)
                failed: asyncio.Future[ParsedPage] = asyncio.get_running_loop().create_future()
                failed.set_exception(exc)
                await self.parsed.put(failed)
                return
            await self.parsed.put(page)
            if self.producer.done() and self.fetches.empty():
                break  # the request stage stopped at a request that failed before its headers
        await self.parsed.put(None)

    async def _arrival(self, fetch: asyncio.Future[bytes]) -> None:
        """Wait for a page's body, telling the write stage when this is a real wait on the network."""
        if fetch.done():
            return
        await asyncio.wait({fetch}, timeout=LATE_PAGE_S)
        if not fetch.done():
            self.network_wait.set()
            await asyncio.wait({fetch})
            self.network_wait.clear()

    async def _parse(self, raw: bytes) -> asyncio.Future[ParsedPage]:
        """The page's rows, as a future: queued to a parser process if one is free, else parsed here at once."""
        queued = await self.parsers.parse(raw, self.peer.node_id) if self.parsers is not None else None
        if queued is not None:
            return queued
        page: asyncio.Future[ParsedPage] = asyncio.get_running_loop().create_future()
        page.set_result(page_rows(raw, self.peer.node_id, self.kinds))
        return page

    async def write_pages(self) -> None:
        """Stage 3, writing: check each parsed page in feed order, then the sink applies it with its checkpoint.

        The sink reports a page (plugins' records_replicated, the progress bar) once its transaction has
        committed, never before: what plugins hear of is durable.
        """
        while (next_page := await self.parsed.get()) is not None:
            if not next_page.done():
                await self._late(next_page)
            page = next_page.result()
            self._check(page)
            if page.more and not self.backlog:
                await self._start_backlog(page)
            await self.sink.write(page.rows, page.next_cursor, page.remaining, page.more)
            del page, next_page  # not kept while waiting for the next page
        await self.sink.finish()

    def _check(self, page: ParsedPage) -> None:
        """Refuse a page longer than asked for, or carrying records its sender may not author."""
        if len(page.rows) > self.limit:
            raise PullError(f"the peer answered {len(page.rows)} records to a request for at most {self.limit}")
        check_authors(page.rows, self.peer.is_hub, self.kinds)

    async def _start_backlog(self, page: ParsedPage) -> None:
        """The first page says more follow: start the helpers a backlog is worth.

        Parser processes if the backlog is long enough to repay their start-up and, on SQLite, a writer process,
        which takes this first page too: it starts in less time than this page took to write the usual way
        (measured: 115 ms, the next page waiting for it).
        """
        self.backlog = True
        workers = self.context.settings.pull_parse_workers
        if workers and page.remaining >= PARSERS_AFTER_PAGES * self.limit:
            self.parsers = await PageParsers.start(workers, self.kinds)
        engine = self.context.engine
        if engine.dialect.name == "sqlite" and engine.url.database:
            await self.sink.finish()
            self.sink = _ProcessPageSink(self.sink, await SqliteWriterProcess.start(engine.url.database))

    async def _late(self, next_page: asyncio.Future[ParsedPage]) -> None:
        """The next page is not parsed yet. What the sink holds is committed only once the pull really waits for the
        network (the event loop reads sockets only while the pull waits: a page that has arrived is not late)."""
        while not next_page.done():
            if self.network_wait.is_set():
                await self.sink.before_wait()
                await asyncio.wait({next_page})
                return
            waiting = asyncio.create_task(self.network_wait.wait())
            either: set[asyncio.Future[Any]] = {next_page, waiting}
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            waiting.cancel()

    async def clean_up(self) -> None:
        """Stop the stages, retrieve what they left in their queues, close the helper processes and the sink."""
        await cancel_and_wait(self.producer, self.dispatcher)
        leftovers = [self.fetches.get_nowait() for _ in range(self.fetches.qsize())]
        await cancel_and_wait(*[leftover for leftover in leftovers if leftover is not None])
        while not self.parsed.empty():
            pending = self.parsed.get_nowait()
            if pending is not None and pending.done() and not pending.cancelled():
                pending.exception()  # retrieved: a page that failed after the pull had already stopped
        if self.parsers is not None:
            log.debug("pull from %s: %d pages parsed in parser processes", self.peer.node_id, self.parsers.pages)
            await self.parsers.close()
        await self.sink.close()


class _Paging(msgspec.Struct):
    """What a feed page's body says about the next one (its records are skipped, not decoded)."""

    next_cursor: str = ""
    more: bool = False


_PAGING = msgspec.json.Decoder(_Paging)


def _paging_headers(headers: Mapping[str, str]) -> tuple[bool, str] | None:
    """(more, next cursor) from the optional `Regies-More` / `Regies-Next-Cursor` headers; None without them."""
    more = headers.get("Regies-More")
    if more is None:
        return None
    return more == "true", headers.get("Regies-Next-Cursor", "")


async def _paging_in_body(fetch: asyncio.Task[bytes]) -> tuple[bool, str]:
    """(more, next cursor) from the page's body, once it has arrived: a peer need not send the paging headers.
    (False, "") if the page failed or is not one: the pull then stops at it and reports its error."""
    try:
        paging = _PAGING.decode(await fetch)
    except Exception:  # the pull raises this page's error in its turn
        return False, ""
    return paging.more, paging.next_cursor


async def _body(request: Awaitable[Response]) -> bytes:
    return (await request).body
