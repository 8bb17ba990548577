"""The roster: bindings, lookups and the chain of command above a block."""

from __future__ import annotations

from typing import Any

import pytest

from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.errors import InvalidInput
from grids import repository
from grids.chain import chain_of_command
from grids.errors import UnitNotFound
from grids.importer import parse_grid
from grids.units import DEPARTMENTS

BLOCK = "310101001001002"


@pytest.fixture
async def grid(db: Database, clock: FakeClock, tiny: dict[str, Any]) -> None:
    await repository.install_grid(db, grid=parse_grid(tiny), source="tiny", now=clock.now())


async def _bind(db: Database, user_id: int, role: str, unit: str, name: str) -> None:
    await repository.bind(db, user_id=user_id, chat_id=user_id * 10, role=role, unit=unit,
                          name=name, locale="zh-CN")


async def test_bind_lookup_rebind_unbind(db: Database, grid: None) -> None:
    await _bind(db, 1, "leader", BLOCK, "王芳")
    await _bind(db, 2, "coordinator", BLOCK, "李强")
    await _bind(db, 3, "leader", BLOCK, "陈静")
    assert [m["name"] for m in await repository.members(db, unit=BLOCK)] == sorted(["王芳", "李强", "陈静"])
    leaders = await repository.members(db, unit=BLOCK, role="leader")
    assert [m["name"] for m in leaders] == sorted(["王芳", "陈静"])
    who = await repository.membership(db, user_id=1)
    assert who is not None and (who["role"], who["unit"], who["chat_id"]) == ("leader", BLOCK, 10)
    # one binding per chat user: binding again replaces it
    await _bind(db, 1, "station_head", "310101001001", "王芳")
    assert [m["user_id"] for m in await repository.members(db, unit=BLOCK, role="leader")] == [3]
    who = await repository.membership(db, user_id=1)
    assert who is not None and who["role"] == "station_head"
    assert await repository.unbind(db, user_id=1) is True
    assert await repository.unbind(db, user_id=1) is False
    assert await repository.membership(db, user_id=1) is None


async def test_bind_checks_role_and_unit(db: Database, grid: None) -> None:
    with pytest.raises(UnitNotFound):
        await _bind(db, 1, "leader", "310101009009009", "x")
    with pytest.raises(InvalidInput, match="station_head"):
        await _bind(db, 1, "station_head", BLOCK, "x")  # a block has a leader, not a head
    with pytest.raises(InvalidInput, match="role"):
        await _bind(db, 1, "mayor", BLOCK, "x")
    await _bind(db, 1, "department", "D01", "公安值班")
    await _bind(db, 2, "dispatcher", "310101", "区中心")
    assert await db.roster.count_documents({}) == 2


async def test_chain_of_command_from_a_community_block(db: Database, grid: None) -> None:
    await _bind(db, 1, "leader", BLOCK, "王芳")
    await _bind(db, 2, "station_head", "310101001001", "张伟")
    await _bind(db, 3, "dispatcher", "310101001", "街镇中心")
    await _bind(db, 4, "dispatcher", "310101", "区中心")
    await _bind(db, 5, "leader", "310101001001001", "别的块")  # a neighbour's leader: not in the chain
    await _bind(db, 6, "coordinator", BLOCK, "巡管员")  # coordinators are not escalated to
    chain = await repository.chain_of_command(db, block=BLOCK)
    assert [(c.level, c.unit, c.role, [m["user_id"] for m in c.members]) for c in chain] == [
        ("block", BLOCK, "leader", [1]),
        ("station", "310101001001", "station_head", [2]),
        ("street", "310101001", "dispatcher", [3]),
        ("district", "310101", "dispatcher", [4]),
    ]
    assert chain[0].to_dict()["members"] == [{"user_id": 1, "chat_id": 10, "name": "王芳", "locale": "zh-CN"}]


async def test_chain_of_command_from_a_street_block_keeps_empty_levels(db: Database, grid: None) -> None:
    await _bind(db, 4, "dispatcher", "310101", "区中心")
    chain = await repository.chain_of_command(db, block="310101001P01001")
    assert [(c.level, c.unit, len(c.members)) for c in chain] == [
        ("block", "310101001P01001", 0), ("station", "310101001P01", 0),
        ("street", "310101001", 0), ("district", "310101", 1)]
    with pytest.raises(UnitNotFound):
        await repository.chain_of_command(db, block="310101001009001")


def test_chain_is_a_pure_function_over_units_and_roster() -> None:
    units: dict[str, dict[str, Any]] = {
        "B": {"level": "community_block", "parent": "W"},
        "W": {"level": "workstation", "parent": "S"},
        "S": {"level": "street", "parent": "D"},
        "D": {"level": "district", "parent": None},
    }
    roster = [{"user_id": 9, "unit": "W", "role": "station_head", "name": "z"},
              {"user_id": 8, "unit": "W", "role": "station_head", "name": "a"}]
    chain = chain_of_command("B", units, roster)
    assert [m["user_id"] for m in chain[1].members] == [8, 9]
    with pytest.raises(UnitNotFound):
        chain_of_command("W", units, roster)  # a workstation is not a block


async def test_unit_lookups_read_only_the_active_version(db: Database, grid: None, clock: FakeClock,
                                                         tiny: dict[str, Any]) -> None:
    tiny["features"][4]["properties"]["name"] = "改名网格"
    await repository.install_grid(db, grid=parse_grid(tiny), source="v2", now=clock.now())
    assert await db.units.count_documents({"code": "310101001001001"}) == 2  # both versions stored
    found = await repository.find_units(db, codes=["310101001001001", "310101001002002", "nope"])
    assert [(u["code"], u["version"]) for u in found] == [("310101001001001", 2), ("310101001002002", 2)]
    assert found[0]["name_zh"] == "改名网格" and "geometry" not in found[0]
    assert len(await repository.find_units(db)) == 10 + len(DEPARTMENTS)
    assert await repository.find_unit(db, code="nope") is None
    unit = await repository.find_unit(db, code="310101001001001", geometry=True)
    assert unit is not None and unit["geometry"]["type"] == "Polygon"
