"""Child processes that validate pulled feed pages into rows, and the pull's handle on them.

Why: validating a page and building its rows (apply.page_rows) is most of the pulling process's work, about
40 µs of CPU per record, and it held the pull to one core while the second one was partly idle. With a long
backlog, the pull hands pages' bytes to a parser process and parses others itself meanwhile (PARSE_HERE_AFTER);
rows come back in feed order, so the writes, the checkpoints and the crash guarantees stay exactly those of one
process.

Wire (federation.protocol.frames): child → parent ("ready",) once its imports are done; parent → child
(raw page, sender, plugin kinds); child → parent ("page", rows, next_cursor, more, remaining), ("rejected",
status, message) for a page that is invalid or not the sender's own, ("yours", raw page) for a page holding a
record of one of the node's plugin kinds (a child knows the core's kinds only: the pulling process parses that
page), or ("error", message) before it exits on anything else. A child ends when its stdin closes.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import sys
from collections.abc import Sequence
from typing import BinaryIO

from federation.process import exit_leaving_objects
from federation.protocol.apply import BatchRejected, LeftToThisNode, ParsedPage, page_rows
from federation.protocol.child_process import ChildFailed, ChildProcess
from federation.protocol.frames import child_streams, read_frame, write_frame
from federation.schema.kinds import RecordKinds
from federation.schema.records import CORE_KINDS
from federation.tasks import cancel_and_wait

# --- Child side -----------------------------------------------------------------------------------------------


def serve(incoming: BinaryIO, outgoing: BinaryIO) -> int:
    write_frame(outgoing, ("ready",))
    try:
        while (message := read_frame(incoming)) is not None:
            raw, sender, plugin_kinds = message
            try:
                page = page_rows(raw, sender, CORE_KINDS, frozenset(plugin_kinds))
            except BatchRejected as exc:
                write_frame(outgoing, ("rejected", exc.status, str(exc)))
                continue
            except LeftToThisNode:
                write_frame(outgoing, ("yours", raw))
                continue
            write_frame(outgoing, ("page", page.rows, page.next_cursor, page.more, page.remaining))
            del page
    except Exception as exc:  # reported to the parent, which fails the pull with it
        with contextlib.suppress(OSError):
            write_frame(outgoing, ("error", f"{type(exc).__name__}: {exc}"))
        return 1
    return 0


def main(argv: Sequence[str]) -> int:
    if argv:
        print("usage: python -m federation.protocol.page_parsers  (frames on stdin and stdout)", file=sys.stderr)
        return 2
    return serve(*child_streams())


# --- Parent side ----------------------------------------------------------------------------------------------


class _Parser:
    """One child: the pages it was given, answered in the same order."""

    def __init__(self, child: ChildProcess, kinds: RecordKinds) -> None:
        self.child = child
        self.kinds = kinds
        self.plugin_kinds = tuple(sorted(frozenset(kinds) - frozenset(CORE_KINDS)))
        self.senders: collections.deque[str] = collections.deque()
        self.ready = False
        self.pages = 0  # answered
        self.waiting: collections.deque[asyncio.Future[ParsedPage]] = collections.deque()
        self.answers = asyncio.create_task(self._read_answers())

    async def _read_answers(self) -> None:
        try:
            await self.child.receive()  # ("ready",)
            self.ready = True
            while True:
                message = await self.child.receive()
                self.pages += 1
                future, sender = self.waiting.popleft(), self.senders.popleft()
                if future.done():  # cancelled: the pull stopped
                    continue
                if message[0] == "rejected":
                    future.set_exception(BatchRejected(int(message[1]), str(message[2])))
                elif message[0] == "yours":
                    try:
                        future.set_result(page_rows(message[1], sender, self.kinds))
                    except BatchRejected as exc:
                        future.set_exception(exc)
                else:
                    future.set_result(ParsedPage(message[1], message[2], bool(message[3]), int(message[4])))
        except ChildFailed as exc:
            self.ready = False
            for future in self.waiting:
                if not future.done():
                    future.set_exception(ChildFailed(str(exc)))
            raise

    async def parse(self, raw: bytes, sender: str) -> asyncio.Future[ParsedPage]:
        future: asyncio.Future[ParsedPage] = asyncio.get_running_loop().create_future()
        self.waiting.append(future)
        self.senders.append(sender)
        try:
            await self.child.send((raw, sender, self.plugin_kinds))
        except ChildFailed:
            self.waiting.remove(future)
            self.senders.pop()
            raise
        return future

    def discard(self) -> None:
        """Forget the pages still waiting (the pull stopped): cancel them, or take their error as seen."""
        for future in self.waiting:
            if not future.done():
                future.cancel()
            elif not future.cancelled():
                future.exception()
        self.waiting.clear()
        self.senders.clear()


# A page is parsed in the pulling process when every parser has this many pages already (one being parsed, the
# others waiting in the pipe, so that a parser never idles). The pulling process has time to spare beside
# fetching pages, and parsing there costs no copy of the page and its rows between processes. Measured on
# 100,000-record pulls (docs/performance.md): one parser with this help at 3 took 7.5-7.9 s on average, at 2
# 8.4 s, at 4 (never in place) 8.1 s; two parsers and no help 7.5-8.1 s, with 50 MB more memory.
PARSE_HERE_AFTER = 3
# Said with a parser's failure: a host short of memory may kill parsers, and pulling without them still works.
PARSER_ADVICE = "if this keeps happening, set [federation] pull_parse_workers = 0 to parse in the pulling process"


class PageParsers:
    """Parser processes; a page goes to the one with the fewest pages waiting, once its start-up is done."""

    def __init__(self, parsers: list[_Parser]) -> None:
        self._parsers = parsers

    @classmethod
    async def start(cls, count: int, kinds: RecordKinds = CORE_KINDS) -> PageParsers:
        """`count` parsers for pages of a node that knows `kinds`."""
        children: list[ChildProcess] = []
        try:
            for _ in range(count):
                children.append(
                    await ChildProcess.start("a page parser", "federation.protocol.page_parsers", advice=PARSER_ADVICE)
                )
        except BaseException:  # one failed to start, or the pull was cancelled meanwhile: none is left running
            for child in children:
                await child.abandon()
            raise
        return cls([_Parser(child, kinds) for child in children])

    @property
    def ready(self) -> bool:
        return any(parser.ready for parser in self._parsers)

    @property
    def pages(self) -> int:
        """Pages the parsers have answered so far."""
        return sum(parser.pages for parser in self._parsers)

    async def parse(self, raw: bytes, sender: str) -> asyncio.Future[ParsedPage] | None:
        """A future of the page's rows (BatchRejected if it is invalid), or None to parse it in the pulling
        process: no parser is ready yet, or each has PARSE_HERE_AFTER pages already.

        A parser that died raises ChildFailed here or in the future of each page it had.
        """
        for parser in self._parsers:
            if parser.answers.done():
                await parser.answers  # raises its ChildFailed
        ready = [parser for parser in self._parsers if parser.ready]
        if not ready:
            return None
        parser = min(ready, key=lambda candidate: len(candidate.waiting))
        if len(parser.waiting) >= PARSE_HERE_AFTER:
            return None
        return await parser.parse(raw, sender)

    async def close(self) -> None:
        """End the parsers: at once for one still holding pages (the pull stopped, their rows are not wanted, and it
        may be blocked writing an answer nobody reads), else by closing its input."""
        for parser in self._parsers:
            await cancel_and_wait(parser.answers)
            busy = bool(parser.waiting)
            parser.discard()
            if busy:
                await parser.child.abandon()
            else:
                await parser.child.close()


if __name__ == "__main__":
    exit_leaving_objects(main(sys.argv[1:]))
