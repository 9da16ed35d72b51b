"""Runs a node's app on aiohttp so that the errors aiohttp answers itself, before any middleware, are problem+json.

aiohttp parses the request line and headers in its connection handler (`web_protocol.RequestHandler`): a malformed
request line, a header too long or invalid, a bad chunked framing are answered there by `handle_error`, as
`text/plain` quoting the offending bytes, and no middleware sees them. aiohttp offers no hook for these answers
(its issue 3287 is open), so this module subclasses the two classes involved, overriding one method each: the
handler's `handle_error` and the server's protocol factory, which creates the handler. `NodeRunner` (an
`AppRunner`) serves an app with them: `regies serve` runs it through `run_node`, the tests through their servers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from http import HTTPStatus

from aiohttp import http_exceptions, web
from aiohttp.web_protocol import RequestHandler
from aiohttp.web_request import BaseRequest

from federation.problems import Problem

# What each parser error means for the client, in our words: aiohttp's messages quote the client's bytes (control
# characters, whatever came in), which an answer does not repeat. The most specific class first.
_PARSER_ERRORS: tuple[tuple[type[Exception], str, str], ...] = (
    (http_exceptions.BadHttpMethod, "malformed-request", "the request method is not a valid HTTP method"),
    (http_exceptions.BadStatusLine, "malformed-request", "the request line is not 'METHOD target HTTP/1.x'"),
    (http_exceptions.InvalidURLError, "malformed-request", "the request target is not a valid URL"),
    (http_exceptions.LineTooLong, "malformed-request", "the request line or a header line is too long"),
    (http_exceptions.InvalidHeader, "malformed-request", "a request header is malformed"),
    (http_exceptions.TransferEncodingError, "malformed-request", "the chunked body is malformed"),
    (http_exceptions.ContentLengthError, "malformed-request", "the body does not match its Content-Length"),
    (http_exceptions.PayloadEncodingError, "malformed-request", "the body's encoding is malformed"),
    (http_exceptions.BadHttpMessage, "malformed-request", "the request is not valid HTTP/1.1"),
)


def parser_problem(status: int, exc: BaseException | None) -> Problem:
    """The problem aiohttp's own error answer stands for: its status, a type and a detail that quote nothing the
    client sent. A 500 says nothing more (the log has it), as the app's answers do."""
    for kind, slug, detail in _PARSER_ERRORS:
        if isinstance(exc, kind):
            return Problem(status, detail, slug=slug)
    if status >= 500:
        return Problem(status, "the node could not answer; its log has the details")
    return Problem(status, HTTPStatus(status).description)


class ProblemRequestHandler(RequestHandler):
    """aiohttp's connection handler, its own error answers in problem+json."""

    def handle_error(
        self,
        request: BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        # aiohttp's own logs it, and refuses (ConnectionError) when an answer was already begun.
        super().handle_error(request, status, exc, message)
        answer = parser_problem(status, exc).to_response()
        answer.force_close()  # as aiohttp does: after such an error the connection is not reused
        return answer


class ProblemServer(web.Server):
    """aiohttp's low-level server, whose connections are ProblemRequestHandlers."""

    def __call__(self) -> RequestHandler:
        return ProblemRequestHandler(self, loop=self._loop, **self._kwargs)

    @classmethod
    def taking_over(cls, server: web.Server) -> ProblemServer:
        """The same server (handler, request factory, settings) before it has served anything."""
        return cls(
            server.request_handler,
            request_factory=server.request_factory,
            handler_cancellation=server.handler_cancellation,
            loop=server._loop,
            **server._kwargs,
        )


class NodeRunner(web.AppRunner):
    """aiohttp's app runner, serving through a ProblemServer."""

    async def _make_server(self) -> web.Server:
        return ProblemServer.taking_over(await super()._make_server())


def run_node(
    app: web.Application,
    *,
    sock: socket.socket,
    access_log: logging.Logger | None,
    shutdown_timeout: float = 60.0,
) -> None:
    """Serve `app` on a listening socket until SIGINT or SIGTERM, as `web.run_app` does (graceful shutdown within
    `shutdown_timeout`), through a NodeRunner."""

    async def serve() -> None:
        runner = NodeRunner(app, handle_signals=True, access_log=access_log, shutdown_timeout=shutdown_timeout)
        await runner.setup()
        try:
            await web.SockSite(runner, sock).start()
            await asyncio.Event().wait()  # the signal handlers raise GracefulExit
        finally:
            await runner.cleanup()

    with contextlib.suppress(web.GracefulExit, KeyboardInterrupt):
        asyncio.run(serve())
