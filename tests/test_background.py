"""Stopping background loops at shutdown."""

from __future__ import annotations

import asyncio

from gridlink import background


async def test_a_loop_that_swallows_one_cancellation_still_stops() -> None:
    """Like a loop whose database call turned the CancelledError into its own error, which the
    loop's `except Exception` then retried: shutdown must not wait for it forever."""
    rounds = 0
    swallowed = 0

    async def loop() -> None:
        nonlocal rounds, swallowed
        while True:
            rounds += 1
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                if swallowed:
                    raise
                swallowed += 1  # turned into an error and retried, as a library call may do

    task = asyncio.create_task(loop())
    await asyncio.sleep(0.05)
    await background.stop(task, grace_s=5)
    assert task.cancelled()
    assert swallowed == 1 and rounds > 1


async def test_a_loop_that_never_stops_is_abandoned_after_the_grace() -> None:
    released = asyncio.Event()

    async def stubborn() -> None:
        while not released.is_set():
            try:
                await asyncio.sleep(0.01)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0.05)  # inside its loop, where it ignores cancellation
    await background.stop(task, grace_s=0.3)
    assert not task.done()  # given up on, so the rest of shutdown goes on
    released.set()
    await task
