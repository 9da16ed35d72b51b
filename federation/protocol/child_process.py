"""A pull's helper processes seen from the pull: start one, speak to it in frames, end it.

Kept apart from the frames themselves (federation.protocol.frames), which the helpers import: asyncio stays out
of a helper's start-up, which the first page of a backlog waits for.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import marshal
import sys
from typing import Any

from federation.protocol.frames import LENGTH, PIPE_BYTES, encode_frame

CLOSE_TIMEOUT_S = 30.0  # how long a child may take to finish its input and exit once told to


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
