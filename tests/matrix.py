"""One running world for the acceptance matrices of issue 16 (tests/test_doors.py and
tests/test_visibility_matrix.py): the real app with the demo district's grid in its database,
the Bot API sandbox behind real PTB, staff tokens, signed-in desk sessions and bot roster members
for the same principals.

Built once per test module (module-scoped fixtures with a module-scoped event loop): the
matrices make hundreds of requests against one set of cases instead of building a world per cell.
"""

from __future__ import annotations

import contextlib
import copy
import io
import json
import math
import re
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher
from PIL import Image
from shapely.geometry import Point, shape

from api.keys import PTB_APP
from bot import domain as bot_domain
from gridlink import auth
from gridlink.clock import FakeClock
from gridlink.db import Database, make_client
from gridlink.embedded import free_port
from gridlink.schema import ensure_indexes
from gridlink.settings import Settings, load_settings
from grids.demo import demo_feature_collection
from grids.importer import ImportedGrid, parse_grid
from grids.placement import GridIndex
from grids.repository import install_grid
from staff import passwords
from staff import service as staff_service
from tests.bot.conftest import Phone, bot_server
from tests.desk.conftest import csrf_of, sign_in
from tests.sandbox.conftest import RunningSandbox, running_sandbox

Json = dict[str, Any]
DISTRICT = "310101"
STREET_A, STREET_B = "310101001", "310101002"
PASSWORD = "correct horse battery staple"
SERIAL_RE = re.compile(r"\b[A-Z]{1,3}\d{8}-\d{3,}\b")


# ---------------------------------------------------------------- the grid


@cache
def demo_grid() -> ImportedGrid:
    return parse_grid(demo_feature_collection(district=DISTRICT), district_code=DISTRICT)


@cache
def demo_index() -> GridIndex:
    return GridIndex(demo_grid().units, version=1)


def _blocks_of(street: str) -> list[Json]:
    return [u for u in demo_grid().units if u["level"] == "community_block"
            and u["code"].startswith(street)]


@cache
def block_a() -> str:
    return str(_blocks_of(STREET_A)[0]["code"])


@cache
def block_b() -> str:
    """Another block of the same street (a sibling: same street dispatcher, other leader)."""
    return str(next(u["code"] for u in _blocks_of(STREET_A) if u["code"] != block_a()))


@cache
def _grid_text() -> str:
    return json.dumps([u.get("geometry") for u in demo_grid().units])


def distinct_points(block: str, n: int) -> list[tuple[float, float]]:
    """`n` points (lon, lat) inside `block` whose 5-decimal renderings are distinctive: the
    6th and 7th decimals are '12' (so rounding and truncating to 5 decimals agree) and neither
    rendering occurs in any geometry of the grid, so finding one in a response is a leak."""
    unit = next(u for u in demo_grid().units if u["code"] == block)
    poly = shape(unit["geometry"])
    centre = poly.representative_point()
    text = _grid_text()
    found: list[tuple[float, float]] = []
    seen: set[str] = set()
    for k in range(1, 4000):
        dx, dy = (k % 37 - 18) * 2.3e-5, (k // 37 % 37 - 18) * 1.9e-5
        lon = math.floor((centre.x + dx) * 1e5) / 1e5 + 1.2e-6
        lat = math.floor((centre.y + dy) * 1e5) / 1e5 + 1.2e-6
        lon, lat = round(lon, 7), round(lat, 7)
        marks = {f"{lon:.5f}", f"{lat:.5f}"}
        if marks & seen or any(m in text for m in marks) or not poly.contains(Point(lon, lat)):
            continue
        if demo_index().place(lon, lat).to_dict()["community_block"] != block:
            continue
        seen |= marks
        found.append((lon, lat))
        if len(found) == n:
            return found
    raise AssertionError(f"could not find {n} distinctive points in block {block}")


def location_marks(lon: float, lat: float) -> tuple[str, str]:
    return f"{lon:.5f}", f"{lat:.5f}"


def jpeg(seed: int) -> bytes:
    """A small distinct photo per seed (distinct bytes and perceptual hash: no deduplication)."""
    img = Image.new("RGB", (64, 48), ((seed * 67) % 256, (seed * 131) % 256, (seed * 29) % 256))
    for x in range(0, 64, 4):
        for y in range(0, 48, 4):
            if (x * 7 + y * 3 + seed * 11) % 5 < 2:
                img.putpixel((x, y), (255 - (seed * 13) % 200, (x * 4) % 256, (y * 5) % 256))
    out = io.BytesIO()
    img.save(out, "JPEG", quality=90)
    return out.getvalue()


# ---------------------------------------------------------------- principals


@dataclass(frozen=True)
class Staff:
    role: str
    unit: str


def staff_principals() -> dict[str, Staff]:
    """The staff principals of the matrix, by name: each has a token, a desk account and (for
    roles the roster knows) may be bound in the bot."""
    return {
        "leaderA": Staff("leader", block_a()),
        "leaderB": Staff("leader", block_b()),
        "D07": Staff("department", "D07"),
        "D02": Staff("department", "D02"),
        "D09": Staff("department", "D09"),
        "streetA": Staff("dispatcher", STREET_A),
        "streetB": Staff("dispatcher", STREET_B),
        "district": Staff("dispatcher", DISTRICT),
        "admin": Staff("admin", DISTRICT),
    }


# ---------------------------------------------------------------- the world


@dataclass
class Reply:
    status: int
    text: str
    headers: dict[str, str] = field(default_factory=dict)

    def json(self) -> Any:
        return json.loads(self.text)


@dataclass
class World:
    settings: Settings
    clock: FakeClock
    db: Database
    server: TestServer
    sandbox: RunningSandbox
    http: aiohttp.ClientSession
    tokens: dict[str, str]
    desks: dict[str, aiohttp.ClientSession]
    anon_desk: aiohttp.ClientSession

    @property
    def url(self) -> str:
        return self.settings.public_base_url

    @property
    def bot(self) -> Any:
        return self.server.app[PTB_APP].bot

    def bearer(self, who: str | None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}

    async def get(self, path: str, *, who: str | None = None, **kw: Any) -> Reply:
        """GET with the principal's staff token (None: anonymous)."""
        async with self.http.get(self.url + path, headers=self.bearer(who), allow_redirects=False,
                                 **kw) as r:
            return Reply(r.status, await _text(r), dict(r.headers))

    async def post_json(self, path: str, body: Json, *, who: str | None = None) -> Reply:
        async with self.http.post(self.url + path, json=body, headers=self.bearer(who)) as r:
            return Reply(r.status, await _text(r), dict(r.headers))

    async def upload(self, data: bytes, *, who: str = "admin") -> str:
        form = aiohttp.FormData()
        form.add_field("photo", data, filename="photo.jpg", content_type="image/jpeg")
        async with self.http.post(self.url + "/api/v1/media", data=form, headers=self.bearer(who)) as r:
            body = await r.json()
            assert r.status in (200, 201), body
            return str(body.get("id") or body.get("photo_id") or body["media_id"])

    async def desk_get(self, who: str | None, path: str) -> Reply:
        """GET as a signed-in desk user (None: a browser that never signed in); no redirects."""
        session = self.desks[who] if who else self.anon_desk
        async with session.get(path, allow_redirects=False) as r:
            return Reply(r.status, await _text(r), dict(r.headers))

    async def desk_post(self, who: str, path: str, data: Any) -> Reply:
        async with self.desks[who].post(path, data=data, allow_redirects=False) as r:
            return Reply(r.status, await _text(r), dict(r.headers))

    async def desk_csrf(self, who: str, path: str) -> str:
        page = await self.desk_get(who, path)
        assert page.status == 200, (path, page.status, page.text[:300])
        return csrf_of(page.text)

    async def phone(self, name: str, *, user_id: int, language_code: str = "en") -> Phone:
        user = await self.sandbox.client.create_user(name, id=user_id, language_code=language_code)
        return Phone(self.sandbox, user)

    async def bind(self, phone: Phone, staff: Staff) -> None:
        """Put the chat user on the roster (what redeeming an invite does)."""
        await bot_domain.bind_member(self.db, user_id=phone.id, chat_id=phone.id, role=staff.role,
                                     unit=staff.unit, name=str(phone.user["first_name"]),
                                     locale="en", now=self.clock.now())


async def _text(r: aiohttp.ClientResponse) -> str:
    raw = await r.read()
    ctype = r.headers.get("Content-Type", "")
    if ctype.startswith("image/"):
        return f"<{len(raw)} bytes of {ctype}>"
    return raw.decode("utf-8", errors="replace")


@contextlib.asynccontextmanager
async def open_world(mongo_uri: str, tmp: Path) -> AsyncIterator[World]:
    """The app (web, desk, Open311, bot on the sandbox) over a fresh database holding the demo
    grid, with a token, a desk account and a signed-in desk session per staff principal."""
    clock = FakeClock()
    previous = passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    async with running_sandbox() as sb:
        port = free_port()
        settings = load_settings(
            mongodb_uri=mongo_uri, mongodb_db=f"t_{uuid.uuid4().hex[:16]}", data_dir=tmp,
            mongodb_timeout_ms=2000, telegram_bot_token=None, webhook_secret="test-secret",
        ).model_copy(update={"public_base_url": f"http://127.0.0.1:{port}",
                             "telegram_api_url": sb.url})
        client = make_client(mongo_uri, settings)
        db = client[settings.mongodb_db]
        sessions: list[aiohttp.ClientSession] = []
        server: TestServer | None = None
        try:
            await ensure_indexes(db)
            await install_grid(db, grid=copy.deepcopy(demo_grid()), source="tests", now=clock.now())
            tokens: dict[str, str] = {}
            for name, who in staff_principals().items():
                tokens[name] = await auth.create_token(db, role=who.role, unit=who.unit,
                                                       district=DISTRICT, name=name, now=clock.now())
                await staff_service.create_account(
                    db, username=name.lower(), password=PASSWORD, role=who.role, unit=who.unit,
                    name=f"{name} desk", district=DISTRICT, now=clock.now(), locale="en")
            server = await bot_server(settings, mongo_uri, clock, port)
            base = settings.public_base_url

            def browser() -> aiohttp.ClientSession:
                s = aiohttp.ClientSession(base_url=base, cookie_jar=aiohttp.CookieJar(unsafe=True))
                sessions.append(s)
                return s

            desks: dict[str, aiohttp.ClientSession] = {}
            for name in staff_principals():
                desks[name] = browser()
                signed = await sign_in(desks[name], name.lower(), PASSWORD)
                assert signed.status == 200 and "/desk/signin" not in str(signed.url), name
            http = aiohttp.ClientSession()
            sessions.append(http)
            yield World(settings=settings, clock=clock, db=db, server=server, sandbox=sb,
                        http=http, tokens=tokens, desks=desks, anon_desk=browser())
        finally:
            for s in sessions:
                await s.close()
            if server is not None:
                await server.close()
            await client.drop_database(settings.mongodb_db)
            await client.close()
            passwords.use_hasher(previous)


def serial_in(text: str) -> str:
    found = SERIAL_RE.search(text)
    assert found, f"no serial number in {text!r}"
    return found.group(0)


def buttons(message: Json) -> list[str]:
    rows = (message.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row]
