"""The station head's desk page (/desk/station, 工作站站长, issue 23): their workstation's blocks
by name with open cases by colour, the leader and coordinators bound, the cases waiting longest
linked to their pages — over HTTP with a signed-in session. A station head sees the cases of
their blocks read-only (no center transition) and nothing of another workstation's."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from typing import Any

import pytest

from gridlink.db import Database
from grids import repository as grids_repo
from staff import service as staff_service
from staff.errors import BadAccount
from stats import repository as stats_repo
from stats import rollups
from tests.desk.conftest import DISTRICT, Desk, add_account
from tests.desk.test_http import FORM_RE, PLACEMENT, dispatched, new_case, post_form

STATION, OTHER_STATION = "310101001001", "310101001002"
NORTH, SOUTH, EAST = "310101001001001", "310101001001002", "310101001002001"
SOUTH_PLACEMENT = {**PLACEMENT, "community_block": SOUTH}
EAST_PLACEMENT = {**PLACEMENT, "community_block": EAST, "workstation": OTHER_STATION,
                  "street_block": None, "patrol_zone": None}
ROW_RE = r'<tr id="block-{unit}" data-unit="{unit}">(.*?)</tr>'


async def folded(db: Database, clock: Any) -> None:
    """Every logged change in the statistics (the app's background folder may hold the lease)."""
    for _ in range(100):
        await rollups.fold(db, now=clock.now())
        _, _, waiting = await stats_repo.log_state(db, count=1)
        if not waiting:
            return
        await asyncio.sleep(0.1)
    raise AssertionError("the statistics log did not drain")


def counts(html: str, unit: str) -> dict[str, str]:
    found = re.search(ROW_RE.format(unit=unit), html, re.S)
    assert found, f"no row for block {unit}"
    return dict(re.findall(r'data-colour="(\w+)">(\d+)<', found.group(1)))


async def bind_people(db: Database, clock: Any) -> None:
    for user_id, role, unit, name, also in (
            (1, "leader", NORTH, "李芳", None), (2, "coordinator", NORTH, "王伟", None),
            (3, "coordinator", SOUTH, "赵敏", None),
            (4, "station_head", STATION, "刘敏", ("coordinator", SOUTH)),
            (5, "leader", EAST, "Other Leader", None)):
        await grids_repo.bind(db, user_id=user_id, chat_id=user_id, role=role, unit=unit, name=name,
                              locale="zh-CN", now=clock.now(), also_role=also[0] if also else None,
                              also_unit=also[1] if also else None)


async def test_a_station_head_sees_their_blocks_read_only(desk: Desk) -> None:
    await add_account(desk.db, desk.clock, "station", "station_head", STATION)
    await bind_people(desk.db, desk.clock)
    north = await dispatched(desk)  # road_damage → D07, placed in the north block
    south = await new_case(desk, placement=SOUTH_PLACEMENT, description="Broken bench")
    east = await new_case(desk, placement=EAST_PLACEMENT, description="Elsewhere")
    await folded(desk.db, desk.clock)

    head = await desk.signed_in("station")
    resp = await head.get("/desk/")
    assert resp.status == 200 and resp.url.path == "/desk/station"
    html = await resp.text()
    # the blocks by name (the account reads English), the other station's block not at all
    assert "Blocks of Unit 310101001001" in html
    assert 'id="nav-station" aria-current="page">My blocks<' in html  # the navigation links here
    assert "Unit 310101001001001" in html and "Unit 310101001001002" in html
    assert EAST not in html and east["serial"] not in html
    assert counts(html, NORTH) == {"red": "0", "yellow": "0", "blue": "1", "green": "0"}
    assert counts(html, SOUTH) == {"red": "0", "yellow": "0", "blue": "1", "green": "0"}
    assert re.search(r'id="headline-open">2 open<', html)
    # who is bound: the leader, the coordinators (the station head patrols the south block too)
    row = re.search(ROW_RE.format(unit=NORTH), html, re.S)
    assert row and "李芳" in row.group(1) and "王伟" in row.group(1)
    row = re.search(ROW_RE.format(unit=SOUTH), html, re.S)
    assert row and "(nobody bound)" in row.group(1) and "赵敏" in row.group(1) and "刘敏" in row.group(1)
    assert "Other Leader" not in html
    # the cases waiting longest, each linked to its case page
    for case in (north, south):
        assert f'href="/desk/cases/{case["_id"]}">{case["serial"]}</a>' in html

    # in Chinese: the same page, names and words
    await head.get("/desk/locale?to=zh-CN&next=/desk/station")
    html = await (await head.get("/desk/station")).text()
    assert "单元310101001001 的网格责任块" in html and "单元310101001001002" in html
    assert "块长" in html and "（未绑定）" in html and "等待最久的案件" in html

    # days later both are overdue: red
    desk.clock.advance(timedelta(days=30))
    head = await desk.signed_in("station")  # the session of a month ago has expired
    html = await (await head.get("/desk/station")).text()
    assert counts(html, NORTH)["red"] == "1" and counts(html, SOUTH)["red"] == "1"
    assert 'id="headline-red">2<' in html

    # read-only: the case page opens with no center action, and dispatching is refused
    for case in (north, south):
        page = await head.get(f"/desk/cases/{case['_id']}")
        assert page.status == 200
        kinds = {a.rsplit("/", 1)[-1] for a in FORM_RE.findall(await page.text())} - {"signout"}
        assert kinds == set(), kinds
    status, _ = await post_form(head, "/desk/station", f"/desk/cases/{south['_id']}/dispatch",
                                version=str(south["version"]), unit=SOUTH)
    assert status == 403
    status, _ = await post_form(head, "/desk/station", f"/desk/cases/{north['_id']}/supervise",
                                version=str(north["version"]))
    assert status == 403
    stored = await desk.db.cases.find_one({"_id": south["_id"]})
    assert stored is not None and stored["state"] == "reported" and stored["version"] == south["version"]
    # another workstation's case: refused
    assert (await head.get(f"/desk/cases/{east['_id']}")).status == 403
    # not the admin's pages nor the center's queues
    for url in ("/desk/admin/weights", "/desk/queues/new", "/desk/intake"):
        assert (await head.get(url)).status == 403, url


async def test_the_station_page_is_for_station_heads_and_admins(desk: Desk) -> None:
    await add_account(desk.db, desk.clock, "station", "station_head", STATION)
    leader, admin = await desk.signed_in("leader"), await desk.signed_in("admin")
    assert (await leader.get("/desk/station")).status == 403
    resp = await admin.get(f"/desk/station?unit={OTHER_STATION}")
    assert resp.status == 200 and "Unit 310101001002001" in await resp.text()
    assert (await admin.get("/desk/station")).status == 400  # which station?
    resp = await admin.get(f"/desk/station?unit={NORTH}")  # a block is not a station
    assert resp.status == 400
    anonymous = await desk.client()
    resp = await anonymous.get("/desk/station", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/desk/signin")


async def test_a_station_heads_account_belongs_to_a_workstation(desk: Desk) -> None:
    with pytest.raises(BadAccount) as caught:
        await staff_service.create_account(desk.db, username="sh2", password="x" * 12,
                                           role="station_head", unit=NORTH, name="",
                                           district=DISTRICT, now=desk.clock.now())
    assert caught.value.details["field"] == "unit"
    account = await staff_service.create_account(desk.db, username="sh3", password="x" * 12,
                                                 role="station_head", unit="310101001P01", name="",
                                                 district=DISTRICT, now=desk.clock.now())
    assert account.role == "station_head"
    # the admin's staff page offers the role
    admin = await desk.signed_in("admin")
    html = await (await admin.get("/desk/admin/staff")).text()
    assert '<option value="station_head"' in html and "station head" in html
    form = {"username": "sh4", "name": "Liu", "role": "station_head", "password": "y" * 12,
            "locale": "en"}
    status, html = await post_form(admin, "/desk/admin/staff", "/desk/admin/staff", **form, unit=NORTH)
    assert status == 400
    assert "not a level a station head belongs to (workstation / patrol zone)" in html
    status, html = await post_form(admin, "/desk/admin/staff", "/desk/admin/staff", **form, unit=STATION)
    assert status == 200 and "Account sh4 added." in html
    entry = await desk.db.audit_log.find_one({"action": "staff.add", "target": "sh4"})
    assert entry is not None and entry["detail"] == {"role": "station_head", "unit": STATION}
