"""`create_sandbox_app`: the Bot API sandbox as an aiohttp application."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

from aiohttp import web

from sandbox import botapi, control, webhook
from sandbox.botapi import SANDBOX
from sandbox.state import Sandbox

# Same value as gridlink.settings.SANDBOX_BOT_TOKEN: what the bot uses when no real token is set.
DEFAULT_TOKEN = "123456789:sandbox-gridlink-bot-token"
STATIC = Path(__file__).parent / "static"
CJK_FONT = "NotoSansCJKsc-Regular.otf"


def create_sandbox_app(*, rate_limits: bool = False, bot_token: str = DEFAULT_TOKEN,
                       bot_username: str = "gridlink_bot", bot_first_name: str = "GridLink",
                       webhook_retry_delay: float = 1.0, webhook_retry_max: float = 30.0,
                       webhook_timeout: float = 10.0, now: Callable[[], float] = time.time,
                       monotonic: Callable[[], float] = time.monotonic) -> web.Application:
    """A Telegram Bot API test double. `now` stamps message dates; `monotonic` drives the rate
    limiter (inject a fake one to test limits without sleeping)."""
    sandbox = Sandbox(token=bot_token, bot_username=bot_username, bot_first_name=bot_first_name,
                      rate_limits=rate_limits, now=now, monotonic=monotonic)
    app = web.Application(middlewares=[control.errors], client_max_size=60 * 1024 * 1024)
    app[SANDBOX] = sandbox
    botapi.setup_routes(app)
    control.setup_routes(app)

    async def index(request: web.Request) -> web.FileResponse:
        return web.FileResponse(STATIC / "index.html")

    async def cjk_font(request: web.Request) -> web.FileResponse:
        # the charts' CJK font (mplfonts), so the chat page shows Chinese without system fonts
        import mplfonts

        path = Path(mplfonts.__file__).parent / "fonts" / CJK_FONT
        return web.FileResponse(path, headers={"Cache-Control": "public, max-age=604800",
                                               "Content-Type": "font/otf"})

    app.router.add_get("/", index)
    app.router.add_get("/fonts/cjk.otf", cjk_font)
    app.router.add_static("/static/", STATIC)

    async def deliver_webhooks(app: web.Application) -> AsyncIterator[None]:
        task, session = webhook.start(sandbox, retry_delay=webhook_retry_delay,
                                      retry_max=webhook_retry_max,
                                      request_timeout=webhook_timeout)
        yield
        for pending in (task, *sandbox.late_tasks):
            pending.cancel()
        for pending in (task, *sandbox.late_tasks):
            with contextlib.suppress(BaseException):
                await pending
        await session.close()

    app.cleanup_ctx.append(deliver_webhooks)
    return app


def sandbox_of(app: web.Application) -> Sandbox:
    """The state behind a sandbox app (for tests that want to look inside)."""
    return app[SANDBOX]
