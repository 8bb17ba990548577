"""Citizen intake limits: per IP over HTTP (429 + Retry-After JSON), per chat in the bot (a polite
catalog text), exact under concurrency and shared by several app instances through MongoDB."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from api.ratelimit import INTAKE_ROUTES
from gridlink import ratelimit
from gridlink.app import create_app
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.errors import RateLimited
from gridlink.i18n import t
from gridlink.settings import Settings
from tests.bot.conftest import BotWorld


async def test_concurrent_hits_take_exactly_the_limit(db: Database, clock: FakeClock) -> None:
    async def one() -> bool:
        try:
            await ratelimit.hit(db, key="ip:203.0.113.9", limit=15, window_s=60, now=clock.now())
            return True
        except RateLimited as exc:
            assert 0 < exc.retry_after <= 60 and exc.message
            return False

    ratelimit._next_slot.clear()
    results = await asyncio.gather(*(one() for _ in range(40)))
    assert results.count(True) == 15
    # Another key has its own budget; the next window starts afresh.
    await ratelimit.hit(db, key="ip:203.0.113.10", limit=15, window_s=60, now=clock.now())
    clock.advance(seconds=61)
    await ratelimit.hit(db, key="ip:203.0.113.9", limit=15, window_s=60, now=clock.now())
    # Ended windows are swept (no TTL index on FerretDB) by the next hit a minute later...
    assert await db.rate_limits.count_documents({}) == 1
    # ...or explicitly.
    assert await ratelimit.sweep(db, now=clock.now() + timedelta(seconds=60)) == 1
    await ratelimit.hit(db, key="x", limit=1, window_s=60, now=clock.now())
    with pytest.raises(RateLimited):
        await ratelimit.hit(db, key="x", limit=1, window_s=60, now=clock.now())
    await ratelimit.hit(db, key="off", limit=0, window_s=60, now=clock.now())  # 0 = no limit


@pytest.fixture
async def two_apps(settings: Settings, mongo_uri: str, clock: FakeClock,
                   db: Database) -> AsyncIterator[tuple[TestClient[web.Request, web.Application], ...]]:
    """Two app instances (as two web processes would be) on one database, limit 3 per minute."""
    cfg = settings.model_copy(update={"rate_limit_ip_requests": 3, "rate_limit_ip_window_s": 60.0})
    clients = [TestClient(TestServer(create_app(cfg, mongo_uri=mongo_uri, clock=clock))) for _ in range(2)]
    for c in clients:
        await c.start_server()
    try:
        yield tuple(clients)
    finally:
        for c in clients:
            await c.close()


async def test_http_intake_is_limited_per_ip_across_processes(
        two_apps: tuple[TestClient[web.Request, web.Application], ...], clock: FakeClock) -> None:
    a, b = two_apps
    statuses = []
    for client, path in ((a, "/api/v1/cases"), (b, "/open311/v2/requests.json"), (a, "/api/v1/cases")):
        async with client.post(path, json={}) as resp:
            statuses.append(resp.status)
    assert 429 not in statuses  # refused for their own reasons (no token, no api_key), but counted
    for client, path in ((b, "/api/v1/cases"), (a, "/open311/v2/requests.xml"),
                         (b, "/api/v1/portal/cases/A20261127-00001/rating")):
        async with client.post(path, data="x") as resp:
            assert resp.status == 429, path
            retry = int(resp.headers["Retry-After"])
            assert 1 <= retry <= 60
            if path.endswith(".xml"):  # Open311 answers in its own error format
                text = await resp.text()
                assert "<error>" in text and "Retry-After" in text, text
                continue
            body = await resp.json()
            assert body["error"]["code"] == "rate_limited" and "Retry-After" in body["error"]["message"]
    # Reads are never limited; a new window admits intake again.
    async with a.get("/open311/v2/services.json") as resp:
        assert resp.status == 200
    clock.advance(seconds=61)
    async with b.post("/api/v1/cases", json={}) as resp:
        assert resp.status == 401


def test_every_intake_route_exists(settings: Settings) -> None:
    app = create_app(settings, mongo_uri="mongodb://127.0.0.1:1")
    served = {(r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None}
    assert INTAKE_ROUTES <= served, INTAKE_ROUTES - served


@pytest.fixture
def settings(settings: Settings) -> Settings:
    # The bot world below is built from this: two reports per chat per hour.
    return settings.model_copy(update={"rate_limit_chat_reports": 2, "rate_limit_chat_window_s": 3600.0})


async def test_bot_limits_reports_per_chat_politely(world: BotWorld) -> None:
    citizen = await world.phone("Zhang", language_code="en")
    other = await world.phone("Li")
    for _ in range(2):
        await citizen.send("/report")
        assert (await citizen.reply())["text"] == t("citizen.choose_kind", "en")
        await citizen.send("/cancel")
        await citizen.reply()
    await citizen.send("/report")
    refusal = (await citizen.reply())["text"]
    assert refusal == t("ratelimit.chat", "en", minutes=60)
    assert "wait about 60 min" in refusal
    assert await world.db.conversations.count_documents({"chat_id": citizen.id}) == 0
    # Another chat is not affected; an hour later the first may report again.
    await other.send("/report")
    assert (await other.reply())["text"] == t("citizen.choose_kind", "zh-CN")
    world.clock.advance(timedelta(hours=1))
    await citizen.send("/report")
    assert (await citizen.reply())["text"] == t("citizen.choose_kind", "en")
