"""Fixtures for notify: a small district with its roster, cases and events in the contract's shape."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from gridlink.clock import FakeClock
from gridlink.db import Database, Document
from gridlink.settings import Settings
from notify import repository as repo
from notify.config import NotifyConfig
from tests.sandbox.conftest import RunningSandbox, running_sandbox

DISTRICT = "310101"
# unit code → (level, parent, name_zh, name_en)
UNITS: dict[str, tuple[str, str | None, str, str]] = {
    DISTRICT: ("district", None, "区联动中心", "District center"),
    "310101001": ("street", DISTRICT, "一号街道", "Street One"),
    "310101001001": ("workstation", "310101001", "一号工作站", "Station One"),
    "310101001001001": ("community_block", "310101001001", "一号责任块", "Block One"),
    "D01": ("department", DISTRICT, "公安分局", "Police"),
}
BLOCK, STATION, STREET, DEPT = "310101001001001", "310101001001", "310101001", "D01"
# chat ids of the people bound to each unit
LEADER, HEAD, STREET_DISPATCHER, DISTRICT_DISPATCHER, DEPT_HANDLER, CITIZEN = (
    1001, 1002, 1003, 1004, 1005, 2001)
ROSTER: list[tuple[int, str, str, str]] = [
    (LEADER, "leader", BLOCK, "zh-CN"),
    (HEAD, "station_head", STATION, "en"),
    (STREET_DISPATCHER, "dispatcher", STREET, "zh-CN"),
    (DISTRICT_DISPATCHER, "dispatcher", DISTRICT, "en"),
    (DEPT_HANDLER, "department", DEPT, "zh-CN"),
]


@pytest.fixture
def cfg(settings: Settings) -> NotifyConfig:
    return NotifyConfig.from_settings(settings)


@pytest.fixture
async def district(db: Database) -> Database:
    # Units as grids stores them: one version, made active by the pointer document.
    square = {"type": "Polygon", "coordinates": [[[121.47, 31.22], [121.49, 31.22],
                                                  [121.49, 31.24], [121.47, 31.24],
                                                  [121.47, 31.22]]]}
    await db.units.insert_many([
        {"_id": f"1:{code}", "code": code, "level": level, "layer": "admin", "parent": parent,
         "name_zh": zh, "name_en": en, "version": 1,
         **({"geojson": json.dumps(square)} if level == "community_block" else {})}
        for code, (level, parent, zh, en) in UNITS.items()])
    await db.grid_versions.insert_one({"_id": 1, "units": len(UNITS)})
    await db.grid_meta.insert_one({"_id": "active", "version": 1})
    await db.roster.insert_many([
        {"_id": f"u{chat}", "chat_id": chat, "user_id": chat, "role": role, "unit": unit,
         "name": f"member {chat}", "locale": locale}
        for chat, role, unit, locale in ROSTER])
    return db


def case_doc(case_id: str, *, now: datetime, state: str = "dispatched",
             deadline: datetime | None = None, unit: str = BLOCK, kind: str = "block",
             version: int = 2, reporter_chat: int | None = CITIZEN) -> Document:
    """A case as cases/ stores it (docs/CONTRACTS.md)."""
    return {
        "_id": case_id, "serial": f"A20261127-{case_id[-5:]}", "channel": "citizen_bot",
        "kind": "complaint", "category": "group_renting",
        "category_name": {"zh": "群租", "en": "Group renting"}, "description": "七楼群租",
        "location": {"lon": 121.48, "lat": 31.23},
        "placement": {"community_block": BLOCK, "workstation": STATION, "street": STREET,
                      "district": DISTRICT, "street_block": None, "patrol_zone": None},
        "photos": [], "reporter": {"user_id": reporter_chat, "chat_id": reporter_chat,
                                   "locale": "en"} if reporter_chat else {},
        "state": state, "version": version,
        "assignee": {"unit": unit, "kind": kind, "name": unit},
        "deadline": deadline, "due_at": deadline,
        "warn_at": (now + (deadline - now) * 0.75) if deadline else None,
        "dispatched_at": now, "created_at": now, "updated_at": now, "closed_at": None,
        "rating": None, "history": [], "public": True, "merged_into": None,
    }


async def add_case(db: Database, **kw: Any) -> Document:
    doc = case_doc(**kw)
    await db.cases.insert_one(doc)
    return doc


async def emit(db: Database, case: Document, seq: int, type_: str, *, at: datetime,
               **data: Any) -> str:
    event_id = f"{case['_id']}:{seq}"
    await db.events.insert_one({"_id": event_id, "type": type_, "case_id": case["_id"],
                                "serial": case["serial"], "at": at,
                                "actor": {"role": "dispatcher", "unit": STREET}, "data": data,
                                "notify_state": "new"})
    return event_id


async def outbox_for(db: Database, chat_id: int) -> list[Document]:
    return await repo.find_messages(db, query={"chat_id": chat_id})


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox() as running:
        yield running


__all__ = ["FakeClock"]
