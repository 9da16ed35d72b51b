"""One pull per peer at a time: a second pull is refused (or, from `regies sync`, waits) until the first ends."""

from __future__ import annotations

import asyncio
import io
import logging
import os
import socket
import sqlite3
import sys

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from federation import cli_federation
from federation.protocol import persistence, pull_lease
from federation.protocol.puller import PullBusy, pull_peer
from federation.protocol.worker import pull_due_peers
from federation.schema.records import utcnow
from federation.storage.mapping import to_micros
from federation.storage.tables import peers
from tests.protocol.conftest import Node, NodeFactory, activity, make_pair


async def _lease(node: Node, origin: str = "rq-a") -> tuple[str | None, int | None]:
    async with node.context.engine.connect() as connection:
        row = (
            await connection.execute(
                select(peers.c.pull_holder, peers.c.pull_lease_until_us).where(peers.c.node_id == origin)
            )
        ).one()
    return row[0], row[1]


async def _set_lease(node: Node, holder: str, seconds_left: float, origin: str = "rq-a") -> None:
    until = to_micros(utcnow()) + int(seconds_left * 1_000_000)
    async with node.context.engine.begin() as connection:
        await connection.execute(
            update(peers).where(peers.c.node_id == origin).values(pull_holder=holder, pull_lease_until_us=until)
        )


async def _peer(node: Node) -> persistence.Peer:
    peer = await persistence.get_peer(node.context.engine, "rq-a")
    assert peer is not None
    return peer


async def test_a_pull_while_another_holds_the_peer_is_refused_and_records_nothing(make_node: NodeFactory) -> None:
    _a, b = await make_pair(make_node, 3)
    async with pull_lease.held(b.context.engine, "rq-a"):
        with pytest.raises(PullBusy, match="already running \\(this process\\)"):
            await pull_peer(b.context, await _peer(b))
        peer = await _peer(b)
        assert (peer.cursor, peer.last_error, peer.last_success_at_us) == (None, None, None)
        assert await b.records("rq-a") == {}
    progress = await pull_peer(b.context, await _peer(b))
    assert len(await b.records("rq-a")) == 3 and progress.received == 4  # and the node profile
    assert await _lease(b) == (None, None)  # given back


async def test_two_pulls_started_together_make_one_pull(make_node: NodeFactory, database_url: str) -> None:
    a, b = await make_node("rq-a"), await make_node("rq-b", database_url, batch_size=2)
    await a.add_peer(b)
    await b.add_peer(a)
    for n in range(6):
        await a.create("activities", activity(n))
    peer = await _peer(b)
    outcomes = await asyncio.gather(pull_peer(b.context, peer), pull_peer(b.context, peer), return_exceptions=True)
    assert sorted(type(outcome).__name__ for outcome in outcomes) == ["PullBusy", "PullProgress"]
    assert len(await b.records("rq-a")) == 6
    assert (await _peer(b)).last_error is None


async def test_a_pull_after_another_ended_starts_from_its_checkpoint(make_node: NodeFactory) -> None:
    a, b = await make_pair(make_node, 4)
    stale = await _peer(b)  # read before the other pull, as `regies sync` does before waiting for it
    assert (await pull_peer(b.context, stale)).received == 5
    await a.create("activities", activity(99, title="Nouvelle"))
    assert (await pull_peer(b.context, stale)).received == 1  # not the whole feed again


async def test_the_lease_of_a_killed_process_is_taken_at_once(make_node: NodeFactory) -> None:
    _a, b = await make_pair(make_node, 2)
    ended = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
    await ended.wait()
    dead_pid = ended.pid
    await _set_lease(b, f"{socket.gethostname()}:{dead_pid}:4096:0badcafe", seconds_left=50)
    assert (await pull_peer(b.context, await _peer(b))).received == 3
    assert await _lease(b) == (None, None)


async def test_a_live_process_keeps_its_lease_until_it_expires(make_node: NodeFactory) -> None:
    _a, b = await make_pair(make_node, 2)
    alive = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(60)")
    try:
        holder = f"{socket.gethostname()}:{alive.pid}:{pull_lease.process_start(alive.pid)}:feedf00d"
        await _set_lease(b, holder, seconds_left=50)
        with pytest.raises(PullBusy, match=f"process {alive.pid} on this host"):
            await pull_peer(b.context, await _peer(b))
        await _set_lease(b, holder, seconds_left=-1)  # not renewed: hung
        assert (await pull_peer(b.context, await _peer(b))).received == 3
    finally:
        alive.kill()
        await alive.wait()


async def test_another_hosts_lease_is_held_until_it_expires(make_node: NodeFactory) -> None:
    _a, b = await make_pair(make_node, 1)
    await _set_lease(b, "hub-2.example:4242:98765:00c0ffee", seconds_left=50)
    with pytest.raises(PullBusy, match=r"process 4242 on hub-2\.example"):
        await pull_peer(b.context, await _peer(b))
    assert (await pull_lease.running_pulls(b.context.engine)).get("rq-a") == "process 4242 on hub-2.example"


async def test_the_lease_is_renewed_while_the_pull_runs(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _a, b = await make_pair(make_node, 1)
    monkeypatch.setattr(pull_lease, "RENEW_S", 0.05)
    async with pull_lease.held(b.context.engine, "rq-a") as holder:
        holder_text, first = await _lease(b)
        assert holder_text == str(holder) and str(os.getpid()) in holder_text
        await asyncio.sleep(0.3)
        assert (await _lease(b))[1] > first  # type: ignore[operator]
        assert not await pull_lease.renew(b.context.engine, "rq-a", pull_lease.Holder.new())  # not the holder's


async def test_a_lease_that_cannot_be_renewed_says_why_in_one_line_and_tries_again(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    _a, b = await make_pair(make_node, 1)
    monkeypatch.setattr(pull_lease, "RENEW_S", 0.05)
    attempts = 0

    async def locked(*_args: object) -> bool:
        nonlocal attempts
        attempts += 1
        raise OperationalError("BEGIN IMMEDIATE", {}, sqlite3.OperationalError("database is locked"))

    monkeypatch.setattr(pull_lease, "renew", locked)
    with caplog.at_level(logging.WARNING, logger="federation.protocol.pull_lease"):
        async with pull_lease.held(b.context.engine, "rq-a"):
            await asyncio.sleep(0.3)
    assert attempts >= 2
    warnings = [record for record in caplog.records if "could not renew" in record.getMessage()]
    assert len(warnings) == attempts
    assert warnings[0].getMessage() == (
        "could not renew the pull lease of rq-a (OperationalError: database is locked); trying again in 0.05 s"
    )
    assert all(record.exc_info is None for record in warnings)


async def test_regies_sync_waits_for_the_pull_in_progress(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    _a, b = await make_pair(make_node, 3)
    monkeypatch.setattr(cli_federation, "BUSY_POLL_S", 0.05)
    bar = cli_federation.ProgressBar("rq-a")

    async def other_pull_for_a_while() -> None:
        async with pull_lease.held(b.context.engine, "rq-a"):
            await asyncio.sleep(0.4)

    other = asyncio.create_task(other_pull_for_a_while())
    await asyncio.sleep(0.05)
    progress = await cli_federation._pull_when_free(b.context, await _peer(b), bar)
    await other
    assert progress.received == 4
    assert "a pull from rq-a is already running (this process); waiting for it to end" in capsys.readouterr().err


async def test_the_background_worker_skips_a_peer_being_pulled(
    make_node: NodeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    _a, b = await make_pair(make_node, 2)
    async with pull_lease.held(b.context.engine, "rq-a"):
        with caplog.at_level("INFO", logger="federation.protocol.worker"):
            await pull_due_peers(b.context)
    assert "skipping this round: a pull from rq-a is already running (this process)" in caplog.text
    peer = await _peer(b)
    assert (peer.cursor, peer.last_error) == (None, None)
    await pull_due_peers(b.context)  # the next round
    assert len(await b.records("rq-a")) == 2


async def test_regies_sync_shows_the_running_pulls_progress_while_it_waits(
    make_node: NodeFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    _a, b = await make_pair(make_node, 3)
    monkeypatch.setattr(cli_federation, "BUSY_POLL_S", 0.02)
    stream = io.StringIO()
    bar = cli_federation.ProgressBar("rq-a", stream)

    async def other_pull_committing_pages() -> None:
        async with pull_lease.held(b.context.engine, "rq-a"):
            for lag in (10, 6, 2, 0):  # what each of its commits records as still to pull
                async with b.context.engine.begin() as connection:
                    await connection.execute(update(peers).where(peers.c.node_id == "rq-a").values(lag=lag))
                await asyncio.sleep(0.15)

    other = asyncio.create_task(other_pull_committing_pages())
    await asyncio.sleep(0.05)
    progress = await cli_federation._pull_when_free(b.context, await _peer(b), bar)
    await other
    drawn = stream.getvalue()
    assert "rq-a (running)" in drawn and "10/10 " in drawn  # the other pull's bar, to its end
    assert progress.received == 4  # then this command's own pull (its lag figures above were made up)


async def test_a_pid_now_naming_another_process_frees_its_lease(make_node: NodeFactory) -> None:
    """A reused pid, or a restarted container whose server is pid 1 again: the start time tells them apart."""
    _a, b = await make_pair(make_node, 2)
    here = socket.gethostname()
    await _set_lease(b, f"{here}:{os.getpid()}:1:a1b2c3d4", seconds_left=50)  # an earlier process with our pid
    assert (await pull_lease.running_pulls(b.context.engine)).get("rq-a") is None
    assert (await pull_peer(b.context, await _peer(b))).received == 3
    alive = await asyncio.create_subprocess_exec(sys.executable, "-c", "import time; time.sleep(60)")
    try:
        await _set_lease(b, f"{here}:{alive.pid}:1:a1b2c3d4", seconds_left=50)  # its pid, not its start time
        assert (await pull_lease.running_pulls(b.context.engine)).get("rq-a") is None
        assert (await pull_peer(b.context, await _peer(b))).received == 0
    finally:
        alive.kill()
        await alive.wait()
