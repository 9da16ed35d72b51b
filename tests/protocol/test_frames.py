"""A pull's handle on its helper processes: ending one that is blocked writing answers nobody reads any more."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from federation.protocol import frames
from federation.protocol.frames import ChildProcess

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
    monkeypatch.setattr(frames, "CLOSE_TIMEOUT_S", 0.3)
    loud_child._process.send_signal(signal.SIGSTOP)  #: it cannot read the end of its input any more
    await asyncio.wait_for(loud_child.close(), timeout=10)
    assert loud_child._process.returncode == -9
