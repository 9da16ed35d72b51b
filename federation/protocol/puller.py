"""Pull replication: page through a peer's change feed, applying each page with its checkpoint atomically."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from federation.protocol import persistence
from federation.protocol.apply import (
    BatchRejected,
    SqlitePageWriter,
    StoredDocuments,
    apply_rows,
    gc_paused,
    parse_page,
    wire_rows,
)
from federation.protocol.context import FederationContext
from federation.protocol.persistence import Peer
from federation.protocol.transport import Response, TransportError

log = logging.getLogger(__name__)
PREFETCH = 2


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


async def pull_peer(
    context: FederationContext,
    peer: Peer,
    on_page: Callable[[PullProgress], None] | None = None,
    max_pages: int | None = None,
) -> PullProgress:
    """Pull until the peer's feed is exhausted (or `max_pages`); the outcome is recorded on the peer.

    Three stages overlap: the peer prepares page N+2 while this node parses page N+1 (event loop thread) and
    writes page N with its checkpoint (database thread). Writes stay strictly in page order, one transaction
    per page, so a crash at any point leaves a prefix of the feed applied and the matching checkpoint.
    """
    progress = PullProgress(peer=peer.node_id, started=time.monotonic())
    limit = context.settings.batch_size

    # Up to PREFETCH pages are requested ahead: each request starts as soon as the previous answer's headers
    # (Regies-Next-Cursor, Regies-More) arrive, so the peer prepares pages while this node parses and writes.
    fetches: asyncio.Queue[asyncio.Task[bytes] | None] = asyncio.Queue(maxsize=PREFETCH)

    async def produce() -> None:
        cursor = peer.cursor or ""
        requested = 0
        while True:
            headers: asyncio.Future[Mapping[str, str]] = asyncio.get_running_loop().create_future()

            def seen(answer: Mapping[str, str], future: asyncio.Future[Mapping[str, str]] = headers) -> None:
                if not future.done():
                    future.set_result(answer)

            url = f"{peer.base_url}/federation/v1/changes?since={quote(cursor)}&limit={limit}"
            task = asyncio.create_task(_body(context.client.request("GET", url, on_headers=seen)))
            await fetches.put(task)
            requested += 1
            waiters: set[asyncio.Future[Any]] = {task, headers}
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
            if not headers.done():
                return  # the request failed before any headers: the consumer gets its error from the task
            answer = headers.result()
            next_cursor = answer.get("Regies-Next-Cursor")
            if answer.get("Regies-More") != "true" or not next_cursor:
                await fetches.put(None)
                return
            if max_pages is not None and requested >= max_pages:
                await fetches.put(None)
                return
            cursor = next_cursor

    async def write(rows: list[dict[str, Any]], cursor: str, remaining: int) -> None:
        if page_writer is not None:
            applied = await asyncio.to_thread(page_writer.write_page, rows, peer.node_id, cursor, remaining)
        else:
            async with context.engine.begin() as connection:
                applied = await apply_rows(connection, rows)
                await persistence.set_checkpoint(connection, peer.node_id, cursor, remaining)
        if rows and context.plugins.wants_replicas():
            await context.plugins.records_replicated(peer.node_id, StoredDocuments(rows), context)
        progress.pages += 1
        progress.received += len(rows)
        progress.applied += applied
        progress.remaining = remaining
        if on_page is not None:
            on_page(progress)

    database = context.engine.url.database
    page_writer = SqlitePageWriter(database) if context.engine.dialect.name == "sqlite" and database else None
    producer = asyncio.create_task(produce())
    writing: asyncio.Task[None] | None = None
    try:
        with gc_paused():
            while (fetch := await fetches.get()) is not None:
                page = parse_page(await fetch)
                if page.origin != peer.node_id:
                    raise PullError(f"the feed answered for origin '{page.origin}', not '{peer.node_id}'")
                if page.more and not page.records:
                    raise PullError("the peer announces more changes but sent none: stopping to avoid a loop")
                rows = wire_rows(page.records, peer.node_id)
                if writing is not None:
                    await writing
                writing = asyncio.create_task(write(rows, page.next_cursor, page.remaining))
                del page, rows
                if producer.done() and fetches.empty():
                    break
            if writing is not None:
                await writing
                writing = None
    except (TransportError, BatchRejected, PullError) as exc:
        await _settle(writing)
        await persistence.record_pull_outcome(context.engine, peer.node_id, error=str(exc))
        log.warning("pull from %s failed: %s", peer.node_id, exc)
        raise PullError(f"pull from {peer.node_id} failed: {exc}") from exc
    finally:
        producer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await producer
        while not fetches.empty():
            leftover = fetches.get_nowait()
            if leftover is not None:
                leftover.cancel()
                with contextlib.suppress(asyncio.CancelledError, TransportError):
                    await leftover
        if writing is not None and not writing.done():
            writing.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writing
        if page_writer is not None:
            page_writer.close()
    await persistence.record_pull_outcome(context.engine, peer.node_id, lag=progress.remaining)
    return progress


async def _body(request: Awaitable[Response]) -> bytes:
    return (await request).body


async def _settle(writing: asyncio.Task[None] | None) -> None:
    """Let an in-flight page write finish (it is a valid page) before reporting a later page's failure."""
    if writing is not None and not writing.done():
        with contextlib.suppress(Exception):
            await writing
