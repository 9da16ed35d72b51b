"""How long a client may take to send a request: the header and idle limit, and the deadline of a request's body.

A node may face the internet without a reverse proxy: a client that opens connections and sends nothing, or a
request a few bytes at a time, must not hold them open for long. aiohttp closes a connection whose request
headers have not all arrived `idle_timeout_s` after it opened or after the previous answer (its keep-alive timer
also runs while headers trickle in); a body must then arrive whole within `body_timeout_s` of its headers, or the
request is answered 408 and the connection closed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from federation.problems import Problem

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def handler_args(idle_timeout_s: float) -> dict[str, Any]:
    """What the app passes to aiohttp's request handler for every connection."""
    return {"keepalive_timeout": idle_timeout_s}


def body_deadline(timeout_s: float) -> Middleware:
    """A middleware that gives a request's body `timeout_s` to arrive, counted from its headers."""

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        body = request.content
        if body.is_eof():  # no body, or all of it arrived with the headers
            return await handler(request)
        late = Problem(408, f"the request body did not arrive within {timeout_s:g} s", slug="request-timeout")
        expired = False

        def expire() -> None:
            nonlocal expired
            if not body.is_eof():
                expired = True
                body.set_exception(late)  # wakes whoever waits for the body: request.read(), post(), a stream

        timer = asyncio.get_running_loop().call_later(timeout_s, expire)
        try:
            response = await handler(request)
        except Exception:
            if not expired:
                raise
        finally:
            timer.cancel()
        if not expired:
            return response
        # Whatever the handler made of the missing body, the answer is 408; nothing more is read from this
        # client (no lingering drain of the rest) and the connection closes once it is sent.
        body.feed_eof()
        answer = late.to_response(request.path)
        answer.force_close()
        return answer

    return middleware
