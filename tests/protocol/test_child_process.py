"""A pull's handle on its helper processes: ending one that is blocked writing answers nobody reads any more, and
a helper starts without the pull's own machinery."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from federation.protocol import child_process
from federation.protocol.child_process import ChildProcess

# A helper that, like a page parser, answers each message with a large frame (its rows), and ends at the end of
# its input. Its answers are far larger than a pipe holds: nobody reading them, it blocks writing.
LOUD_CHILD = """
import sys
from federation.protocol.frames import read_frame, write_frame

write_frame(sys.stdout.buffer, ("ready",))
while read_frame(sys.stdin.buffer) is not None:
    write_frame(sys.stdout.buffer, ("page", b"r" * 3_000_000))
"""


@pytest.fixture
async def loud_child(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ChildProcess:
    (tmp_path / "loud_child.py").write_text(LOUD_CHILD)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    child = await ChildProcess.start("a loud child", "loud_child")
    assert await child.receive() == ("ready",)
    await child.send(("page", b"p"))
    await child.send(("page", b"p"))
    await asyncio.sleep(0.5)  # it answers, the pipe and this side's buffer fill, and it blocks writing
    return child


async def test_closing_a_child_blocked_on_its_answers_ends_it(loud_child: ChildProcess) -> None:
    # Closing its input is not enough: it must be able to finish writing to ever read that end. The pull that
    # stopped reading was interrupted mid-way, and `regies sync` hung there on Ctrl-C.
    started = time.monotonic()
    await asyncio.wait_for(loud_child.close(), timeout=10)
    assert time.monotonic() - started < 5
    assert loud_child._process.returncode == 0  # it read the end of its input and exited by itself


async def test_abandoning_a_child_blocked_on_its_answers_ends_it(loud_child: ChildProcess) -> None:
    await asyncio.wait_for(loud_child.abandon(), timeout=10)
    assert loud_child._process.returncode == -9


async def test_a_child_that_does_not_end_when_closed_is_abandoned(
    loud_child: ChildProcess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(child_process, "CLOSE_TIMEOUT_S", 0.3)
    loud_child._process.send_signal(signal.SIGSTOP)  #: it cannot read the end of its input any more
    await asyncio.wait_for(loud_child.close(), timeout=10)
    assert loud_child._process.returncode == -9


def test_the_sqlite_writer_starts_without_asyncio() -> None:
    # The first page of a backlog waits for the writer process to start: it imports only what it writes with.
    code = "import sys, federation.protocol.sqlite_writer; print('asyncio' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


async def test_answers_arrive_whole_from_an_unbuffered_child_stopped_and_resumed_while_it_writes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # PYTHONUNBUFFERED=1 (containers, service units) makes a child's stdout the raw file: a job-control stop
    # (Ctrl-Z, then fg) during a large write made it write only part of a frame, and the pull hung waiting for
    # the rest.
    (tmp_path / "loud_child.py").write_text(LOUD_CHILD)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    monkeypatch.setenv("PYTHONUNBUFFERED", "1")
    child = await ChildProcess.start("a loud child", "loud_child")
    assert await child.receive() == ("ready",)
    stopping = True

    async def stop_and_resume() -> None:
        while stopping:
            child._process.send_signal(signal.SIGSTOP)
            await asyncio.sleep(0.001)
            child._process.send_signal(signal.SIGCONT)
            await asyncio.sleep(0.004)

    nudges = asyncio.create_task(stop_and_resume())
    try:
        for _ in range(8):
            await child.send(("page", b"p"))
            answer = await asyncio.wait_for(child.receive(), timeout=20)
            assert answer == ("page", b"r" * 3_000_000)
    finally:
        stopping = False
        await nudges
        child._process.send_signal(signal.SIGCONT)
        await child.close()
    assert child._process.returncode == 0


# A helper that answers with a page-sized frame (900 kB) through child_streams, then says on a side file that
# it is free for its next page.
ANSWERING_CHILD = """
import sys
from pathlib import Path
from federation.protocol.frames import child_streams, read_frame, write_frame

incoming, outgoing = child_streams()
while read_frame(incoming) is not None:
    write_frame(outgoing, ("page", b"r" * 900_000))
    Path(sys.argv[1]).write_text("free")
"""


async def test_a_helper_hands_over_a_page_of_rows_without_waiting_for_the_pull_to_read_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The pulling process is often busy parsing a page itself: a helper whose answer did not fit in its pipe
    # waited for it, idle, instead of starting on its next page.
    (tmp_path / "answering_child.py").write_text(ANSWERING_CHILD)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")])))
    free = tmp_path / "free"
    child = await ChildProcess.start("an answering child", "answering_child", str(free))
    try:
        await child.send(("page", b"p"))
        for _ in range(500):  # up to 10 s, not reading its answer meanwhile
            if free.exists():
                break
            await asyncio.sleep(0.02)
        assert free.exists()
        assert await child.receive() == ("page", b"r" * 900_000)
    finally:
        await child.close()
