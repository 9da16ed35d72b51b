"""Frames between a pull and its helper processes arrive whole whatever the streams' buffering."""

from __future__ import annotations

import io

from federation.protocol import frames
from federation.protocol.frames import read_frame, write_frame


class _Trickle(io.RawIOBase):
    """A raw stream that, like a pipe interrupted by a signal, takes or gives at most `step` bytes per call."""

    def __init__(self, step: int, data: bytes = b"") -> None:
        self.step = step
        self.data = bytearray(data)
        self.calls = 0

    def writable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def write(self, chunk: object) -> int:
        self.calls += 1
        part = bytes(memoryview(chunk)[: self.step])  # type: ignore[arg-type]
        self.data += part
        return len(part)

    def read(self, size: int = -1) -> bytes:
        self.calls += 1
        part = bytes(self.data[: min(size, self.step)])
        del self.data[: len(part)]
        return part


def test_a_frame_written_to_a_stream_that_takes_it_in_parts_arrives_whole() -> None:
    written = _Trickle(step=65_536)
    message = ("page", b"r" * 300_000, "cursor")
    write_frame(written, message)  # type: ignore[arg-type]
    assert written.calls > 1
    assert read_frame(_Trickle(step=1_000, data=bytes(written.data))) == message  # type: ignore[arg-type]


def test_a_frame_cut_short_by_the_end_of_its_stream_reads_as_the_end() -> None:
    whole = frames.encode_frame(("page", b"r" * 1_000))
    assert read_frame(_Trickle(step=100, data=whole[:-1])) is None  # type: ignore[arg-type]
