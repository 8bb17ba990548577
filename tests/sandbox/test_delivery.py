"""Webhook delivery, rate limits and injected faults, seen through python-telegram-bot."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from telegram import Bot
from telegram.error import NetworkError, RetryAfter, TimedOut

from sandbox.client import SandboxError
from tests.sandbox.conftest import RunningSandbox, running_sandbox


@pytest.fixture(autouse=True)
def timedelta_retry_after(monkeypatch: pytest.MonkeyPatch) -> None:
    """PTB 22 warns on every RetryAfter unless opted in to timedelta `retry_after`."""
    monkeypatch.setenv("PTB_TIMEDELTA", "1")


@dataclass
class Receiver:
    """A webhook endpoint that fails its first `failures` requests with 500."""

    failures: int = 0
    seen: list[tuple[int, str | None, int]] = field(default_factory=list)  # update, secret, status
    delivered: list[int] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, request: web.Request) -> web.Response:
        update = await request.json()
        status = 500 if self.failures > 0 else 200
        self.failures -= 1
        self.seen.append((update["update_id"], request.headers.get(
            "X-Telegram-Bot-Api-Secret-Token"), status))
        if status == 200:
            self.delivered.append(update["update_id"])
            self.arrived.set()
        return web.Response(status=status)

    async def wait_delivered(self, count: int) -> None:
        while len(self.delivered) < count:
            self.arrived.clear()
            await asyncio.wait_for(self.arrived.wait(), 5)


@pytest.fixture
async def receiver() -> AsyncIterator[tuple[Receiver, str]]:
    hook = Receiver(failures=2)
    app = web.Application()
    app.router.add_post("/telegram/webhook", hook.handle)
    async with TestServer(app, host="127.0.0.1") as server:
        yield hook, str(server.make_url("/telegram/webhook"))


@pytest.fixture
async def bot(sandbox: RunningSandbox) -> AsyncIterator[Bot]:
    async with Bot(sandbox.token, base_url=sandbox.base_url,
                   base_file_url=sandbox.base_file_url) as bot:
        yield bot


async def test_webhook_delivers_in_order_with_secret_and_redelivers(
        sandbox: RunningSandbox, bot: Bot, receiver: tuple[Receiver, str]) -> None:
    hook, url = receiver
    assert await bot.set_webhook(url, secret_token="s3cret-Token_1")
    user = await sandbox.client.create_user("Hook")
    await sandbox.client.send_text(user["id"], "first")
    await sandbox.client.send_text(user["id"], "second")
    await hook.wait_delivered(2)
    first, second = hook.delivered
    assert second == first + 1
    # the first update was refused twice and delivered again each time, before the second
    assert hook.seen == [(first, "s3cret-Token_1", 500), (first, "s3cret-Token_1", 500),
                         (first, "s3cret-Token_1", 200), (second, "s3cret-Token_1", 200)]
    info = await bot.get_webhook_info()
    assert info.url == url and info.pending_update_count == 0
    assert info.last_error_message is not None and "500" in info.last_error_message
    stats = await sandbox.client.stats()
    assert (stats["webhook_delivered"], stats["webhook_failed"]) == (2, 2)


async def test_webhook_unreachable_keeps_updates_until_fixed(
        sandbox: RunningSandbox, bot: Bot, receiver: tuple[Receiver, str]) -> None:
    hook, url = receiver
    hook.failures = 0
    await bot.set_webhook("http://127.0.0.1:9/nobody-listens")
    user = await sandbox.client.create_user("Later")
    await sandbox.client.send_text(user["id"], "kept")
    for _ in range(100):
        if (await bot.get_webhook_info()).last_error_message:
            break
        await asyncio.sleep(0.02)
    info = await bot.get_webhook_info()
    assert info.pending_update_count == 1
    assert info.last_error_message is not None and "Connection" in info.last_error_message
    await bot.set_webhook(url)  # no secret set: no header
    await hook.wait_delivered(1)
    assert hook.seen[0][1] is None
    assert (await bot.get_webhook_info()).pending_update_count == 0


class FakeMonotonic:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_rate_limits_answer_429_with_retry_after() -> None:
    clock = FakeMonotonic()
    async with running_sandbox(rate_limits=True, monotonic=clock) as sandbox, Bot(
            sandbox.token, base_url=sandbox.base_url) as bot:
        users = [await sandbox.client.create_user(f"U{i}") for i in range(31)]
        private = users[0]["id"]
        for _ in range(3):  # a private chat tolerates a burst of 3
            await bot.send_message(private, "x")
        with pytest.raises(RetryAfter) as limited:
            await bot.send_message(private, "x")
        assert limited.value.retry_after == timedelta(seconds=1)
        clock.now += 1.0
        await bot.send_message(private, "after a second")

        group = await sandbox.client.create_group("街道中心", [u["id"] for u in users[:3]])
        for _ in range(20):
            await bot.send_message(group["id"], "g")
        with pytest.raises(RetryAfter) as limited:
            await bot.send_message(group["id"], "g")
        assert limited.value.retry_after == timedelta(seconds=3)  # 20/min: one per 3 s

        stats = await sandbox.client.stats()
        assert stats["rate_limited_429"] == 2 and stats["total_429"] == 2
        assert stats["sent_per_chat"][str(private)] == 4
        assert stats["sent_per_chat"][str(group["id"])] == 20

        clock.now += 10.0  # refill everything, then spend the bot-wide 30/s over many chats
        for user in users[1:31]:
            await bot.send_message(user["id"], "broadcast")
        with pytest.raises(RetryAfter):
            await bot.send_message(private, "the 31st in the same second")

        await sandbox.client.configure(rate_limits=False)
        await bot.send_message(private, "no limits now")
        assert (await sandbox.client.stats())["rate_limited_429"] == 3


async def test_limits_can_be_tuned_and_are_validated() -> None:
    clock = FakeMonotonic()
    async with running_sandbox(monotonic=clock) as sandbox, Bot(
            sandbox.token, base_url=sandbox.base_url) as bot:
        info = await sandbox.client.configure(rate_limits=True, limits={"private_burst": 1})
        assert info["rate_limits"] and info["limits"]["private_burst"] == 1
        user = await sandbox.client.create_user("Tuned")
        await bot.send_message(user["id"], "one")
        with pytest.raises(RetryAfter):
            await bot.send_message(user["id"], "two")
        with pytest.raises(SandboxError) as bad:
            await sandbox.client.configure(limits={"private_per_s": 0})
        assert bad.value.status == 400
        with pytest.raises(SandboxError):
            await sandbox.client.configure(limits={"per_fortnight": 1})


async def test_injected_faults(sandbox: RunningSandbox, bot: Bot) -> None:
    user = await sandbox.client.create_user("Faulty")
    chat = user["id"]
    await sandbox.client.inject_fault("error", count=2, methods=["sendMessage"])
    await bot.get_me()  # other methods are not affected
    for _ in range(2):
        with pytest.raises(NetworkError, match="Internal Server Error"):
            await bot.send_message(chat, "x")
    await bot.send_message(chat, "fine again")

    await sandbox.client.inject_fault("429", retry_after=7)
    with pytest.raises(RetryAfter) as limited:
        await bot.send_message(chat, "x")
    assert limited.value.retry_after == timedelta(seconds=7)

    await sandbox.client.inject_fault("hang", seconds=1.0, methods=["sendMessage"])
    with pytest.raises(TimedOut):
        await bot.send_message(chat, "slow", read_timeout=0.2)
    # Telegram may still act on a request whose answer the client gave up on
    late = await sandbox.client.wait_message(chat, after=1, timeout=5)
    assert late["text"] == "slow"

    stats = await sandbox.client.stats()
    assert stats["injected"] == {"error": 2, "429": 1, "hang": 1}
    assert stats["total_429"] == 1 and stats["rate_limited_429"] == 0
    assert [m["text"] for m in await sandbox.client.messages(chat)] == ["fine again", "slow"]
