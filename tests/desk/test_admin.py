"""The admin's desk pages (issue 23): roster import with its error report, who is bound
where, unbind, the invite sheet; staff accounts; Open311 keys and API tokens; categories;
each change in the audit log. Only an admin may open them, and every form needs its CSRF
token."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from aiohttp import ClientSession, FormData
from openpyxl import Workbook, load_workbook

from grids import repository as grids_repo
from tests.desk.conftest import Desk, csrf_of
from tests.desk.test_http import post_form

BLOCK = "310101001001001"
STATION = "310101001001"


def xlsx(rows: list[list[Any]]) -> bytes:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["name", "phone", "role", "unit"])
    for row in rows:
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def upload(c: ClientSession, data: bytes, filename: str, *, csrf: str | None = None
                 ) -> tuple[int, str, str]:
    page = await c.get("/desk/admin/roster")
    form = FormData()
    form.add_field("csrf", csrf if csrf is not None else csrf_of(await page.text()))
    form.add_field("file", data, filename=filename,
                   content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    resp = await c.post("/desk/admin/roster/import", data=form)
    return resp.status, str(resp.url), await resp.text()


async def audit_actions(desk: Desk) -> list[tuple[str, str, str]]:
    return [(d["by"], d["action"], d["target"]) async for d in desk.db.audit_log.find({})]


async def test_roster_import_reports_bad_rows_in_both_languages_and_lists_the_unit(desk: Desk) -> None:
    admin = await desk.signed_in("admin")
    rows = [[f"巡管员{i}", f"1390000{i:04d}", "巡管员", BLOCK] for i in range(30)]
    rows.insert(5, ["王五", "12345", "coordinator", BLOCK])           # row 7
    rows.insert(10, ["赵六", "13911112222", "mayor", BLOCK])          # row 12
    rows.insert(15, ["钱七", "13911113333", "leader", STATION])       # row 17
    rows.insert(20, ["孙八", "13900000003", "leader", BLOCK])         # row 22: row 5's phone
    rows.append(["周九", "13911114444", "工作站站长", STATION])
    status, url, page = await upload(admin, xlsx(rows), "名册.xlsx")
    assert status == 200 and "/desk/admin/roster/imports/" in url
    assert "35 rows: 31 people imported with an invite each; 4 rows refused." in page
    for n in (7, 12, 17, 22):
        assert f'id="problem-row-{n}"' in page
    assert "A block leader is bound to a community block / street block; this unit is a workstation" in page
    assert "Same phone as row 5" in page
    batch = url.rsplit("/", 1)[1]
    # the report, in English (the desk's language) and in Chinese, as XLSX and CSV
    resp = await admin.get(f"/desk/admin/roster/imports/{batch}/errors.xlsx")
    assert resp.status == 200 and "attachment" in resp.headers["Content-Disposition"]
    sheet = load_workbook(io.BytesIO(await resp.read())).active
    assert sheet is not None
    got = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert got[0] == ["Row", "Column", "Value", "Reason"]
    assert [r[0] for r in got[1:]] == [7, 12, 17, 22]
    assert got[2][3].startswith("Unknown role")
    resp = await admin.get(f"/desk/admin/roster/imports/{batch}/errors.csv?lang=zh-CN")
    text = (await resp.read()).decode("utf-8-sig")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == ["行号", "列", "内容", "原因"]
    assert table[4] == ["22", "手机号", "13900000003", "与第 5 行的手机号重复"]
    # who is where: the block lists its 30 coordinators as invited, the station its head
    page = await (await admin.get(f"/desk/admin/roster?unit={BLOCK}")).text()
    assert page.count('class="status-pending"') == 30
    page = await (await admin.get(f"/desk/admin/roster?unit={STATION}")).text()
    assert 'id="person-13911114444"' in page and "station head" in page
    assert f"/desk/admin/roster?unit={BLOCK}" in page  # its blocks are linked
    # the printable sheet: one QR code per person waiting to bind
    page = await (await admin.get(f"/desk/admin/roster/sheet?unit={BLOCK}")).text()
    assert page.count('class="qr-card"') == 30 and page.count("data:image/svg+xml") == 30
    assert [("admin", "roster.import", batch)] == await audit_actions(desk)
    # a file without the columns is refused in the admin's words, nothing written
    status, _, page = await upload(admin, b"nom,tel\nx,y\n", "bad.csv")
    assert status == 400
    assert "The file&#39;s first row must name the columns; missing: name, phone, role, unit" in page


async def test_unbind_from_the_roster_page(desk: Desk) -> None:
    await grids_repo.bind(desk.db, user_id=501, chat_id=501, role="leader", unit=BLOCK,
                          name="李四", locale="zh-CN", now=desk.clock.now())
    admin = await desk.signed_in("admin")
    page_url = f"/desk/admin/roster?unit={BLOCK}"
    assert 'id="member-501"' in await (await admin.get(page_url)).text()
    status, page = await post_form(admin, page_url, "/desk/admin/roster/unbind", user_id="501")
    assert status == 200 and "李四 is unbound" in page and 'id="member-501"' not in page
    assert await grids_repo.membership(desk.db, user_id=501) is None
    assert ("admin", "roster.unbind", "501") in await audit_actions(desk)
    status, page = await post_form(admin, page_url, "/desk/admin/roster/unbind", user_id="501")
    assert status == 404


async def test_an_imported_person_is_removed_and_their_invite_stops_working(desk: Desk) -> None:
    from bot import repository as bot_repo
    from bot import roster
    from bot.errors import InviteUnknown

    rows = roster.read_rows(xlsx([["吴六", "13900000006", "leader", BLOCK]]), "r.xlsx")
    await roster.import_rows(desk.db, rows, filename="r.xlsx", by="admin", now=desk.clock.now())
    [entry] = await roster.people_of(desk.db, unit=BLOCK, now=desk.clock.now())
    admin = await desk.signed_in("admin")
    page_url = f"/desk/admin/roster?unit={BLOCK}"
    status, page = await post_form(admin, page_url, "/desk/admin/roster/remove",
                                   phone="13900000006")
    assert status == 200 and "吴六 is off the roster" in page and 'id="person-13900000006"' not in page
    with pytest.raises(InviteUnknown):
        await bot_repo.redeem_invite(desk.db, token=entry.token, user_id=9, now=desk.clock.now())
    assert ("admin", "roster.remove", "13900000006") in await audit_actions(desk)
    status, _ = await post_form(admin, page_url, "/desk/admin/roster/remove", phone="13900000006")
    assert status == 404


ADMIN_GETS = ["/desk/admin", "/desk/admin/roster", "/desk/admin/staff", "/desk/admin/keys",
              "/desk/admin/categories", "/desk/admin/audit", "/desk/admin/grids"]
ADMIN_POSTS = ["/desk/admin/roster/unbind", "/desk/admin/roster/reissue",
               "/desk/admin/roster/remove", "/desk/admin/grids/install", "/desk/admin/staff",
               "/desk/admin/keys/open311", "/desk/admin/keys/tokens",
               "/desk/admin/categories/road_damage"]


async def test_only_an_admin_opens_the_pages_and_every_form_needs_its_csrf_token(desk: Desk) -> None:
    center = await desk.signed_in("center")
    for url in ADMIN_GETS:
        assert (await center.get(url)).status == 403, url
    for url in ADMIN_POSTS:
        status, _ = await post_form(center, "/desk/queues/new", url, name="x")
        assert status == 403, url
    anonymous = await desk.client()
    resp = await anonymous.get("/desk/admin/roster", allow_redirects=False)
    assert resp.status == 303 and "/desk/signin" in resp.headers["Location"]
    admin = await desk.signed_in("admin")
    for url in ADMIN_GETS:
        assert (await admin.get(url)).status == 200, url
    for url in ADMIN_POSTS:
        resp = await admin.post(url, data={"name": "x", "csrf": "forged"})
        assert resp.status == 403, url
        resp = await admin.post(url, data={"name": "x"})
        assert resp.status == 403, url
    status, _, _ = await upload(admin, xlsx([["a", "13900000001", "leader", BLOCK]]), "r.xlsx",
                                csrf="forged")
    assert status == 403
    assert await desk.db.roster_people.count_documents({}) == 0
    assert await audit_actions(desk) == []


async def test_staff_accounts_added_and_disabled_with_the_audit_log(desk: Desk) -> None:
    admin = await desk.signed_in("admin")
    url = "/desk/admin/staff"
    status, page = await post_form(admin, url, url, username="nightdesk", name="夜班",
                                   role="dispatcher", unit="310101001", password="another long password",
                                   locale="zh-CN")
    assert status == 200 and 'id="account-nightdesk"' in page and "Account nightdesk added" in page
    status, page = await post_form(admin, url, url, username="x!", role="dispatcher",
                                   unit="310101001", password="another long password")
    assert status == 400 and "Username: 2–40 of a-z" in page
    status, page = await post_form(admin, url, url, username="nightdesk", role="dispatcher",
                                   unit="310101001", password="another long password")
    assert status == 400 and "The username nightdesk is taken" in page
    await admin.get(f"/desk/locale?to=zh-CN&next={url}")
    status, page = await post_form(admin, url, url, username="leader2", role="leader",
                                   unit="310101001", password="another long password")
    assert status == 400 and "不是责任块负责人可用的层级（社区网格责任块 / 街面责任块）" in page
    await admin.get(f"/desk/locale?to=en&next={url}")
    staff = await desk.db.staff.find_one({"username": "nightdesk"})
    assert staff is not None
    status, page = await post_form(admin, url, f"{url}/{staff['_id']}/disable")
    assert status == 200 and "Account nightdesk: disabled" in page
    assert (await desk.db.staff.find_one({"_id": staff["_id"]}) or {})["disabled"] is True
    own = await desk.db.staff.find_one({"username": "admin"})
    assert own is not None
    status, _ = await post_form(admin, url, f"{url}/{own['_id']}/disable")
    assert status == 400
    actions = [a for _, a, _ in await audit_actions(desk)]
    assert actions == ["staff.add", "staff.disable"]
    page = await (await admin.get("/desk/admin/audit")).text()
    assert "Account added" in page and "Account disabled" in page and "nightdesk" in page


async def test_open311_keys_and_api_tokens_are_shown_once_and_revoked(desk: Desk) -> None:
    admin = await desk.signed_in("admin")
    url = "/desk/admin/keys"
    status, page = await post_form(admin, url, "/desk/admin/keys/open311", name="城市App")
    assert status == 200 and 'id="secret-value"' in page
    [key] = await desk.db.open311_keys.find({}).to_list(None)
    assert key["name"] == "城市App"
    status, page = await post_form(admin, url, "/desk/admin/keys/tokens", name="hotline",
                                   role="dispatcher", unit="310101001", days="30")
    assert status == 200
    token = page.split('id="secret-value">', 1)[1].split("<", 1)[0]
    resp = await admin.get("/api/v1/categories", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
    [doc] = await desk.db.api_tokens.find({"name": "hotline"}).to_list(None)
    status, page = await post_form(admin, url, f"/desk/admin/keys/tokens/{doc['_id']}/revoke")
    assert status == 200 and await desk.db.api_tokens.count_documents({"name": "hotline"}) == 0
    status, page = await post_form(admin, url, f"/desk/admin/keys/open311/{key['_id']}/revoke")
    assert status == 200 and "revoked" in page
    status, page = await post_form(admin, url, "/desk/admin/keys/tokens", name="bad",
                                   role="dispatcher", unit="999")
    assert status == 400 and "No unit 999" in page
    assert [a for _, a, _ in await audit_actions(desk)] == [
        "open311_key.create", "token.create", "token.revoke", "open311_key.revoke"]


async def test_a_category_time_limit_is_changed_and_audited(desk: Desk) -> None:
    admin = await desk.signed_in("admin")
    url = "/desk/admin/categories"
    status, page = await post_form(admin, url, f"{url}/road_damage", hours="", working_days="3",
                                   dispatch_minutes="20", verify_hours="12", active="on")
    assert status == 200 and "Category road_damage saved" in page
    doc = await desk.db.categories.find_one({"_id": "road_damage"})
    assert doc is not None and doc["limit"] == {"working_days": 3} and doc["dispatch_minutes"] == 20
    status, page = await post_form(admin, url, f"{url}/road_damage", hours="6", working_days="3",
                                   active="on")
    assert status == 400 and "exactly one of hours or working_days" in page
    [entry] = await desk.db.audit_log.find({"action": "category.update"}).to_list(None)
    assert entry["target"] == "road_damage" and "working_days" in entry["detail"]["limit"]


@pytest.mark.parametrize("loc", ["zh-CN", "en"])
async def test_the_admin_pages_speak_both_languages(desk: Desk, loc: str) -> None:
    admin = await desk.signed_in("admin")
    await admin.get(f"/desk/locale?to={loc}&next=/desk/admin")
    page = await (await admin.get("/desk/admin/roster")).text()
    assert ("批量导入" if loc == "zh-CN" else "Bulk import") in page
    page = await (await admin.get("/desk/admin/audit")).text()
    assert ("操作日志" if loc == "zh-CN" else "Audit log") in page


def test_every_text_of_the_admin_pages_is_in_both_languages() -> None:
    import re
    from pathlib import Path

    from api.desk.i18n import CATALOG
    from staff.audit import ACTIONS

    templates = Path(__file__).resolve().parents[2] / "api" / "desk" / "templates"
    keys = {k for f in templates.glob("admin_*.html")
            for k in re.findall(r"\bt\('([a-z0-9_.]+)'", f.read_text())}
    keys |= {f"audit.{a}" for a in ACTIONS}
    keys |= {f"reason.{r}" for r in ("name_missing", "name_too_long", "phone_missing", "phone_bad",
                                     "phone_duplicate", "phone_taken", "role_missing", "role_bad",
                                     "unit_missing", "unit_unknown", "unit_level")}
    keys = {k for k in keys if not k.endswith(".")}  # a prefix joined with a value
    keys |= {f"roster.status.{s}" for s in ("pending", "expired", "bound", "unbound")}
    missing = sorted(k for k in keys if k not in CATALOG or not all(CATALOG[k]))
    assert missing == []


async def test_calendar_entries_and_api_invites_and_unbinds_are_audited_too(desk: Desk) -> None:
    from gridlink import auth

    admin = await desk.signed_in("admin")
    url = "/desk/admin/calendar/2027"
    status, _ = await post_form(admin, url, url, op="save", holidays="2027-01-01 元旦", workdays="")
    assert status == 200
    token = await auth.create_token(desk.db, role="admin", unit="310101", district="310101",
                                    name="ops-script", now=desk.clock.now())
    headers = {"Authorization": f"Bearer {token}"}
    c = await desk.client()
    resp = await c.post("/api/v1/admin/invites", headers=headers,
                        json={"role": "leader", "unit": BLOCK, "name": "郑块长"})
    assert resp.status == 201
    await grids_repo.bind(desk.db, user_id=808, chat_id=808, role="leader", unit=BLOCK,
                          name="郑块长", locale="zh-CN", now=desk.clock.now())
    resp = await c.delete("/api/v1/admin/roster/808", headers=headers)
    assert resp.status == 200
    assert await audit_actions(desk) == [("admin", "calendar.enter", "2027"),
                                         ("ops-script", "invite.create", BLOCK),
                                         ("ops-script", "roster.unbind", "808")]
    page = await (await admin.get("/desk/admin/audit")).text()
    assert "Holidays entered" in page and "Invite created" in page and "via: api" in page
