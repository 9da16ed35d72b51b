"""Slow and idle clients against a real `regies serve` process: the connection is closed within the limits."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator

import pytest

from tests.served import regies_served

IDLE_S, BODY_S = 1.0, 1.5


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """A node served with one-second limits; yields its port and admin token."""
    limits = {"REGIES_SERVER__IDLE_TIMEOUT_S": str(IDLE_S), "REGIES_SERVER__BODY_TIMEOUT_S": str(BODY_S)}
    with regies_served(tmp_path_factory.mktemp("deadlines") / "var", "Régie lente", limits) as answer:
        yield answer


def _seconds_until_closed(sock: socket.socket, trickle: list[bytes], limit: float) -> tuple[float, bytes]:
    """Send `trickle` one piece every 0.2 s (then nothing) until the server closes; time taken and what it said."""
    start, received = time.monotonic(), b""
    sock.settimeout(0.2)
    pieces = iter(trickle)
    while time.monotonic() - start < limit:
        piece = next(pieces, None)
        try:
            if piece is not None:
                sock.sendall(piece)
            chunk = sock.recv(65536)
        except TimeoutError:
            continue
        except (ConnectionResetError, BrokenPipeError):
            break
        if not chunk:
            break
        received += chunk
    return time.monotonic() - start, received


def test_a_connection_that_sends_nothing_is_closed(server: tuple[int, str]) -> None:
    port, _token = server
    with socket.create_connection(("127.0.0.1", port)) as sock:
        elapsed, received = _seconds_until_closed(sock, [], limit=10)
    assert IDLE_S - 0.2 <= elapsed < IDLE_S + 2 and received == b""


def test_headers_sent_slowly_are_cut_off(server: tuple[int, str]) -> None:
    """A slowloris: the request line and headers a few bytes at a time, never finished."""
    port, _token = server
    trickle = [b"GET /api/v1/activities HTTP/1.1\r\n", *(b"X-Slow-%d: 1\r\n" % n for n in range(100))]
    with socket.create_connection(("127.0.0.1", port)) as sock:
        elapsed, received = _seconds_until_closed(sock, trickle, limit=10)
    assert elapsed < IDLE_S + 2 and received == b""


def test_a_body_sent_slowly_gets_408_and_the_connection_closes(server: tuple[int, str]) -> None:
    port, token = server
    head = (
        f"POST /api/v1/activities HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
        "Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    ).encode()
    trickle = [head, *([b" " * 10] * 100)]
    with socket.create_connection(("127.0.0.1", port)) as sock:
        elapsed, received = _seconds_until_closed(sock, trickle, limit=10)
    assert elapsed < BODY_S + 2
    assert received.startswith(b"HTTP/1.1 408 ")
    assert b"application/problem+json" in received and b"urn:regies:problem:request-timeout" in received


def test_a_kept_alive_connection_is_closed_once_idle(server: tuple[int, str]) -> None:
    port, _token = server
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        elapsed, received = _seconds_until_closed(sock, [], limit=10)
    assert received.startswith(b"HTTP/1.1 200 ") and elapsed < IDLE_S + 2
