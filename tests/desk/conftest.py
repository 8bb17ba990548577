"""Desk fixtures: a grid in the database, staff accounts, the real app on a loopback server,
and a signed-in HTTP client per account."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from aiohttp import ClientResponse, ClientSession, CookieJar
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher

from gridlink.app import create_app
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.settings import Settings
from grids import repository as grids_repo
from grids.importer import parse_grid
from staff import passwords
from staff import service as staff_service
from tests.grids.conftest import feature, square, tiny_fc

DISTRICT = "310101"
PASSWORD = "correct horse battery staple"
# name → (role, unit): a district dispatcher, two line departments, a block leader, an admin.
ACCOUNTS = {
    "center": ("dispatcher", DISTRICT),
    "roads": ("department", "D07"),
    "chengguan": ("department", "D02"),
    "leader": ("leader", "310101001001001"),
    "admin": ("admin", DISTRICT),
}
CSRF_RE = re.compile(r'name="csrf" value="([^"]*)"')
# Inside the tiny grid's north-west block 310101001001001 (and its street block).
INSIDE = {"lon": 121.415, "lat": 31.215}


def two_streets_fc() -> dict[str, Any]:
    """The tiny grid and a second street east of it (x 121.43..121.44), so a street center
    can be out of a case's area."""
    fc = tiny_fc()
    fc["features"] += [
        feature("310101002", "street", "310101"),
        feature("310101002001", "workstation", "310101002", kind="residential"),
        feature("310101002001001", "community_block", "310101002001",
                square(121.43, 31.20, 121.44, 31.22)),
    ]
    return fc


def csrf_of(html: str) -> str:
    found = CSRF_RE.search(html)
    assert found, "page has no CSRF field"
    return found.group(1)


async def install(db: Database, fc: dict[str, Any], clock: FakeClock) -> None:
    grid = parse_grid(fc, district_code=DISTRICT)
    await grids_repo.install_grid(db, grid=grid, source="test", now=clock.now())


async def make_accounts(db: Database, clock: FakeClock) -> None:
    for name, (role, unit) in ACCOUNTS.items():
        await add_account(db, clock, name, role, unit)


async def add_account(db: Database, clock: FakeClock, name: str, role: str, unit: str) -> None:
    await staff_service.create_account(db, username=name, password=PASSWORD, role=role, unit=unit,
                                       name=f"{name.title()} Desk", district=DISTRICT,
                                       now=clock.now(), locale="en")


@dataclass
class Desk:
    server: TestServer
    db: Database
    clock: FakeClock
    settings: Settings
    clients: list[ClientSession]

    @property
    def url(self) -> str:
        return str(self.server.make_url("")).rstrip("/")

    async def client(self) -> ClientSession:
        """A browser-like HTTP client with its own cookie jar (IP hosts allowed)."""
        c = ClientSession(base_url=self.url, cookie_jar=CookieJar(unsafe=True))
        self.clients.append(c)
        return c

    async def signed_in(self, name: str) -> ClientSession:
        c = await self.client()
        resp = await sign_in(c, name, PASSWORD)
        assert resp.status == 200, await resp.text()
        assert "/desk/signin" not in str(resp.url)
        return c


async def sign_in(c: ClientSession, username: str, password: str) -> ClientResponse:
    page = await c.get("/desk/signin")
    token = csrf_of(await page.text())
    return await c.post("/desk/signin", data={"csrf": token, "username": username,
                                               "password": password})


DeskFactory = Callable[..., Awaitable[Desk]]


@pytest.fixture(autouse=True)
def cheap_hashing() -> Iterator[None]:
    """Argon2id with tiny costs: the flows are under test here, not the KDF's cost."""
    previous = passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    yield
    passwords.use_hasher(previous)


@pytest.fixture
async def make_desk(settings: Settings, mongo_uri: str, clock: FakeClock,
                    db: Database) -> AsyncIterator[DeskFactory]:
    made: list[Desk] = []

    async def make(*, fc: dict[str, Any] | None = None, **overrides: Any) -> Desk:
        await install(db, fc or tiny_fc(), clock)
        await make_accounts(db, clock)
        conf = settings.model_copy(update=overrides) if overrides else settings
        server = TestServer(create_app(conf, mongo_uri=mongo_uri, clock=clock))
        await server.start_server()
        desk = Desk(server, db, clock, conf, [])
        made.append(desk)
        return desk

    yield make
    for desk in made:
        for c in desk.clients:
            await c.close()
        await desk.server.close()


@pytest.fixture
async def desk(make_desk: DeskFactory) -> Desk:
    return await make_desk()
