"""The real app (webhook, PTB, database) on a loopback server, wired to the Bot API sandbox."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from api.keys import PTB_APP
from gridlink.app import create_app
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.embedded import free_port
from gridlink.settings import Settings
from grids.importer import parse_grid
from grids.repository import install_grid
from tests.sandbox.conftest import RunningSandbox, sandbox

Json = dict[str, Any]

__all__ = ["sandbox"]


def _box(x0: float, y0: float, x1: float, y1: float) -> Json:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def _unit(code: str, level: str, name: str, parent: str | None, geometry: Json | None = None,
          name_en: str | None = None) -> Json:
    return {"type": "Feature", "geometry": geometry,
            "properties": {"code": code, "level": level, "name": name, "name_en": name_en or code,
                           "parent": parent}}


# A two-block district: small enough to install per test, real enough for grids' placement.
BLOCK_ONE, BLOCK_TWO, STREET_ONE = "310101001001001", "310101001001002", "310101001901001"
INSIDE = (31.205, 121.405)  # (lat, lon) in block one
MINI_GRID: Json = {"type": "FeatureCollection", "features": [
    _unit("310101", "district", "A区", None, name_en="District A"),
    _unit("310101001", "street", "一街道", "310101", name_en="First Street Center"),
    _unit("310101001001", "workstation", "一工作站", "310101001"),
    _unit(BLOCK_ONE, "community_block", "一号责任块", "310101001001", _box(121.40, 31.20, 121.41, 31.21), "Block One"),
    _unit(BLOCK_TWO, "community_block", "二号责任块", "310101001001", _box(121.41, 31.20, 121.42, 31.21), "Block Two"),
    _unit("310101001901", "patrol_zone", "一巡区", "310101001"),
    _unit(STREET_ONE, "street_block", "一号街面", "310101001901", _box(121.40, 31.20, 121.42, 31.21), "Street One"),
]}


@dataclass
class Phone:
    """One sandbox user chatting with the bot; remembers what it has read."""

    sb: RunningSandbox
    user: Json
    last: int = 0
    seen: list[Json] = field(default_factory=list)

    @property
    def id(self) -> int:
        return int(self.user["id"])

    def _sent(self, msg: Json) -> Json:
        self.last = max(self.last, int(msg["message_id"]))
        return msg

    async def send(self, text: str, *, reply_to: int | None = None) -> Json:
        return self._sent(await self.sb.client.send_text(self.id, text, reply_to=reply_to))

    async def photo(self, data: bytes, *, as_document: bool = False,
                    file_name: str = "photo.jpg") -> Json:
        return self._sent(await self.sb.client.send_photo(self.id, data, as_document=as_document,
                                                          file_name=file_name))

    async def location(self, lat: float, lon: float) -> Json:
        return self._sent(await self.sb.client.send_location(self.id, lat, lon))

    async def press(self, message: Json, data: str) -> Json:
        return await self.sb.client.press(self.id, message["message_id"], data)

    async def reply(self, wait_s: float = 10.0) -> Json:
        """The bot's next message to this user."""
        msg = await self.sb.client.wait_message(self.id, after=self.last, timeout=wait_s)
        self.last = int(msg["message_id"])
        self.seen.append(msg)
        return msg

    async def replies(self, n: int) -> list[Json]:
        return [await self.reply() for _ in range(n)]


@dataclass
class BotWorld:
    sb: RunningSandbox
    settings: Settings
    clock: FakeClock
    db: Database
    mongo_uri: str
    server: TestServer
    start: Callable[[], Awaitable[TestServer]]
    stop: Callable[[], Awaitable[None]]

    @property
    def url(self) -> str:
        return self.settings.public_base_url

    async def phone(self, name: str, *, language_code: str = "zh-hans") -> Phone:
        user = await self.sb.client.create_user(name, language_code=language_code)
        return Phone(self.sb, user)


async def bot_server(settings: Settings, mongo_uri: str, clock: FakeClock, port: int) -> TestServer:
    """Start the app and wait until it has told the sandbox where its webhook is."""
    app = create_app(settings, mongo_uri=mongo_uri, clock=clock)
    server = TestServer(app, host="127.0.0.1", port=port)
    await server.start_server()
    ptb = app[PTB_APP]
    for _ in range(200):
        if ptb._initialized:
            break
        await asyncio.sleep(0.02)
    assert ptb._initialized, "the bot never reached the sandbox"
    return server


@pytest.fixture
async def world(sandbox: RunningSandbox, settings: Settings, mongo_uri: str, clock: FakeClock,
                db: Database) -> AsyncIterator[BotWorld]:
    port = free_port()
    cfg = settings.model_copy(update={"public_base_url": f"http://127.0.0.1:{port}",
                                      "telegram_api_url": sandbox.url})
    holder: dict[str, TestServer] = {}

    async def start() -> TestServer:
        holder["server"] = await bot_server(cfg, mongo_uri, clock, port)
        return holder["server"]

    async def stop() -> None:
        await holder["server"].close()

    await install_grid(db, grid=parse_grid(MINI_GRID), source="tests", now=clock.now())
    await start()
    world = BotWorld(sb=sandbox, settings=cfg, clock=clock, db=db, mongo_uri=mongo_uri,
                     server=holder["server"], start=start, stop=stop)
    try:
        yield world
    finally:
        await stop()


def web_app(world: BotWorld) -> web.Application:
    return world.server.app
