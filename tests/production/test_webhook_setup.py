"""`gridlink web` with a real token registers its webhook at start, once across processes,
against the Bot API sandbox (through a proxy that counts the calls)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from api.webhook_setup import ALLOWED_UPDATES, make_bot, webhook_info, webhook_url
from gridlink.app import create_app
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.settings import Settings
from tests.sandbox.conftest import RunningSandbox

SECRET = "w" * 48


class CountingProxy:
    """Forwards every Bot API call to the sandbox and counts them by method."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.calls: dict[str, int] = {}

    async def handle(self, request: web.Request) -> web.Response:
        method = request.path.rsplit("/", 1)[-1]
        self.calls[method] = self.calls.get(method, 0) + 1
        async with aiohttp.ClientSession() as session, session.request(
                request.method, self.target + request.path_qs, data=await request.read(),
                headers={"Content-Type": request.headers.get("Content-Type", "application/json")}) as resp:
            return web.Response(body=await resp.read(), status=resp.status,
                                content_type=resp.content_type)


@pytest.fixture
async def proxy(sandbox: RunningSandbox) -> AsyncIterator[tuple[CountingProxy, str]]:
    counting = CountingProxy(sandbox.url)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", counting.handle)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    try:
        yield counting, str(server.make_url("")).rstrip("/")
    finally:
        await server.close()


async def _wait(db: Database, *, state: str = "done") -> None:
    for _ in range(200):
        if await db.webhook_registrations.find_one({"state": state}):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("no webhook registration recorded")


async def test_two_web_processes_register_the_webhook_once(
        proxy: tuple[CountingProxy, str], sandbox: RunningSandbox, settings: Settings,
        mongo_uri: str, clock: FakeClock, db: Database, caplog: pytest.LogCaptureFixture) -> None:
    counting, url = proxy
    conf = settings.model_copy(update={"telegram_bot_token": sandbox.token, "telegram_api_url": url,
                                       "webhook_secret": SECRET,
                                       "public_base_url": "https://gridlink.example"})
    caplog.set_level(logging.INFO, logger="gridlink.bot")
    servers = [TestServer(create_app(conf, mongo_uri=mongo_uri, clock=clock)) for _ in range(2)]
    await asyncio.gather(*(s.start_server() for s in servers))
    try:
        await _wait(db)
        await asyncio.sleep(1.0)  # the other process's retry sees the registration
        assert counting.calls.get("setWebhook") == 1, counting.calls
        info = sandbox.state.webhook_info()
        assert info["url"] == "https://gridlink.example/telegram/webhook"
        assert sorted(info.get("allowed_updates") or []) == sorted(ALLOWED_UPDATES)
        assert sandbox.state.webhook is not None
        assert any(r.message == "webhook registered" for r in caplog.records)
        # a restart finds it registered and Telegram agreeing: nothing is sent again
        third = TestServer(create_app(conf, mongo_uri=mongo_uri, clock=clock))
        await third.start_server()
        servers.append(third)
        for _ in range(100):
            if any(r.message == "webhook already registered" for r in caplog.records):
                break
            await asyncio.sleep(0.05)
        assert counting.calls.get("setWebhook") == 1
        shown = await webhook_info(conf)
        assert shown["matches"] and shown["url"] == webhook_url(conf)
        # someone pointed the bot elsewhere: the next start registers again
        async with make_bot(conf) as bot:
            await bot.delete_webhook()
        fourth = TestServer(create_app(conf, mongo_uri=mongo_uri, clock=clock))
        await fourth.start_server()
        servers.append(fourth)
        for _ in range(100):
            if counting.calls.get("setWebhook") == 2:
                break
            await asyncio.sleep(0.05)
        assert counting.calls.get("setWebhook") == 2
        assert sandbox.state.webhook_info()["url"] == webhook_url(conf)
    finally:
        for s in servers:
            await s.close()
