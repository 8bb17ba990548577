"""Webhook delivery: POST each pending update, in order, until the receiver answers 2xx.

Like Telegram, a failed delivery is retried with growing delays and the error is shown in
getWebhookInfo. Updates go one at a time so the receiver sees them in update_id order.
"""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp

from sandbox.state import Sandbox

log = logging.getLogger("sandbox.webhook")


async def deliver_forever(sb: Sandbox, session: aiohttp.ClientSession, *, retry_delay: float,
                          retry_max: float, request_timeout: float) -> None:
    delay = retry_delay
    while True:
        await sb.changed.wait_for(lambda: sb.webhook is not None and bool(sb.updates), 3600)
        hook, update = sb.webhook, sb.updates[0]
        assert hook is not None
        headers = {"Content-Type": "application/json"}
        if hook.secret_token:
            headers["X-Telegram-Bot-Api-Secret-Token"] = hook.secret_token
        error = None
        try:
            async with session.post(hook.url, data=json.dumps(update), headers=headers,
                                    timeout=aiohttp.ClientTimeout(total=request_timeout)) as response:
                await response.read()
                if not 200 <= response.status < 300:
                    error = f"Wrong response from the webhook: {response.status} {response.reason}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            error = f"Connection error: {exc.__class__.__name__}: {exc}"
        if error is None:
            sb.webhook_delivered(update["update_id"])
            delay = retry_delay
            continue
        log.info("webhook delivery failed", extra={"update_id": update["update_id"],
                                                   "error": error, "retry_in_s": delay})
        sb.webhook_failed(error)
        # A new setWebhook/deleteWebhook cuts the wait short, as the new target deserves a try.
        await sb.changed.wait_for(lambda h=hook: sb.webhook is not h, delay)  # type: ignore[misc]
        delay = min(delay * 2, retry_max)


def start(sb: Sandbox, *, retry_delay: float, retry_max: float,
          request_timeout: float) -> tuple[asyncio.Task[None], aiohttp.ClientSession]:
    session = aiohttp.ClientSession()
    task = asyncio.create_task(deliver_forever(sb, session, retry_delay=retry_delay,
                                               retry_max=retry_max, request_timeout=request_timeout))
    return task, session
