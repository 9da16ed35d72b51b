"""A child process that writes pulled pages into an SQLite node, and the pull's handle on it.

Why a process: in one process, sqlite3 binds every row's parameters holding the GIL, so the database thread and
the event loop parsing the next page take turns instead of working side by side (measured: the two together used
one core). In a child process SQLite runs on the second core while the parent parses.

Why group commits: each transaction rewrites, in the WAL, every index page it touched; an index keyed by random
ids (record ids) touches almost all of its leaf pages per 1,000 rows. A transaction that spans several pages of
the feed writes each such page once instead of once per feed page. The pull checkpoint still moves in the same
transaction as the rows it covers, so a crash leaves a prefix of the feed and the matching checkpoint.

Wire between parent and child: frames (federation.protocol.frames) on the child's stdin and stdout; a thread of
the child reads a few frames ahead (why: at READ_AHEAD_FRAMES). Parent → child: ("page", rows, peer_id, cursor,
remaining, commit) and ("commit",); child → parent, after each commit: ("committed", pages, applied), or
("error", message) before it exits. The child exits, rolling back what is not committed, when its stdin closes
(the parent ended or died).
"""

from __future__ import annotations

import contextlib
import queue
import sqlite3
import sys
import threading
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, BinaryIO

from federation.process import exit_leaving_objects
from federation.protocol.frames import child_streams, read_frame, write_frame
from federation.storage.upsert import SQLITE_REVISION_SQL, SQLITE_UPSERT_SQL, revised

if TYPE_CHECKING:
    from federation.protocol.child_process import ChildProcess

# Checkpoints (copying the WAL into the database file, then syncing it) run in a thread of the writer with its
# own connection, after each commit (_Checkpointer): run by the commit itself, each stalled the writer for up to
# half a second, and the last one, after the last page, was paid at the end of every pull. The writer's own
# automatic checkpoint stays as a bound (256 MiB of WAL) should that thread fall behind. The page cache
# (32 MiB) holds the record-id index of a few hundred thousand records; it counts in the receiver's memory
# next to the pulling process (together under 300 MB for a million records, bench/sync.py).
# Frames a thread of the writer reads ahead of the one being applied. SQLite runs without the GIL, so during a
# commit (and its checkpoint, up to half a second) the thread keeps the pipe empty and the pulling process goes
# on instead of waiting on a full pipe. Each frame is a page of rows (about 1.5 MB once read).
READ_AHEAD_FRAMES = 4
PRAGMAS = (
    "busy_timeout=10000",  # first: the others may have to wait for a lock too
    "journal_mode=WAL",
    "synchronous=NORMAL",
    "cache_size=-32768",
    "wal_autocheckpoint=65536",
)


# --- Child side -----------------------------------------------------------------------------------------------


class _FramesAhead:
    """Frames of `incoming`, read by a thread up to READ_AHEAD_FRAMES ahead of the caller."""

    def __init__(self, incoming: BinaryIO) -> None:
        self._incoming = incoming
        self._frames: queue.Queue[Any] = queue.Queue(maxsize=READ_AHEAD_FRAMES)
        # A daemon: when the writer ends first (an error), a thread blocked on the pipe must not keep it alive.
        threading.Thread(target=self._read, name="writer-frames", daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                message = read_frame(self._incoming)
            except Exception as exc:  # a broken frame: raised where the frames are applied
                self._frames.put(exc)
                return
            self._frames.put(message)
            if message is None:
                return

    def next(self) -> Any:
        """The next frame; None once the parent closed the pipe."""
        message = self._frames.get()
        if isinstance(message, Exception):
            raise message
        return message


def serve(path: str, incoming: BinaryIO, outgoing: BinaryIO) -> int:
    """The child's loop: apply pages in order, commit when asked, answer each commit."""
    connection = sqlite3.connect(path, isolation_level=None)
    for pragma in PRAGMAS:
        connection.execute(f"PRAGMA {pragma}")
    statement = SQLITE_UPSERT_SQL
    checkpoint = "UPDATE peers SET cursor = ?, lag = ? WHERE node_id = ?"
    in_transaction = False
    pages = applied = 0
    frames = _FramesAhead(incoming)
    checkpoints: _Checkpointer | None = None
    try:
        checkpoints = _Checkpointer(path)
        while (message := frames.next()) is not None:
            if message[0] == "page":
                _, rows, peer_id, cursor, remaining, commit = message
                if not in_transaction:
                    connection.execute("BEGIN IMMEDIATE")
                    in_transaction = True
                if rows:
                    connection.executemany(SQLITE_REVISION_SQL, revised(rows))
                    applied += max(connection.executemany(statement, rows).rowcount, 0)
                connection.execute(checkpoint, (cursor, remaining, peer_id))
                pages += 1
            elif message[0] != "commit":
                raise ValueError(f"unknown message {message[0]!r}")
            else:
                commit = True
            if commit and in_transaction:
                connection.execute("COMMIT")
                in_transaction = False
                write_frame(outgoing, ("committed", pages, applied))
                pages = applied = 0
                checkpoints.due()
    except Exception as exc:  # reported to the parent, which raises it in the pull
        if in_transaction:
            connection.execute("ROLLBACK")
        with contextlib.suppress(OSError):
            write_frame(outgoing, ("error", f"{type(exc).__name__}: {exc}"))
        return 1
    finally:
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        if checkpoints is not None:
            checkpoints.stop()  # after a last checkpoint of what is committed
        connection.close()
    return 0


class _Checkpointer:
    """A thread checkpointing the database after each commit, on a connection of its own.

    PASSIVE checkpoints wait for nobody: the writer goes on with its next pages (SQLite copies the WAL without the
    GIL), and readers (a server on the same database) are never blocked. A checkpoint asked for while one runs
    is done once that one ends.
    """

    def __init__(self, path: str) -> None:
        self._connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._connection.execute("PRAGMA busy_timeout=10000")
        self._wanted = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="writer-checkpoints", daemon=True)
        self._thread.start()

    def due(self) -> None:
        self._wanted.set()

    def _run(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            # Read once cleared and before the checkpoint starts: a stop asked later sets the event again, and so
            # gets a checkpoint of its own, which covers every commit.
            last = self._stopping
            # Busy (another connection checkpoints) or failing: the next commit asks again, the writer's
            # automatic checkpoint bounds the WAL meanwhile, and SQLite checkpoints at the last close anyway.
            with contextlib.suppress(sqlite3.Error):
                self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)")
            if last:
                return

    def stop(self) -> None:
        self._stopping = True
        self._wanted.set()
        self._thread.join()
        self._connection.close()


def main(argv: Sequence[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m federation.protocol.sqlite_writer DATABASE_PATH", file=sys.stderr)
        return 2
    return serve(argv[0], *child_streams())


# --- Parent side ----------------------------------------------------------------------------------------------


class SqliteWriterProcess:
    """The pull's handle on its writer process: send pages in feed order, learn which are committed."""

    def __init__(self, child: ChildProcess) -> None:
        self.child = child

    @classmethod
    async def start(cls, path: str) -> SqliteWriterProcess:
        # Imported here: the writer process imports this module, and the parent side would bring asyncio into it.
        from federation.protocol.child_process import ChildProcess

        return cls(await ChildProcess.start("the SQLite writer", "federation.protocol.sqlite_writer", path))

    async def send_page(
        self, rows: list[tuple[Any, ...]], peer_id: str, cursor: str, remaining: int, commit: bool
    ) -> None:
        """Queue a page (rows in RECORD_COLUMNS order) and its checkpoint; `commit` ends the transaction after it."""
        await self.child.send(("page", rows, peer_id, cursor, remaining, commit))

    async def commit(self) -> None:
        """Ask for the open transaction, if any, to be committed now (before a wait on the network)."""
        await self.child.send(("commit",))

    async def committed(self) -> tuple[int, int]:
        """Wait for the next commit: (pages, rows inserted or changed) since the previous one."""
        message = await self.child.receive()
        return int(message[1]), int(message[2])

    async def close(self) -> None:
        """End the child: what is not committed is rolled back; waits for it to exit."""
        await self.child.close()


if __name__ == "__main__":
    exit_leaving_objects(main(sys.argv[1:]))
