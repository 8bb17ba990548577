"""Background loops owned by a cleanup_ctx: started with the app, stopped with it."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)

STOP_GRACE_S = 10.0


async def stop(task: asyncio.Task[Any], *, grace_s: float = STOP_GRACE_S) -> None:
    """Cancel `task` and wait for it to end, cancelling again while it runs on.

    One cancel is not always enough: a loop that catches `Exception` and retries keeps running
    when a library turns the CancelledError into an error of its own. Waiting on such a task
    hung an app's shutdown (and a CI run); here shutdown is bounded by `grace_s`.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + grace_s
    while not task.done():
        if loop.time() >= deadline:
            log.warning("background task did not stop; abandoned", extra={"task": task.get_name()})
            return
        task.cancel()
        await asyncio.wait({task}, timeout=0.25)
    if not task.cancelled() and task.exception() is not None:
        log.warning("background task failed", exc_info=task.exception())
