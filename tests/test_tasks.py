"""Stopping helper tasks: the stopping task's own cancellation is neither lost nor obeyed before clean-up ends."""

from __future__ import annotations

import asyncio
import contextlib

import pytest

from federation.tasks import cancel_and_wait, run_to_end


async def _slow_to_stop(stopped: list[str]) -> None:
    try:
        await asyncio.sleep(3600)
    except asyncio.CancelledError:
        await asyncio.sleep(0.2)  # tidying up, as a pull's helpers do
        stopped.append("helper")
        raise


async def test_a_task_cancelled_while_stopping_its_helper_stops_too() -> None:
    stopped: list[str] = []
    went_on: list[str] = []

    async def caller(helper_pattern: str) -> None:
        helper = asyncio.create_task(_slow_to_stop(stopped))
        await asyncio.sleep(0)
        if helper_pattern == "suppress":  # the pattern this replaced
            helper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await helper
        else:
            await cancel_and_wait(helper)
        went_on.append(helper_pattern)
        await asyncio.sleep(3600)  # a worker's next round

    stopped_callers = []
    for pattern in ("suppress", "cancel_and_wait"):
        task = asyncio.create_task(caller(pattern))
        await asyncio.sleep(0.05)
        task.cancel()  # the server stops while the caller waits for its helper
        await asyncio.wait({task}, timeout=1)
        if task.done():
            stopped_callers.append(pattern)
        else:  # it carried on into its next round: stop it for good
            await cancel_and_wait(task)
    # The old pattern swallowed the caller's cancellation and carried on; with the helper the caller stops too.
    assert went_on == ["suppress"]
    assert stopped_callers == ["cancel_and_wait"]
    await asyncio.sleep(0.3)
    assert "helper" in stopped  # and its helper tidied up undisturbed (awaiting it would have cancelled that too)


async def test_what_a_helper_ended_with_is_retrieved() -> None:
    async def failing() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            raise RuntimeError("gone")

    loop = asyncio.get_running_loop()
    reported: list[object] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    helper = asyncio.create_task(failing())
    await asyncio.sleep(0)
    await cancel_and_wait(helper, asyncio.create_task(asyncio.sleep(3600)))
    del helper
    import gc

    gc.collect()
    assert reported == []  # no "Task exception was never retrieved"
    await cancel_and_wait()  # nothing to stop: nothing to do


async def test_clean_up_runs_to_its_end_then_the_cancellation_goes_on() -> None:
    steps: list[str] = []

    async def clean_up() -> None:
        await asyncio.sleep(0.2)
        steps.append("children ended")
        await asyncio.sleep(0.1)
        steps.append("lease given back")

    async def pull() -> None:
        try:
            await asyncio.sleep(3600)
        finally:
            await run_to_end(clean_up())

    task = asyncio.create_task(pull())
    await asyncio.sleep(0.05)
    task.cancel()  # Ctrl-C: the pull starts tidying up
    await asyncio.sleep(0.05)
    task.cancel()  # a second cancellation, mid-way through
    with pytest.raises(asyncio.CancelledError):
        await task
    assert steps == ["children ended", "lease given back"]
