"""Stopping helper tasks, and tidying up after them, without losing or obeying too early the cancellation of the task
that does it."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


async def cancel_and_wait(*tasks: asyncio.Future[Any]) -> None:
    """Cancel `tasks` and wait until each has ended; how they ended is retrieved and dropped.

    Why not `task.cancel()` then `with suppress(CancelledError): await task`: if the caller is itself cancelled
    while it waits (a server stopping while a pull cleans up), that CancelledError is the caller's, and
    suppressing it lets the caller carry on as if nobody had asked it to stop; a stopping server whose worker
    was pulling then never stopped. `asyncio.wait` never raises what a task ended with, so a CancelledError out
    of it is the caller's own and goes on.
    """
    if not tasks:
        return
    for task in tasks:
        task.cancel()
    await asyncio.wait(tasks)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # retrieved: an error it ended with while being stopped is nobody's concern now


async def run_to_end(cleanup: Coroutine[Any, Any, T]) -> T:
    """Run `cleanup` to its end even if the caller is cancelled meanwhile; that cancellation goes on once it is done.

    Why: clean-up that a cancellation cuts short (a server told to stop while a pull tidies up) leaves helper
    processes running and leases held.
    """
    task = asyncio.ensure_future(cleanup)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait({task})
        raise
