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
            return await _pull(context, current, on_page, max_pages)
    except pull_lease.LeaseHeld as exc:  # raised only when taking the lease: nothing was requested
        raise PullBusy(peer.node_id, exc.holder) from exc


async def _pull(
    context: FederationContext,
    peer: Peer,
    on_page: OnPage,
    max_pages: int | None,
) -> PullProgress:
    """The pull itself, under the peer's lease.

    Three stages overlap: the peer prepares the next pages while this node parses the pages it has (on the event
    loop, and with a long backlog in parser processes too) and writes the oldest parsed page with its checkpoint
    (a database thread, or on SQLite with a backlog a writer process). Parsed pages are taken in feed order and
    writes stay strictly in that order, each transaction moving the checkpoint with the rows it applies, so a
    crash at any point leaves a prefix of the feed applied and the matching checkpoint.
    """
    progress = PullProgress(peer=peer.node_id, started=time.monotonic())
    limit = context.settings.batch_size

    # Up to PREFETCH pages are requested ahead: each request starts as soon as the previous answer's headers
    # (Regies-Next-Cursor, Regies-More) arrive, so the peer prepares pages while this node parses and writes.
    # A peer that does not send these optional headers is paged through its bodies' `more` and `next_cursor`.
    fetches: asyncio.Queue[asyncio.Future[bytes] | None] = asyncio.Queue(maxsize=PREFETCH)

    peer_keys = PeerKeys(context.engine, context.client, peer)

    async def produce() -> None:
        try:
            await request_pages()
        except Exception as exc:  # unforeseen: raised by the pull in its turn, never a pull waiting for ever
            failed: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            await fetches.put(failed)

    async def request_pages() -> None:
        cursor = peer.cursor or ""
        requested = 0
        while True:
            headers: asyncio.Future[Mapping[str, str]] = asyncio.get_running_loop().create_future()

            def seen(answer: Mapping[str, str], future: asyncio.Future[Mapping[str, str]] = headers) -> None:
                if not future.done():
                    future.set_result(answer)

            # Every character but letters, digits and `-._~` percent-encoded: the URL is sent as signed.
            url = f"{peer.base_url}/federation/v1/changes?since={quote(cursor, safe='')}&limit={limit}"
            request = context.client.request("GET", url, on_headers=seen, signed_by=peer_keys)
            task = asyncio.create_task(_body(request))
            await fetches.put(task)
            requested += 1
            waiters: set[asyncio.Future[Any]] = {task, headers}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if not headers.done():
                return  # the request failed before any headers: the consumer gets its error from the task
            more, next_cursor = _paging_headers(headers.result()) or await _paging_in_body(task)
            if not more or not next_cursor:
                await fetches.put(None)
                return
            if max_pages is not None and requested >= max_pages:
                await fetches.put(None)
                return
            cursor = next_cursor

    database = context.engine.url.database
    sqlite_path = database if context.engine.dialect.name == "sqlite" and database else None
    sink = _PageSink(context, peer.node_id, progress, on_page)
    kinds = context.registry.kinds
    parsers: PageParsers | None = None
    backlog = False
    # Pages being parsed, as futures in feed order (a page parsed here is a future already done).
    parsed: asyncio.Queue[asyncio.Future[ParsedPage] | None] = asyncio.Queue(maxsize=PARSE_AHEAD)
    network_wait = asyncio.Event()  # set while the next page has not arrived after LATE_PAGE_S

    async def dispatch() -> None:
        while (fetch := await fetches.get()) is not None:
            if not fetch.done():
                await asyncio.wait({fetch}, timeout=LATE_PAGE_S)
                if not fetch.done():
                    network_wait.set()
                    await asyncio.wait({fetch})
                    network_wait.clear()
            future: asyncio.Future[ParsedPage] = asyncio.get_running_loop().create_future()
            try:
                raw = fetch.result()
                queued = await parsers.parse(raw, peer.node_id) if parsers is not None else None
                if queued is None:
                    future.set_result(page_rows(raw, peer.node_id, kinds))
                else:
                    future = queued
            except Exception as exc:  # raised by the pull in feed order; anything unforeseen too (it waited for ever)
                future.set_exception(exc)
                await parsed.put(future)
                return
            del raw
            await parsed.put(future)
            if producer.done() and fetches.empty():
                break
        await parsed.put(None)

    producer = asyncio.create_task(produce())
    dispatcher = asyncio.create_task(dispatch())
    try:
        with gc_paused():
            while (next_page := await parsed.get()) is not None:
                if not next_page.done():
                    await _late(next_page, network_wait, sink)
                page = next_page.result()
                if len(page.rows) > limit:
                    raise PullError(f"the peer answered {len(page.rows)} records to a request for at most {limit}")
                check_authors(page.rows, peer.is_hub, kinds)
                if page.more and not backlog:
                    # A backlog: worth parser processes (if it is long enough to repay their start-up) and, on
                    # SQLite, a writer process, which takes this first page too: it starts in less time than
                    # this page took to write the usual way (measured: 115 ms, the next page waiting for it).
                    backlog = True
                    workers = context.settings.pull_parse_workers
                    if workers and page.remaining >= PARSERS_AFTER_PAGES * limit:
                        parsers = await PageParsers.start(workers, kinds)
                    if sqlite_path is not None:
                        await sink.finish()
                        sink = _ProcessPageSink(sink, await SqliteWriterProcess.start(sqlite_path))
                await sink.write(page.rows, page.next_cursor, page.remaining, page.more)
                del page, next_page
            await sink.finish()
    except (TransportError, BatchRejected, PullError, ChildFailed) as exc:
        await sink.settle()
        await persistence.record_pull_outcome(context.engine, peer.node_id, error=str(exc))
        # Not logged here: the caller says it once, in its own way (the worker's log, `regies sync`'s output).
        raise PullError(f"pull from {peer.node_id} failed: {exc}") from exc
    finally:

        async def clean_up() -> None:
            await cancel_and_wait(producer, dispatcher)
            leftovers = [fetches.get_nowait() for _ in range(fetches.qsize())]
            await cancel_and_wait(*[leftover for leftover in leftovers if leftover is not None])
            while not parsed.empty():
                pending = parsed.get_nowait()
                if pending is not None and pending.done() and not pending.cancelled():
                    pending.exception()  # retrieved: a page that failed after the pull had already stopped
            if parsers is not None:
                log.debug("pull from %s: %d pages parsed in parser processes", peer.node_id, parsers.pages)
                await parsers.close()
            await sink.close()

        await run_to_end(clean_up())  # even if the pull is cancelled meanwhile: no helper process left behind
    await persistence.record_pull_outcome(context.engine, peer.node_id, lag=progress.remaining)
    return progress


async def _late(next_page: asyncio.Future[ParsedPage], network_wait: asyncio.Event, sink: _PageSink) -> None:
    """The next page is not parsed yet. What the sink holds is committed only once the pull really waits for the
    network (the event loop reads sockets only while the pull waits: a page that has arrived is not late)."""
    while not next_page.done():
        if network_wait.is_set():
            await sink.before_wait()
            await asyncio.wait({next_page})
            return
        waiting = asyncio.create_task(network_wait.wait())
        either: set[asyncio.Future[Any]] = {next_page, waiting}
        await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()


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
