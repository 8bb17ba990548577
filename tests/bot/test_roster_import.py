"""Roster import (issue 23): a 2,000-row XLSX with 50 bad rows imports the good rows with an
invite each and reports every bad row by number and reason; a crashed import leaves nothing
visible and a re-run imports the file whole, once."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
from openpyxl import Workbook

from bot import repository as bot_repo
from bot import roster
from gridlink import auth
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.errors import InvalidInput
from gridlink.i18n import t
from grids import repository as grids_repo
from grids.importer import parse_grid
from tests.bot.conftest import BLOCK_ONE, BLOCK_TWO, BotWorld
from tests.bot.test_flows import jpeg
from tests.grids.conftest import tiny_fc

BLOCKS = ["310101001001001", "310101001001002", "310101001002001", "310101001002002"]
STATIONS = ["310101001001", "310101001002"]


def phone(i: int) -> str:
    return f"139{i:08d}"


def xlsx(rows: list[list[Any]], header: tuple[str, ...] = ("姓名", "手机号", "角色", "单位代码")) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(list(header))
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def good_rows(n: int) -> list[list[Any]]:
    rows: list[list[Any]] = []
    for i in range(n):
        if i % 50 == 0:
            rows.append([f"站长{i}", phone(i), "工作站站长", STATIONS[i % 2]])
        else:
            rows.append([f"巡管员{i}", int(phone(i)) if i % 3 else phone(i), "coordinator",
                         BLOCKS[i % 4]])
    return rows


# Each kind of bad row and the reason it must be reported with.
BAD: list[tuple[list[Any], str]] = [
    (["", "13800000001", "coordinator", BLOCKS[0]], "name_missing"),
    (["张三", "", "coordinator", BLOCKS[0]], "phone_missing"),
    (["张三", "12345", "coordinator", BLOCKS[0]], "phone_bad"),
    (["张三", "13800000002", "", BLOCKS[0]], "role_missing"),
    (["张三", "13800000003", "mayor", BLOCKS[0]], "role_bad"),
    (["张三", "13800000004", "leader", ""], "unit_missing"),
    (["张三", "13800000005", "leader", "310101999999999"], "unit_unknown"),
    (["张三", "13800000006", "leader", STATIONS[0]], "unit_level"),
    (["张三", phone(7), "coordinator", BLOCKS[1]], "phone_duplicate"),  # phone set per row below
    (["张" * 41, "13800000008", "coordinator", BLOCKS[0]], "name_too_long"),
]


@pytest.fixture
async def grid(db: Database, clock: FakeClock) -> None:
    await grids_repo.install_grid(db, grid=parse_grid(tiny_fc(), district_code="310101"),
                                  source="test", now=clock.now())


async def test_2000_rows_with_50_bad_import_the_good_and_report_the_bad_by_row(
        db: Database, clock: FakeClock, grid: None) -> None:
    rows = good_rows(1950)
    bad_at: dict[int, str] = {}
    for k in range(50):
        row, reason = BAD[k % len(BAD)]
        if reason == "phone_duplicate":
            row = [row[0], phone(40 * k - 30), *row[2:]]  # an earlier good row's
        elif k >= len(BAD) and reason not in ("phone_missing", "phone_bad"):
            row = [row[0], f"137{k:08d}", *row[2:]]  # distinct phones for the repeated kinds
        position = 40 * k + 20  # spread through the file
        rows.insert(position, row)
        bad_at[position + 2] = reason  # sheet rows: the header is row 1
    assert len(rows) == 2000
    data = xlsx(rows)
    parsed = roster.read_rows(data, "roster.xlsx")
    outcome = await roster.import_rows(db, parsed, filename="roster.xlsx", by="admin",
                                       now=clock.now())
    assert outcome.rows == 2000 and outcome.imported == 1950
    assert {p.row: p.reason for p in outcome.problems} == bad_at
    dup = next(p for p in outcome.problems if p.reason == "phone_duplicate")
    assert dup.params["first"] == next(n for n, r in parsed if r["phone"] == dup.value and n != dup.row)
    # the report as stored is the one returned
    assert await roster.batch_problems(db, batch=outcome.batch) == outcome.problems
    # every good row is on the roster of its unit with a working invite
    listed = {e.phone: e for b in BLOCKS + STATIONS for e in await roster.people_of(db, unit=b, now=clock.now())}
    assert len(listed) == 1950 and all(e.status == "pending" for e in listed.values())
    head = listed[phone(50)]
    assert (head.role, head.unit, head.name) == ("station_head", STATIONS[0], "站长50")
    # /start with the token: the invite is redeemed and the chat user bound (bot.handlers)
    invite = await bot_repo.redeem_invite(db, token=head.token, user_id=4242, now=clock.now())
    assert (invite["role"], invite["unit"], invite["name"]) == ("station_head", STATIONS[0], "站长50")
    await grids_repo.bind(db, user_id=4242, chat_id=4242, role=invite["role"], unit=invite["unit"],
                          name=invite["name"], locale="zh-CN", now=clock.now())
    after = {e.phone: e for e in await roster.people_of(db, unit=STATIONS[0], now=clock.now())}
    assert after[phone(50)].status == "bound" and after[phone(50)].user_id == 4242
    await grids_repo.unbind(db, user_id=4242)
    after = {e.phone: e for e in await roster.people_of(db, unit=STATIONS[0], now=clock.now())}
    assert after[phone(50)].status == "unbound"
    # a second import of the same file imports nobody twice: every phone is taken now
    again = await roster.import_rows(db, parsed, filename="roster.xlsx", by="admin", now=clock.now())
    assert again.imported == 0
    assert await db.roster_people.count_documents({}) == 1950
    assert await db.invites.count_documents({}) == 1950


async def test_a_crashed_import_is_invisible_and_a_rerun_imports_the_file_whole(
        db: Database, clock: FakeClock, grid: None) -> None:
    parsed = roster.read_rows(xlsx(good_rows(300)), "r.xlsx")
    # What an import that died after writing half its people leaves behind.
    good, _ = await roster.validate(db, parsed)
    await db.roster_imports.insert_one({"_id": "dead", "state": "writing", "at": clock.now(),
                                        "lease_until": clock.now() + roster.WRITE_LEASE})
    await db.roster_people.insert_many([
        {"_id": p.phone, "phone": p.phone, "name": p.name, "role": p.role, "unit": p.unit,
         "row": p.row, "batch": "dead", "generation": 0} for p in good[:150]])
    assert await roster.people_of(db, unit=BLOCKS[1], now=clock.now()) == []
    assert await roster.recent_batches(db) == []
    clock.advance(roster.WRITE_LEASE + timedelta(seconds=1))
    outcome = await roster.import_rows(db, parsed, filename="r.xlsx", by="admin", now=clock.now())
    assert (outcome.imported, outcome.problems) == (300, [])
    assert await db.roster_people.count_documents({"batch": "dead"}) == 0
    assert await db.roster_people.count_documents({}) == 300
    assert [b["_id"] for b in await roster.recent_batches(db)] == [outcome.batch]


async def test_csv_in_gb18030_and_english_headers_and_a_file_without_columns(
        db: Database, clock: FakeClock, grid: None) -> None:
    text = "name,phone,role,unit\n李四,+86 139-0000-0001,块长,310101001001001\n"
    parsed = roster.read_rows(text.encode("gb18030"), "r.csv")
    assert parsed == [(2, {"name": "李四", "phone": "+86 139-0000-0001", "role": "块长",
                           "unit": "310101001001001"})]
    outcome = await roster.import_rows(db, parsed, filename="r.csv", by="admin", now=clock.now())
    assert outcome.imported == 1
    [entry] = await roster.people_of(db, unit="310101001001001", now=clock.now())
    assert (entry.phone, entry.role) == ("13900000001", "leader")
    with pytest.raises(InvalidInput, match="missing: phone, unit"):
        roster.read_rows(b"name,role\nx,leader\n", "r.csv")
    with pytest.raises(InvalidInput, match="XLSX"):
        roster.read_rows(b"PK\x03\x04 not a zip", "r.xlsx")


async def test_expired_invites_are_reissued_with_new_links(
        db: Database, clock: FakeClock, grid: None) -> None:
    parsed = roster.read_rows(xlsx([["王五", phone(1), "leader", BLOCKS[0]]]), "r.xlsx")
    await roster.import_rows(db, parsed, filename="r.xlsx", by="admin", now=clock.now(), hours=1)
    [old] = await roster.people_of(db, unit=BLOCKS[0], now=clock.now())
    clock.advance(timedelta(hours=2))
    [expired] = await roster.people_of(db, unit=BLOCKS[0], now=clock.now())
    assert expired.status == "expired"
    assert await roster.reissue(db, unit=BLOCKS[0], now=clock.now(), by="admin") == 1
    [new] = await roster.people_of(db, unit=BLOCKS[0], now=clock.now())
    assert new.status == "pending" and new.token != old.token
    invite = await bot_repo.redeem_invite(db, token=new.token, user_id=7, now=clock.now())
    assert invite["unit"] == BLOCKS[0]


async def test_a_station_head_who_is_also_a_coordinator_binds_both_and_reports_as_patrol(
        world: BotWorld) -> None:
    """Two rows of one phone and name, station head of the workstation and coordinator of a
    block: one person, one invite; bound, they report a photo as the patrol does. A second
    role the standards do not pair (two leaders) is a duplicate phone."""
    station, block = "310101001001", BLOCK_ONE
    text = ("姓名,手机号,角色,单位代码\n"
            f"陈站长,13900000001,工作站站长,{station}\n"
            f"陈站长,13900000001,巡管员,{block}\n"
            f"吴块长,13900000002,leader,{block}\n"
            f"吴块长,13900000002,leader,{BLOCK_TWO}\n"
            f"冯站长,13900000003,station_head,{station}\n")
    rows = roster.read_rows(text.encode(), "r.csv")
    outcome = await roster.import_rows(world.db, rows, filename="r.csv", by="admin",
                                       now=world.clock.now())
    assert outcome.imported == 3
    assert [(p.row, p.reason, p.params) for p in outcome.problems] == [
        (5, "phone_duplicate", {"first": 4})]
    by_phone = {e.phone: e for e in await roster.people_of(world.db, unit=block, now=world.clock.now())}
    chen = by_phone["13900000001"]
    assert (chen.role, chen.unit, chen.also_role, chen.also_unit) == (
        "station_head", station, "coordinator", block)
    head = await world.phone("陈站长")
    await head.send(f"/start {chen.token}")
    assert "绑定成功" in (await head.reply())["text"]
    member = await grids_repo.membership(world.db, user_id=head.id)
    assert member is not None and (member["role"], member["also_role"], member["also_unit"]) == (
        "station_head", "coordinator", block)
    await head.photo(jpeg())
    assert (await head.reply())["text"] == t("report.photo_added", "zh-CN", count=1)
    # a station head without the second role may not
    [feng] = [e for e in await roster.people_of(world.db, unit=station, now=world.clock.now())
              if e.phone == "13900000003"]
    other = await world.phone("冯站长")
    await other.send(f"/start {feng.token}")
    await other.reply()
    await other.photo(jpeg())
    assert (await other.reply())["text"] == t("report.coordinators_only", "zh-CN")


async def test_the_admin_invite_api_gives_a_second_role_where_allowed(world: BotWorld) -> None:
    token = await auth.create_token(world.db, role="admin", unit="310101", district="310101",
                                    name="admin", now=world.clock.now())
    headers = {"Authorization": f"Bearer {token}"}
    async with aiohttp.ClientSession() as s:
        async def invite(body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
            async with s.post(world.url + "/api/v1/admin/invites", json=body, headers=headers) as r:
                return r.status, await r.json()

        status, made = await invite({"role": "leader", "unit": BLOCK_ONE, "name": "何块长",
                                     "also_role": "coordinator", "also_unit": BLOCK_TWO})
        assert status == 201, made
        for bad in ({"role": "dispatcher", "unit": "310101001", "also_role": "coordinator",
                     "also_unit": BLOCK_ONE},
                    {"role": "leader", "unit": BLOCK_ONE, "also_role": "coordinator"},
                    {"role": "leader", "unit": BLOCK_ONE, "also_role": "leader",
                     "also_unit": BLOCK_TWO},
                    {"role": "leader", "unit": BLOCK_ONE, "also_role": "coordinator",
                     "also_unit": "310101999"}):
            status, body = await invite(bad)
            assert 400 <= status < 500, (bad, status, body)
    leader = await world.phone("何块长")
    await leader.send(f"/start {made['token']}")
    await leader.reply()
    member = await grids_repo.membership(world.db, user_id=leader.id)
    assert member is not None and (member["role"], member["unit"], member["also_role"],
                                   member["also_unit"]) == ("leader", BLOCK_ONE, "coordinator", BLOCK_TWO)
