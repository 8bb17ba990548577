"""Helpers for the case tests: staff tokens, actors and a quick intake."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import pytest

from cases.intake import intake
from cases.model import Actor, CasePolicy
from gridlink import auth
from gridlink.clock import FakeClock
from gridlink.db import Database, Document

DISTRICT = "310101"
POLICY = CasePolicy(district=DISTRICT, serial_prefix="A", timezone="Asia/Shanghai", yellow_fraction=0.25)
CENTER = Actor(role="dispatcher", unit=DISTRICT, name="Center Li")
ROADS = Actor(role="department", unit="D07", name="Roads Wang")
CITY_MGMT = Actor(role="department", unit="D02", name="Chengguan Zhao")
CITIZEN = Actor(role="citizen", user_id=4242, chat_id=4242, name="Xiao Ming")
PLACEMENT = {"community_block": "310101001001001", "street_block": None,
             "workstation": "310101001001", "street": "310101001", "patrol_zone": None,
             "district": DISTRICT, "snapped": False, "distance_m": 0.0}


@pytest.fixture
def policy() -> CasePolicy:
    return POLICY


NewCase = Callable[..., Awaitable[Document]]


@pytest.fixture
def new_case(db: Database, clock: FakeClock) -> NewCase:
    async def make(**overrides: Any) -> Document:
        args: dict[str, Any] = dict(
            channel="hotline_12345", kind="complaint", category="road_damage",
            description="Pothole outside No. 12 Fuxing Road", actor=CENTER,
            reporter={"phone": "13800138000", "name": "Zhang San"},
            location={"lon": 121.4737, "lat": 31.2304}, placement=PLACEMENT)
        args.update(overrides)
        result = await intake(db, policy=POLICY, now=clock.now(), **args)
        return result.case
    return make


Tokens = dict[str, str]


@pytest.fixture
async def tokens(db: Database, clock: FakeClock) -> Tokens:
    """Bearer headers' tokens by name: center, roads (D07), chengguan (D02), leader, admin, street."""
    spec = {"center": ("dispatcher", DISTRICT), "roads": ("department", "D07"),
            "chengguan": ("department", "D02"), "leader": ("leader", "310101001001001"),
            "admin": ("admin", DISTRICT), "other_street": ("dispatcher", "310101009")}
    out = {}
    for name, (role, unit) in spec.items():
        out[name] = await auth.create_token(db, role=role, unit=unit, district=DISTRICT,
                                            name=name, now=clock.now())
    return out


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def local(y: int, m: int, d: int, hh: int = 0, mm: int = 0, ss: int = 0) -> datetime:
    from zoneinfo import ZoneInfo
    return datetime(y, m, d, hh, mm, ss, tzinfo=ZoneInfo("Asia/Shanghai"))


async def stored_photo(db: Database, photo_id: str, phash: str = "c3c3c3c33c3c3c3c") -> str:
    """A photo record as media stores it (only the fields cases read: id and phash)."""
    import hashlib

    from media import repository as media_repo

    await media_repo.insert(db, doc={"_id": photo_id, "phash": phash,
                                     "sha256": hashlib.sha256(photo_id.encode()).hexdigest()})
    return photo_id


# The demo district's grid, built once per session (shared with the Open311 tests).
from tests.open311.conftest import demo_grid, grid, inside_point  # noqa: E402, F401
