"""Length-prefixed `marshal` frames between a pull and its helper processes, as both ends write and read them.

A pull hands work to child processes of the same Python (the SQLite writer, the page parsers): each message is
a 4-byte big-endian length and a `marshal` payload, on the child's stdin and stdout. marshal because both ends
are the same interpreter and it is the cheapest way to move rows of plain values (a page of rows in well under a
millisecond). A child ends when its stdin closes, so it never outlives a pull that ended or died.
"""

from __future__ import annotations

import contextlib
import fcntl
import marshal
import struct
import sys
from typing import Any, BinaryIO

LENGTH = struct.Struct(">I")
PIPE_BYTES = 1 << 20  # Linux's default ceiling for an unprivileged process (/proc/sys/fs/pipe-max-size)


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
