"""Validation of pushed batches, in the server process or in worker processes (`inbox_parse_workers`).

Why workers: validating a batch of a thousand records takes tens of milliseconds of CPU. On the event loop
that time also delays every database round trip of the other batches being applied, so the database waits
while the loop parses; with workers the loop only hands bytes over and receives rows, and PostgreSQL works
while the next batch is validated on the other core (measured with bench/hub.py, docs/performance.md).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import multiprocessing
from dataclasses import dataclass

from aiohttp import web

from federation.protocol.apply import BatchRejected, LeftToThisNode, gc_paused, parse_batch, wire_rows
from federation.schema.kinds import RecordKinds
from federation.schema.records import CORE_KINDS
from federation.storage.upsert import Row


@dataclass(frozen=True)
class ParsedBatch:
    origin: str
    batch_id: str
    rows: list[Row]


def parse_and_map(
    raw: bytes, sender: str, kinds: RecordKinds = CORE_KINDS, also_known: frozenset[str] = frozenset()
) -> ParsedBatch:
    """A pushed batch's rows; BatchRejected (403 or 422) if it is invalid or not all the sender's own. Records of
    kinds not in `kinds` are skipped, except those of `also_known` (LeftToThisNode)."""
    with gc_paused():
        batch = parse_batch(raw, kinds, also_known)
        if batch.origin != sender:
            raise BatchRejected(403, f"the batch claims origin '{batch.origin}' but is signed by '{sender}'")
        parsed = ParsedBatch(batch.origin, batch.batch_id, wire_rows(batch.records, sender, kinds))
        # Freed while the collector is still paused: once back on, it would walk the thousand models.
        del batch
    return parsed


class BatchParser:
    """Validates batches in `workers` processes, or in this process when `workers` is 0.

    The workers know the core's record kinds only (a plugin's models may not be importable in another process): a
    batch holding a record of a plugin's kind is validated again in this process.
    """

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        if workers:
            # forkserver: workers do not inherit the server's threads, sockets or event loop.
            context = multiprocessing.get_context("forkserver")
            self._pool = concurrent.futures.ProcessPoolExecutor(workers, mp_context=context)

    async def parse(self, raw: bytes, sender: str, kinds: RecordKinds = CORE_KINDS) -> ParsedBatch:
        if self._pool is None:
            return parse_and_map(raw, sender, kinds)
        plugin_kinds = frozenset(kinds) - frozenset(CORE_KINDS)
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._pool, parse_and_map, raw, sender, CORE_KINDS, plugin_kinds)
        except LeftToThisNode:
            return parse_and_map(raw, sender, kinds)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


BATCH_PARSER = web.AppKey("batch_parser", BatchParser)
