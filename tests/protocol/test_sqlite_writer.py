"""The SQLite writer process: its frame protocol, group commits during a pull, and a writer dying mid-pull."""

from __future__ import annotations

import asyncio
import contextlib
import io
import itertools
import shutil
import sqlite3
import struct
from pathlib import Path
from typing import Any

import pytest

from federation import hookimpl
from federation.protocol import persistence, puller
from federation.protocol.puller import pull_peer
from federation.protocol.sqlite_writer import SqliteWriterProcess, serve
from federation.storage.engine import sqlite_path
from federation.storage.upsert import RECORD_COLUMNS
from tests.protocol.conftest import NodeFactory, ReplicaListener, answers, failed_pull, frames, make_pair


def row(n: int, version: int = 1) -> tuple[Any, ...]:
    values = dict.fromkeys(RECORD_COLUMNS)
    values.update(
        kind="activity", origin="rq-a", id=f"00000000-0000-4000-8000-{n:012d}", version=version,
        updated_at_us=n, deleted=False, body=f'{{"n":{n},"version":{version}}}',
    )  # fmt: skip
    return tuple(values[column] for column in RECORD_COLUMNS)


@pytest.fixture
def database(tmp_path: Path) -> Path:
    path = tmp_path / "node.db"
    with sqlite3.connect(path) as connection:
        connection.execute(
            f"CREATE TABLE records (rid INTEGER PRIMARY KEY, {', '.join(RECORD_COLUMNS)}, UNIQUE (id, origin))"
        )
        connection.execute("CREATE TABLE peers (node_id TEXT PRIMARY KEY, cursor TEXT, lag INTEGER)")
        connection.execute(
            "CREATE TABLE record_revisions (kind TEXT, origin TEXT, revision INTEGER, PRIMARY KEY (kind, origin))"
        )
        connection.execute("INSERT INTO peers VALUES ('rq-a', NULL, NULL)")
    return path


def stored(path: Path) -> tuple[list[tuple[str, int]], tuple[str | None, int | None]]:
    with sqlite3.connect(path) as connection:
        rows = connection.execute("SELECT id, version FROM records ORDER BY id").fetchall()
        checkpoint = connection.execute("SELECT cursor, lag FROM peers").fetchone()
    return rows, checkpoint


def test_pages_commit_together_with_their_checkpoint(database: Path) -> None:
    out = io.BytesIO()
    incoming = frames(
        ("page", [row(1), row(2)], "rq-a", "c1", 3, False),
        ("page", [row(3)], "rq-a", "c2", 2, True),
        ("page", [row(1, version=2), row(4)], "rq-a", "c3", 0, False),
        ("commit",),
        ("page", [row(1, version=1)], "rq-a", "c4", 0, True),  # an older version changes nothing
    )
    assert serve(str(database), incoming, out) == 0
    assert answers(out) == [("committed", 2, 3), ("committed", 1, 2), ("committed", 1, 0)]
    rows, checkpoint = stored(database)
    assert [version for _, version in rows] == [2, 1, 1, 1]
    assert checkpoint == ("c4", 0)
    with sqlite3.connect(database) as connection:  # each page with rows increased their kind and origin's revision
        assert connection.execute("SELECT kind, origin, revision FROM record_revisions").fetchall() == [
            ("activity", "rq-a", 4)
        ]


def test_what_is_committed_is_in_the_database_file_itself_when_the_writer_ends(database: Path, tmp_path: Path) -> None:
    # Checkpointed, not only in the WAL: another connection stays open (a server on the same node), so the
    # writer's close is not the last one, which SQLite would checkpoint anyway.
    with contextlib.closing(sqlite3.connect(database)) as server:
        server.execute("PRAGMA journal_mode=WAL")
        server.execute("SELECT count(*) FROM records").fetchall()  # has the WAL open from now on
        incoming = frames(
            ("page", [row(n) for n in range(1, 1001)], "rq-a", "c1", 1000, True),
            ("page", [row(n) for n in range(1001, 2001)], "rq-a", "c2", 0, True),
        )
        assert serve(str(database), incoming, io.BytesIO()) == 0
        alone = tmp_path / "file-alone.db"
        shutil.copyfile(database, alone)  # without its -wal file
        rows, checkpoint = stored(alone)
        assert len(rows) == 2000
        assert checkpoint == ("c2", 0)


def test_what_is_not_committed_is_rolled_back_when_the_parent_goes(database: Path) -> None:
    out = io.BytesIO()
    incoming = frames(
        ("page", [row(1)], "rq-a", "c1", 1, True),
        ("page", [row(2)], "rq-a", "c2", 0, False),  # then stdin ends: the parent died
    )
    assert serve(str(database), incoming, out) == 0
    assert stored(database) == ([("00000000-0000-4000-8000-000000000001", 1)], ("c1", 1))


def test_an_error_is_reported_and_nothing_of_the_transaction_stays(database: Path) -> None:
    out = io.BytesIO()
    broken = row(3)[:-1]  # one column short
    incoming = frames(("page", [row(1)], "rq-a", "c1", 1, True), ("page", [row(2), broken], "rq-a", "c2", 0, True))
    assert serve(str(database), incoming, out) == 1
    (committed, (kind, message)) = answers(out)
    assert committed == ("committed", 1, 1)
    assert kind == "error" and "ProgrammingError" in message
    assert stored(database) == ([("00000000-0000-4000-8000-000000000001", 1)], ("c1", 1))


def test_a_broken_frame_is_reported_and_nothing_of_the_transaction_stays(database: Path) -> None:
    out = io.BytesIO()
    incoming = frames(("page", [row(1)], "rq-a", "c1", 1, True), ("page", [row(2)], "rq-a", "c2", 0, False))
    incoming.seek(0, io.SEEK_END)
    incoming.write(struct.pack(">I", 3) + b"\xff\xff\xff")  # not marshal data
    incoming.seek(0)
    assert serve(str(database), incoming, out) == 1
    (committed, (kind, message)) = answers(out)
    assert committed == ("committed", 1, 1)
    assert kind == "error" and "marshal" in message
    assert stored(database) == ([("00000000-0000-4000-8000-000000000001", 1)], ("c1", 1))


async def test_pages_are_taken_while_the_writer_waits_for_the_database(database: Path) -> None:
    # A commit (and its checkpoint) can take half a second: the pull must not wait on a full pipe meanwhile.
    # Here another connection holds the write lock, so the writer waits at its first page.
    pages = [
        [(*row(number)[:-1], f"{number:08d}" * 125) for number in range(page * 1000, page * 1000 + 600)]
        for page in range(4)
    ]  # about 600 kB per page: distinct bodies (marshal writes a repeated string once)
    blocker = sqlite3.connect(database, isolation_level=None)
    blocker.execute("PRAGMA journal_mode=WAL")  # as a node's database is
    blocker.execute("BEGIN IMMEDIATE")
    writer = await SqliteWriterProcess.start(str(database))
    try:
        # More than the pipe holds (1 MB): this only completes because the writer reads frames ahead.
        async def send_all() -> None:
            for number, rows in enumerate(pages):
                await writer.send_page(rows, "rq-a", f"c{number}", 0, number == len(pages) - 1)

        await asyncio.wait_for(send_all(), timeout=5)
        assert stored(database)[0] == []  # nothing written yet: the lock is still held
        blocker.execute("ROLLBACK")
        assert await asyncio.wait_for(writer.committed(), timeout=10) == (4, 2400)
    finally:
        blocker.close()
        await writer.close()
    rows, checkpoint = stored(database)
    assert len(rows) == 2400 and checkpoint == ("c3", 0)


async def test_a_backlog_is_written_by_the_process_and_plugins_hear_of_every_record_once(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    listener = ReplicaListener()
    started: list[SqliteWriterProcess] = []
    original_start = SqliteWriterProcess.start

    async def start(path: str) -> SqliteWriterProcess:
        started.append(await original_start(path))
        return started[-1]

    monkeypatch.setattr(SqliteWriterProcess, "start", staticmethod(start))
    monkeypatch.setattr(puller, "GROUP_ROWS", 4)
    a, b = await make_pair(make_node, 11, extra=[("listener", listener)])
    seen: list[tuple[int, int]] = []
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None

    progress = await pull_peer(b.context, peer, on_page=lambda p: seen.append((p.pages, p.received)))

    assert len(started) == 1
    assert (progress.pages, progress.received, progress.applied, progress.remaining) == (6, 12, 12, 0)
    # One report per commit, the first page's included (the writer takes the whole backlog): a commit holds up
    # to GROUP_ROWS rows, fewer when the next page is not there yet (the database is never held while waiting).
    assert 0 < seen[0][1] <= 4 and seen[-1] == (6, 12)
    assert all(0 < later[1] - earlier[1] <= 4 for earlier, later in itertools.pairwise(seen))
    replicas = await b.records("rq-a")
    assert len(replicas) == 11
    status, profile = await a.get("/api/v1/node")
    assert status == 200
    assert sorted(listener.heard) == sorted([*replicas, profile["id"]])  # each record once, the profile included
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None and peer.lag == 0 and peer.last_error is None


async def test_parsing_waits_for_slow_plugins_instead_of_keeping_ever_more_rows(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Rows are kept until plugins have heard of their commit: a slow plugin must hold the pull back, not let the
    # kept rows grow with the backlog (a million-record pull grew to 400 MB that way).
    gaps: list[int] = []
    heard = 0
    database: list[Path] = []

    class SlowListener:
        @hookimpl
        async def records_replicated(self, origin: str, records: Any, node: Any) -> None:
            nonlocal heard
            heard += len(records)
            with sqlite3.connect(database[0]) as connection:
                (stored_rows,) = connection.execute("SELECT count(*) FROM records WHERE origin = 'rq-a'").fetchone()
            gaps.append(stored_rows - heard)
            await asyncio.sleep(0.05)

    monkeypatch.setattr(puller, "GROUP_ROWS", 4)
    monkeypatch.setattr(puller, "MAX_UNREPORTED_ROWS", 12)
    _, b = await make_pair(make_node, 41, extra=[("listener", SlowListener())])
    database.append(sqlite_path(b.settings.database_url))
    peer = await persistence.get_peer(b.context.engine, "rq-a")
    assert peer is not None

    progress = await pull_peer(b.context, peer)

    assert (progress.received, progress.remaining) == (42, 0)
    assert heard == 42 and len(await b.records("rq-a")) == 41
    assert max(gaps) <= 12  # committed but not yet heard of: never more than the bound


async def test_a_writer_that_dies_mid_pull_fails_the_pull_and_the_next_pull_completes(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    original_start = SqliteWriterProcess.start

    async def start_then_die(path: str) -> SqliteWriterProcess:
        writer = await original_start(path)
        await writer.child.kill()
        return writer

    monkeypatch.setattr(SqliteWriterProcess, "start", staticmethod(start_then_die))
    _, b = await make_pair(make_node, 15)

    peer = await failed_pull(b, "rq-a", r"the SQLite writer process ended unexpectedly \(exit status -9\)")
    assert "SQLite writer" in (peer.last_error or "")
    assert await b.records("rq-a") == {}  # the writer takes the backlog from its first page: nothing written

    monkeypatch.setattr(SqliteWriterProcess, "start", original_start)
    progress = await pull_peer(b.context, peer)
    assert (progress.received, progress.remaining) == (16, 0)  # the whole feed again: the profile and 15 activities
    assert len(await b.records("rq-a")) == 15
