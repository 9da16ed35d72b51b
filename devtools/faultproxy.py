"""A misbehaving HTTP/1.1 proxy on 127.0.0.1 for fault tests: it drops, delays, duplicates, reorders, truncates
or corrupts requests and responses at random (seeded) until it is told to calm down.

Used by tests/protocol/test_fault_proxy.py and usable by hand in front of any node or hub:

    python -m devtools.faultproxy --upstream 8080 --port 9080 --rate 0.3 --seed 7

Point a peer (or `[plugins.hubclient] url`) at the proxy's URL instead of the server's. The proxy passes the
`Host` header through unchanged, so RFC 9421 signatures made for the proxy's URL still verify upstream.

Each client connection carries one request: the proxy reads it whole (Content-Length framing), forwards it on
a fresh upstream connection with `Connection: close`, reads the whole answer and relays it, then closes. That
keeps every fault well defined: a *dropped response* means the upstream did the work and the client never
hears of it; a *duplicate* is the same signed request sent again later, after newer ones (a replay, out of
order); a *reordered* request is held back so that later ones overtake it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import re
from collections import Counter
from collections.abc import Iterable

FAULTS = (
    "drop_request",  # never forwarded; the client's connection is closed without an answer
    "drop_response",  # forwarded and answered upstream; the client's connection is closed without an answer
    "delay",  # the answer is held back for up to max_delay_s
    "reorder",  # the request is held back for up to max_delay_s before it is forwarded
    "duplicate",  # forwarded now, and the very same bytes again up to max_delay_s later
    "truncate_request",  # only a prefix of the request reaches the upstream; the client gets no answer
    "truncate_response",  # the client gets only a prefix of the answer
    "corrupt_request",  # one byte of the body (or of the query string) is changed
    "corrupt_response",  # one byte of the answer's body is replaced by 0xFF (never valid UTF-8)
)
HEAD_END = b"\r\n\r\n"
UPSTREAM_TIMEOUT_S = 60.0
_HOP_BY_HOP = re.compile(rb"(?im)^(connection|keep-alive|proxy-connection):[^\r\n]*\r\n")
_CONTENT_LENGTH = re.compile(rb"(?im)^content-length:\s*([0-9]+)\s*$")
_CHUNKED = re.compile(rb"(?im)^transfer-encoding:[^\r\n]*chunked")


class FaultProxy:
    """Forwards 127.0.0.1:`port` to 127.0.0.1:`upstream_port`, injecting one fault into a `rate` share of the
    requests (chosen among `faults` with a `random.Random(seed)`). `injected` counts the faults by kind."""

    def __init__(
        self,
        upstream_port: int,
        *,
        seed: int,
        rate: float = 0.0,
        faults: Iterable[str] = FAULTS,
        max_delay_s: float = 0.2,
        port: int = 0,
        host: str = "127.0.0.1",
    ) -> None:
        unknown = set(faults) - set(FAULTS)
        if unknown:
            raise ValueError(f"unknown faults: {', '.join(sorted(unknown))}; known: {', '.join(FAULTS)}")
        self.upstream = (host, upstream_port)
        self.host, self.port = host, port
        self.rate = rate
        self.faults = tuple(faults)
        self.max_delay_s = max_delay_s
        self.rng = random.Random(seed)
        self.injected: Counter[str] = Counter()
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._late: set[asyncio.Task[None]] = set()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> FaultProxy:
        self._server = await asyncio.start_server(self._serve, self.host, self.port, limit=1 << 20)
        self.port = int(self._server.sockets[0].getsockname()[1])
        return self

    def misbehave(self, rate: float) -> None:
        self.rate = rate

    async def calm(self) -> None:
        """Stop injecting faults, and wait until the late duplicates already scheduled have been sent."""
        self.rate = 0.0
        while self._late:
            await asyncio.gather(*self._late, return_exceptions=True)

    async def close(self) -> None:
        for task in self._late:
            task.cancel()
        await asyncio.gather(*self._late, return_exceptions=True)
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    def _choose(self) -> str | None:
        if not self.faults or self.rng.random() >= self.rate:
            return None
        fault = self.rng.choice(self.faults)
        self.injected[fault] += 1
        return fault

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await _read_request(reader)
            if request is None:
                return
            self.requests += 1
            answer = await self._relay(request, self._choose())
            if answer:
                writer.write(answer)
                await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass  # a client or upstream that went away is part of the game
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()

    async def _relay(self, request: bytes, fault: str | None) -> bytes:
        """What the client receives (empty: nothing, its connection is just closed)."""
        if fault == "drop_request":
            return b""
        if fault == "truncate_request":
            await self._exchange(request[: self.rng.randrange(1, len(request))])
            return b""
        if fault == "corrupt_request":
            request = _corrupt_request(request, self.rng)
        if fault == "reorder":
            await asyncio.sleep(self.rng.uniform(0, self.max_delay_s))
        if fault == "duplicate":
            task = asyncio.create_task(self._send_late(request, self.rng.uniform(0, self.max_delay_s)))
            self._late.add(task)
            task.add_done_callback(self._late.discard)
        answer = await self._exchange(request)
        if fault == "drop_response":
            return b""
        if fault == "delay":
            await asyncio.sleep(self.rng.uniform(0, self.max_delay_s))
        if fault == "truncate_response" and len(answer) > 1:
            return answer[: self.rng.randrange(1, len(answer))]
        if fault == "corrupt_response":
            return _corrupt_body(answer, self.rng)
        return answer

    async def _send_late(self, request: bytes, delay: float) -> None:
        await asyncio.sleep(delay)
        with contextlib.suppress(OSError, TimeoutError):
            await self._exchange(request)

    async def _exchange(self, request: bytes) -> bytes:
        """Send `request` on a new upstream connection; the upstream's whole answer (it closes after it)."""
        reader, writer = await asyncio.open_connection(*self.upstream)
        try:
            writer.write(request)
            await writer.drain()
            if _is_complete(request):
                return await asyncio.wait_for(reader.read(), UPSTREAM_TIMEOUT_S)
            return b""  # a truncated request: hang up, as a client cut off mid-request would
        finally:
            writer.close()
            with contextlib.suppress(ConnectionError):
                await writer.wait_closed()


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    """One whole request with `Connection: close` in place of the client's connection headers (None: EOF)."""
    try:
        head = await reader.readuntil(HEAD_END)
    except asyncio.IncompleteReadError:
        return None
    if _CHUNKED.search(head):
        raise ConnectionError("chunked request bodies are not supported by the fault proxy")
    match = _CONTENT_LENGTH.search(head)
    body = await reader.readexactly(int(match.group(1))) if match else b""
    head = _HOP_BY_HOP.sub(b"", head[: -len(HEAD_END)] + b"\r\n") + b"Connection: close" + HEAD_END
    return head + body


def _is_complete(request: bytes) -> bool:
    head, separator, body = request.partition(HEAD_END)
    match = _CONTENT_LENGTH.search(head + b"\r\n")
    return bool(separator) and len(body) == (int(match.group(1)) if match else 0)


def _corrupt_request(request: bytes, rng: random.Random) -> bytes:
    head, _separator, body = request.partition(HEAD_END)
    if body:
        return head + HEAD_END + _flip(body, rng)
    line, _newline, rest = head.partition(b"\r\n")
    method, target, version = line.split(b" ", 2)
    start = target.find(b"?") + 1  # 0 without a query string: then the path itself is changed
    position = rng.randrange(max(start, 1), len(target)) if len(target) > 1 else 0
    replacement = b"Z" if target[position : position + 1] != b"Z" else b"Q"
    target = target[:position] + replacement + target[position + 1 :]
    return b" ".join((method, target, version)) + b"\r\n" + rest + HEAD_END


def _corrupt_body(answer: bytes, rng: random.Random) -> bytes:
    head, separator, body = answer.partition(HEAD_END)
    if not separator or not body:
        return answer[: len(answer) // 2]  # nothing to corrupt in a body: break the framing instead
    return head + HEAD_END + _flip(body, rng)


def _flip(data: bytes, rng: random.Random) -> bytes:
    position = rng.randrange(len(data))
    return data[:position] + b"\xff" + data[position + 1 :]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.faultproxy", description=__doc__.splitlines()[0])
    parser.add_argument("--upstream", type=int, required=True, help="port of the server on 127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="port to listen on (default: a free one)")
    parser.add_argument("--rate", type=float, default=0.3, help="share of requests that suffer a fault")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-delay", type=float, default=0.2, help="seconds, for delay, reorder and duplicate")
    parser.add_argument("--faults", default=",".join(FAULTS), help="comma-separated subset of: " + ", ".join(FAULTS))
    args = parser.parse_args(argv)

    async def serve() -> None:
        proxy = FaultProxy(
            args.upstream,
            seed=args.seed,
            rate=args.rate,
            faults=[name for name in args.faults.split(",") if name],
            max_delay_s=args.max_delay,
            port=args.port,
        )
        await proxy.start()
        print(f"fault proxy {proxy.url} -> 127.0.0.1:{args.upstream} (rate {args.rate}, seed {args.seed})", flush=True)
        try:
            await asyncio.Event().wait()
        finally:
            await proxy.close()
            print(f"{proxy.requests} requests, faults: {dict(proxy.injected)}", flush=True)

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
