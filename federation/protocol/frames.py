"""Length-prefixed `marshal` frames between a pull and its helper processes, and the pull's handle on one of them.

A pull hands work to child processes of the same Python (the SQLite writer, the page parsers): each message is
a 4-byte big-endian length and a `marshal` payload, on the child's stdin and stdout. marshal because both ends
are the same interpreter and it is the cheapest way to move rows of plain values (a page of rows in well under a
millisecond). A child ends when its stdin closes, so it never outlives a pull that ended or died.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import marshal
import struct
import sys
from typing import Any, BinaryIO

LENGTH = struct.Struct(">I")
PIPE_BYTES = 1 << 20  # Linux's default ceiling for an unprivileged process (/proc/sys/fs/pipe-max-size)
CLOSE_TIMEOUT_S = 30.0  # how long a child may take to finish its input and exit once told to


# Why the loops in _read_exactly and write_frame: with PYTHONUNBUFFERED=1 (common in containers and service
# units) a child's sys.stdout.buffer is the raw file, whose write() may take only part of a page when a signal
# interrupts it: a job-control stop (Ctrl-Z then fg), a debugger or profiler attaching. The rest was dropped and
# the pull waited for the end of that frame for good. Reads get the same care for any raw stream handed in.


def _read_exactly(stream: BinaryIO, size: int) -> bytes | None:
    chunk = stream.read(size)
    if chunk is None or len(chunk) == size:
        return chunk
    parts = [chunk]
    received = len(chunk)
    while received < size:
        chunk = stream.read(size - received)
        if not chunk:
            return None  # the stream ended mid-frame
        parts.append(chunk)
        received += len(chunk)
    return b"".join(parts)


def read_frame(stream: BinaryIO) -> Any:
    """The next message on a blocking stream; None at its end (or at a frame cut short by it)."""
    header = _read_exactly(stream, LENGTH.size)
    if header is None:
        return None
    (length,) = LENGTH.unpack(header)
    payload = _read_exactly(stream, length)
    if payload is None:
        return None
    return marshal.loads(payload)


def encode_frame(message: tuple[Any, ...]) -> bytes:
    payload = marshal.dumps(message)
    return LENGTH.pack(len(payload)) + payload


def write_frame(stream: BinaryIO, message: tuple[Any, ...]) -> None:
    """Write the whole frame, even to a raw stream that takes it in parts (see above)."""
    frame = memoryview(encode_frame(message))
    while frame:
        written = stream.write(frame)
        if written is None:  # a non-blocking stream that is full: never ours, but never a silent loss either
            raise BlockingIOError("a helper process's pipe is non-blocking and full")
        frame = frame[written:]
    stream.flush()


def child_streams() -> tuple[BinaryIO, BinaryIO]:
    """A helper process's end of its frames: its stdin and stdout, the stdout pipe enlarged like its stdin.

    Why: an answer (a page of rows) is about a megabyte; with the default 64 KiB pipe the child waits, unable to
    start on its next page, until the pulling process (busy parsing a page itself meanwhile) has read it all.
    """
    if hasattr(fcntl, "F_SETPIPE_SZ"):
        with contextlib.suppress(OSError):  # not a pipe (a test's file), or a host's lower ceiling
            fcntl.fcntl(sys.stdout.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    return sys.stdin.buffer, sys.stdout.buffer


class ChildFailed(Exception):
    """A helper process reported an error or ended before answering."""


class ChildProcess:
    """A helper process running `python -m <module> <args>`, spoken to in frames."""

    def __init__(self, process: asyncio.subprocess.Process, name: str, advice: str = "") -> None:
        self.name = name
        self.advice = advice
        self._process = process
        self._stdin = process.stdin
        self._stdout = process.stdout

    @classmethod
    async def start(cls, name: str, module: str, *args: str, advice: str = "") -> ChildProcess:
        """Start the child; `name` says what it is in error messages ("the SQLite writer"), `advice` what to do
        if it keeps failing."""
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", module, *args, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE
        )
        if process.stdin is not None and hasattr(fcntl, "F_SETPIPE_SZ"):
            # A page is about a megabyte: with the default 64 KiB pipe it would cross in ~30 wake-ups.
            pipe = process.stdin.get_extra_info("pipe")
            with contextlib.suppress(OSError):
                fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, PIPE_BYTES)
        return cls(process, name, advice)

    async def send(self, message: tuple[Any, ...]) -> None:
        assert self._stdin is not None
        self._stdin.write(encode_frame(message))
        try:
            await self._stdin.drain()
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ChildFailed(await self.failure()) from exc

    async def receive(self) -> Any:
        """The child's next message; ChildFailed if it reported an error (("error", text)) or ended."""
        message = await self._read()
        if message is None:
            raise ChildFailed(await self.failure())
        if message[0] == "error":
            raise ChildFailed(self._failed(f"{self.name} failed: {message[1]}"))
        return message

    async def _read(self) -> Any:
        assert self._stdout is not None
        try:
            header = await self._stdout.readexactly(LENGTH.size)
            (length,) = LENGTH.unpack(header)
            return marshal.loads(await self._stdout.readexactly(length))
        except asyncio.IncompleteReadError:
            return None

    async def failure(self) -> str:
        """Why the child stopped answering: the error it reported last, or its exit status."""
        message = await self._read()
        if message is not None and message[0] == "error":
            return self._failed(f"{self.name} failed: {message[1]}")
        code = await self._process.wait()
        return self._failed(
            f"{self.name} process ended unexpectedly (exit status {code}); what was committed is kept and the "
            "next pull resumes from there"
        )

    def _failed(self, what: str) -> str:
        return f"{what} ({self.advice})" if self.advice else what

    async def kill(self) -> None:
        """End the child at once (SIGKILL) and wait for it; whoever reads its output sees it end."""
        self._process.kill()
        await self._process.wait()

    async def abandon(self) -> None:
        """End the child at once, nobody reading its output any more: what it was not sent yet is dropped."""
        if self._stdin is not None and not self._stdin.is_closing():
            self._stdin.transport.abort()
        with contextlib.suppress(ProcessLookupError):  # it had ended already
            self._process.kill()
        await self._exit_draining()

    async def close(self) -> None:
        """Close its stdin (the child then ends) and wait for it to exit, nobody reading its output any more;
        abandoned if that takes over CLOSE_TIMEOUT_S."""
        if self._stdin is not None and not self._stdin.is_closing():
            self._stdin.close()
        try:
            await asyncio.wait_for(self._exit_draining(), timeout=CLOSE_TIMEOUT_S)
        except TimeoutError:
            await self.abandon()

    async def _exit_draining(self) -> None:
        """The child's exit, its remaining output read and dropped meanwhile.

        Why: a child blocked writing to a full pipe never reads the end of its input, and asyncio reports a child's
        exit only once its pipes are closed, which a paused reader never sees (a pull interrupted mid-way hung
        there for good)."""
        assert self._stdout is not None
        with contextlib.suppress(OSError):  # the pipe broke: closed all the same
            while await self._stdout.read(PIPE_BYTES):
                pass
        await self._process.wait()
