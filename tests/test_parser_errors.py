"""Requests aiohttp cannot parse, sent over raw sockets to a real `regies serve` process and to the tests' served
nodes: every answer is problem+json with the status aiohttp chooses, and quotes nothing the client sent."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Iterator
from typing import Any

import pytest

from tests.protocol.conftest import NodeFactory
from tests.served import regies_served


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    """`regies serve` on a free port; yields the port and the admin token, then stops it as an operator does."""
    with regies_served(tmp_path_factory.mktemp("parser") / "var", "Régie stricte") as answer:
        yield answer


def _exchange(port: int, raw: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send `raw` bytes, read until the server closes the connection: the answer's status, headers and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(raw)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, body = received.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, body


def _problem(answer: tuple[int, dict[str, str], bytes], status: int) -> dict[str, Any]:
    got, headers, body = answer
    assert got == status, body
    assert headers["content-type"] == "application/problem+json"
    problem: dict[str, Any] = json.loads(body)
    assert problem["status"] == status and problem["type"] and problem["title"] and problem["detail"]
    return problem


MALFORMED = {
    "request line": b"GARBAGE\x01<script>\r\n\r\n",
    "method": b"G\x00T /api/v1/node HTTP/1.1\r\nHost: x\r\n\r\n",
    "header too long": b"GET /api/v1/node HTTP/1.1\r\nHost: x\r\nX-Long: " + b"<script>" * 2000 + b"\r\n\r\n",
    "header line": b"GET /api/v1/node HTTP/1.1\r\nHost: x\r\nno colon <script>\r\n\r\n",
    "request target": b"GET http://[<script> HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("raw", MALFORMED.values(), ids=MALFORMED.keys())
def test_unparsable_requests_are_answered_in_problem_json(served: tuple[int, str], raw: bytes) -> None:
    port, _token = served
    problem = _problem(_exchange(port, raw), 400)
    assert problem["type"] == "urn:regies:problem:malformed-request"
    assert "<script>" not in json.dumps(problem)  # the client's bytes are not quoted back


def test_a_bad_chunked_body_is_answered_in_problem_json(served: tuple[int, str]) -> None:
    port, token = served
    raw = (
        b"POST /api/v1/activities HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Authorization: Bearer " + token.encode() + b"\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'5\r\n{"a":\r\nZZ<script>\r\n\r\n'
    )
    problem = _problem(_exchange(port, raw), 400)
    assert problem["type"] == "urn:regies:problem:malformed-request"
    assert "<script>" not in json.dumps(problem)


async def test_the_tests_served_nodes_answer_the_same(make_node: NodeFactory) -> None:
    node = await make_node("rq-a")
    port = node.server.port
    assert port is not None
    answer = await asyncio.to_thread(_exchange, port, MALFORMED["request line"])
    assert _problem(answer, 400)["type"] == "urn:regies:problem:malformed-request"
