"""The desk over HTTP against the real app and database: sign-in, sessions, CSRF, lockout,
unit and role boundaries, stale pages, intake with duplicates, and the queues."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import logging
import re
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import ClientSession

from cases import lifecycle
from cases.intake import intake
from cases.model import Actor, CasePolicy
from gridlink.logs import JsonFormatter
from staff import repository as staff_repo
from tests.desk.conftest import DISTRICT, INSIDE, PASSWORD, Desk, DeskFactory, csrf_of, sign_in

POLICY = CasePolicy(district=DISTRICT)
CENTER = Actor(role="dispatcher", unit=DISTRICT, name="Center")
ROADS = Actor(role="department", unit="D07", name="Roads")
PLACEMENT = {"community_block": "310101001001001", "street_block": "310101001P01001",
             "workstation": "310101001001", "street": "310101001", "patrol_zone": "310101001P01",
             "district": DISTRICT, "snapped": False, "distance_m": 0.0}
FORM_RE = re.compile(r'<form method="post" action="([^"]+)"')


async def new_case(desk: Desk, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = dict(channel="hotline_12345", kind="complaint", category="road_damage",
                                description="Pothole outside No. 12", actor=CENTER,
                                reporter={"phone": "13800138000", "name": "Zhang San"},
                                location=INSIDE, placement=PLACEMENT)
    args.update(kw)
    result = await intake(desk.db, policy=POLICY, now=desk.clock.now(), **args)
    return result.case


async def dispatched(desk: Desk, **kw: Any) -> dict[str, Any]:
    case = await new_case(desk, **kw)
    return await lifecycle.dispatch(desk.db, case_ref=case["_id"], actor=CENTER,
                                    now=desk.clock.now(), policy=POLICY)


async def post_form(c: ClientSession, page_url: str, action: str, **fields: Any) -> tuple[int, str]:
    """POST `action` with the CSRF token from `page_url`, like a browser submitting the form."""
    page = await c.get(page_url)
    html = await page.text()
    resp = await c.post(action, data={"csrf": csrf_of(html), **fields})
    return resp.status, await resp.text()


# ---------------------------------------------------------------- sign-in and sessions


async def test_sign_in_sets_a_safe_cookie_and_sign_out_ends_the_session(desk: Desk) -> None:
    c = await desk.client()
    resp = await c.get("/desk/queues/new", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"].startswith("/desk/signin")

    page = await c.get("/desk/signin")
    token = csrf_of(await page.text())
    resp = await c.post("/desk/signin", allow_redirects=False,
                        data={"csrf": token, "username": "center", "password": "wrong password!"})
    assert resp.status == 401
    assert "Wrong username or password" in await resp.text() or "用户名或密码不正确" in await resp.text()

    resp = await c.post("/desk/signin", allow_redirects=False,
                        data={"csrf": token, "username": "Center", "password": PASSWORD})
    assert resp.status == 303
    cookie = next(v for v in resp.headers.getall("Set-Cookie") if v.startswith("gl_desk="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/desk" in cookie
    assert "Secure" not in cookie  # PUBLIC_BASE_URL is http here
    raw = cookie.split(";")[0].split("=", 1)[1]
    stored = await desk.db.desk_sessions.find_one({})
    assert stored is not None and stored["_id"] == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in json.dumps(stored, default=str)

    queue = await c.get("/desk/queues/new")
    assert queue.status == 200 and "Center Desk" in await queue.text()

    status, _ = await post_form(c, "/desk/queues/new", "/desk/signout")
    assert status == 200
    assert await desk.db.desk_sessions.count_documents({}) == 0
    again = await c.get("/desk/queues/new", allow_redirects=False)
    assert again.status == 303
    # The old cookie value no longer signs anyone in.
    other = await desk.client()
    other.cookie_jar.update_cookies({"gl_desk": raw})
    assert (await other.get("/desk/queues/new", allow_redirects=False)).status == 303


async def test_sessions_expire_and_cookies_are_secure_behind_https(make_desk: DeskFactory) -> None:
    desk = await make_desk(public_base_url="https://desk.example.org", desk_session_hours=1.0)
    c = await desk.client()
    page = await c.get("/desk/signin")
    pre = next(v for v in page.headers.getall("Set-Cookie") if v.startswith("gl_desk_pre="))
    assert "Secure" in pre
    # The test client speaks http, so hand Secure cookies over as a browser would over https.
    c.cookie_jar.update_cookies({"gl_desk_pre": pre.split(";")[0].split("=", 1)[1]})
    resp = await c.post("/desk/signin", allow_redirects=False, data={
        "csrf": csrf_of(await page.text()), "username": "center", "password": PASSWORD})
    assert resp.status == 303
    cookie = next(v for v in resp.headers.getall("Set-Cookie") if v.startswith("gl_desk="))
    assert "Secure" in cookie
    raw = cookie.split(";")[0].split("=", 1)[1]
    c2 = await desk.client()
    c2.cookie_jar.update_cookies({"gl_desk": raw})
    assert (await c2.get("/desk/queues/new", allow_redirects=False)).status == 200
    desk.clock.advance(minutes=61)
    assert (await c2.get("/desk/queues/new", allow_redirects=False)).status == 303


async def test_lockout_lasts_the_configured_time_even_for_the_right_password(
        make_desk: DeskFactory) -> None:
    desk = await make_desk(desk_lockout_attempts=3, desk_lockout_minutes=10.0)
    c = await desk.client()
    for _ in range(3):
        assert (await sign_in(c, "roads", "not the password")).status == 401
    locked = await sign_in(c, "roads", PASSWORD)
    assert locked.status == 403 and "锁定" in await locked.text()
    desk.clock.advance(minutes=9, seconds=59)
    assert (await sign_in(c, "roads", PASSWORD)).status == 403
    desk.clock.advance(seconds=2)
    ok = await sign_in(c, "roads", PASSWORD)
    assert ok.status == 200 and "/desk/unit" in str(ok.url)
    # After a success the count starts again: two more failures do not lock.
    c2 = await desk.client()
    for _ in range(2):
        assert (await sign_in(c2, "roads", "nope nope nope")).status == 401
    assert (await sign_in(c2, "roads", PASSWORD)).status == 200
    # An unknown username locks the same way, so lockouts do not reveal which accounts exist.
    for _ in range(3):
        assert (await sign_in(c2, "nobody", "whatever123")).status == 401
    assert (await sign_in(c2, "nobody", "whatever123")).status == 403


async def test_passwords_never_reach_the_logs(desk: Desk, caplog: pytest.LogCaptureFixture) -> None:
    from staff import service

    secret_new = "Sup3r-secret-pass-for-logs"
    wrong = "An0ther-wrong-secret-xyz"
    caplog.set_level(logging.DEBUG)
    await service.create_account(desk.db, username="newbie", password=secret_new, role="department",
                                 unit="D05", name="Newbie", district=DISTRICT, now=desk.clock.now())
    c = await desk.client()
    assert (await sign_in(c, "newbie", wrong)).status == 401
    assert (await sign_in(c, "newbie", secret_new)).status == 200
    formatter = JsonFormatter()
    lines = [formatter.format(r) for r in caplog.records]
    assert any("signed in" in line for line in lines)  # the sign-in was logged ...
    assert any("sign-in failed" in line for line in lines)
    for line in lines:  # ... without any password
        assert secret_new not in line and wrong not in line and PASSWORD not in line
    doc = await staff_repo.account_by_username(desk.db, username="newbie")
    assert doc is not None and secret_new not in json.dumps(doc, default=str)
    assert doc["password_hash"].startswith("$argon2id$")


# ---------------------------------------------------------------- CSRF


async def test_every_form_rejects_a_missing_or_wrong_csrf_token(desk: Desk) -> None:
    """Collect every POST form the desk renders (cases in each state, every role), then post
    each without a token and with a wrong one: 403, and nothing changes."""
    reported = await new_case(desk)
    disp = await dispatched(desk)
    in_progress = await dispatched(desk)
    in_progress = await lifecycle.accept(desk.db, case_ref=in_progress["_id"], actor=ROADS,
                                         now=desk.clock.now())
    pending = await lifecycle.request_extension(desk.db, case_ref=in_progress["_id"], actor=ROADS,
                                                now=desk.clock.now(), policy=POLICY,
                                                reason="rain", working_days=2)
    waiting = await dispatched(desk)
    waiting = await lifecycle.accept(desk.db, case_ref=waiting["_id"], actor=ROADS, now=desk.clock.now())
    waiting = await lifecycle.feedback(desk.db, case_ref=waiting["_id"], actor=ROADS,
                                       now=desk.clock.now(), policy=POLICY, text="fixed")
    closed = await lifecycle.verify(desk.db, case_ref=waiting["_id"], actor=CENTER,
                                    now=desk.clock.now(), policy=POLICY, ok=True)
    waiting2 = await dispatched(desk)
    waiting2 = await lifecycle.accept(desk.db, case_ref=waiting2["_id"], actor=ROADS, now=desk.clock.now())
    waiting2 = await lifecycle.feedback(desk.db, case_ref=waiting2["_id"], actor=ROADS,
                                        now=desk.clock.now(), policy=POLICY, text="done")
    center, roads = await desk.signed_in("center"), await desk.signed_in("roads")
    in_progress2 = await lifecycle.accept(desk.db, case_ref=(await dispatched(desk))["_id"],
                                          actor=ROADS, now=desk.clock.now())
    pages = {center: ["/desk/intake", "/desk/queues/new", "/desk/queues/extensions",
                      "/desk/queues/verification"] +
             [f"/desk/cases/{c['_id']}" for c in (reported, disp, pending, waiting2, closed)],
             roads: ["/desk/unit", f"/desk/cases/{disp['_id']}", f"/desk/cases/{in_progress2['_id']}"]}
    found: dict[str, ClientSession] = {}
    for client, urls in pages.items():
        for url in urls:
            html = await (await client.get(url)).text()
            for action in FORM_RE.findall(html):
                kind = action.rsplit("/", 1)[-1]  # one form of each kind is enough
                if all(a.rsplit("/", 1)[-1] != kind for a in found):
                    found[action] = client
    anon = await desk.client()
    await anon.get("/desk/signin")
    found["/desk/signin"] = anon
    kinds = {a.rsplit("/", 1)[-1] for a in found}
    assert {"signin", "signout", "intake", "dispatch", "accept", "return", "extend", "decide",
            "feedback", "verify", "supervise", "merge", "rate"} <= kinds, kinds

    before = [d async for d in desk.db.cases.find({}, {"version": 1}).sort("_id", 1)]
    for action, client in found.items():
        fields = {"username": "center", "password": PASSWORD, "version": "1", "text": "x",
                  "reason": "x", "description": "x", "category": "road_damage", "into": "x"}
        for token in (None, "forged-token"):
            data = dict(fields) if token is None else {**fields, "csrf": token}
            resp = await client.post(action, data=data, allow_redirects=False)
            assert resp.status == 403, (action, token, resp.status)
            body = await resp.text()
            assert "security token" in body or "安全令牌" in body, action
    after = [d async for d in desk.db.cases.find({}, {"version": 1}).sort("_id", 1)]
    assert before == after
    assert await desk.db.desk_sessions.count_documents({}) == 2  # no sign-in, no sign-out
    # A token from one session is no good in another.
    center_token = csrf_of(await (await center.get("/desk/queues/new")).text())
    resp = await roads.post(f"/desk/cases/{disp['_id']}/accept",
                            data={"csrf": center_token, "version": str(disp["version"])})
    assert resp.status == 403


# ---------------------------------------------------------------- units and roles


async def test_department_cannot_open_another_units_case_or_act_beyond_its_role(desk: Desk) -> None:
    case = await dispatched(desk)  # road_damage → D07 (roads)
    chengguan, roads, leader = (await desk.signed_in("chengguan"), await desk.signed_in("roads"),
                                await desk.signed_in("leader"))
    for client in (chengguan, leader):
        resp = await client.get(f"/desk/cases/{case['_id']}")
        assert resp.status == 403
        assert "may not" in await resp.text()
        status, _ = await post_form(client, "/desk/unit", f"/desk/cases/{case['_id']}/accept",
                                    version=str(case["version"]))
        assert status == 403
    # roads may open it, but not dispatch, supervise or verify (center actions) nor the queues
    assert (await roads.get(f"/desk/cases/{case['_id']}")).status == 200
    for action in ("dispatch", "supervise", "merge"):
        status, _ = await post_form(roads, "/desk/unit", f"/desk/cases/{case['_id']}/{action}",
                                       version=str(case["version"]), into="x")
        assert status == 403, action
    for url in ("/desk/queues/new", "/desk/queues/red", "/desk/intake"):
        assert (await roads.get(url)).status == 403, url
    stored = await desk.db.cases.find_one({"_id": case["_id"]})
    assert stored is not None and stored["version"] == case["version"]
    # the case page offers roads exactly its actions in this state
    html = await (await roads.get(f"/desk/cases/{case['_id']}")).text()
    kinds = {a.rsplit("/", 1)[-1] for a in FORM_RE.findall(html)} - {"signout"}
    assert kinds == {"accept", "return", "extend"}
    html = await (await (await desk.signed_in("center")).get(f"/desk/cases/{case['_id']}")).text()
    kinds = {a.rsplit("/", 1)[-1] for a in FORM_RE.findall(html)} - {"signout"}
    # the center's own forms on a dispatched case (issue 22's void and suspend included)
    assert kinds - {"hide", "unhide", "redact"} == {"supervise", "merge", "void", "suspend",
                                                     "assist"}


async def test_a_block_leader_works_its_blocks_cases_at_the_desk(desk: Desk) -> None:
    case = await dispatched(desk, category="property_repair")  # 块: routed to the placed block
    assert case["assignee"]["unit"] == "310101001001001"
    leader = await desk.signed_in("leader")
    html = await (await leader.get("/desk/unit")).text()
    assert case["serial"] in html and 'id="group-blue"' in html
    status, _ = await post_form(leader, "/desk/unit", f"/desk/cases/{case['_id']}/accept",
                                version=str(case["version"]))
    assert status == 200
    status, html = await post_form(leader, "/desk/unit", f"/desk/cases/{case['_id']}/feedback",
                                   version=str(case["version"] + 1), text="roof repaired")
    assert status == 200
    stored = await desk.db.cases.find_one({"_id": case["_id"]})
    assert stored is not None and stored["state"] == "awaiting_verification"
    assert stored["history"][-1]["actor"]["role"] == "leader"
    # still the unit's (awaiting verification), with nothing left for the leader to do
    html = await (await leader.get("/desk/unit")).text()
    assert case["serial"] in html and f"/desk/cases/{case['_id']}/" not in html
    assert (await leader.get("/desk/queues/verification")).status == 403


async def test_a_stale_page_says_someone_else_acted_first(desk: Desk) -> None:
    case = await new_case(desk)
    center = await desk.signed_in("center")
    page = await (await center.get(f"/desk/cases/{case['_id']}")).text()
    # someone else dispatches to another unit meanwhile
    await lifecycle.dispatch(desk.db, case_ref=case["_id"], actor=CENTER, now=desk.clock.now(),
                             policy=POLICY, unit="D02")
    resp = await center.post(f"/desk/cases/{case['_id']}/dispatch", data={
        "csrf": csrf_of(page), "version": str(case["version"]), "unit": "D07"})
    assert resp.status == 409
    body = await resp.text()
    assert 'id="stale"' in body and "first" in body
    stored = await desk.db.cases.find_one({"_id": case["_id"]})
    assert stored is not None and stored["assignee"]["unit"] == "D02" and stored["version"] == 2


# ---------------------------------------------------------------- intake and queues


async def test_intake_places_the_point_suggests_duplicates_and_merges(desk: Desk) -> None:
    existing = await new_case(desk)
    center = await desk.signed_in("center")
    placed = await center.get("/desk/place.json", params={k: str(v) for k, v in INSIDE.items()})
    assert placed.status == 200
    body = await placed.json()
    assert body["placement"]["community_block"] == "310101001001001"
    outside = await center.get("/desk/place.json", params={"lon": "120.0", "lat": "30.0"})
    assert outside.status == 400 and (await outside.json())["error"]["code"] == "outside_district"
    dups = await (await center.get("/desk/duplicates.json", params={
        "lon": "121.41502", "lat": "31.21501", "category": "road_damage — Damaged road"})).json()
    assert [d["serial"] for d in dups["duplicates"]] == [existing["serial"]]

    status, html = await post_form(center, "/desk/intake", "/desk/intake", channel="mayor_mailbox",
                                   kind="complaint", category="road_damage — x",
                                   description="Another pothole", caller_name="Li Si",
                                   caller_phone="13900000000", lon="121.41502", lat="31.21501",
                                   intake_key="k1", reporter_locale="en")
    assert status == 200
    serial = re.search(r'id="saved-serial">([^<]+)<', html)
    assert serial and serial.group(1) != existing["serial"]
    assert existing["serial"] in html  # the duplicate is shown after saving too
    saved = await desk.db.cases.find_one({"serial": serial.group(1)})
    assert saved is not None and saved["placement"]["community_block"] == "310101001001001"
    assert saved["reporter"] == {"name": "Li Si", "phone": "13900000000", "locale": "en"}
    assert saved["channel"] == "mayor_mailbox"

    status, html = await post_form(center, "/desk/intake", "/desk/intake", channel="hotline_12345",
                                   kind="complaint", category="road_damage", description="Same pothole",
                                   lon="121.41503", lat="31.21502", intake_key="k2",
                                   merge_into=existing["_id"])
    assert status == 200 and 'id="saved-merged"' in html
    main = await desk.db.cases.find_one({"_id": existing["_id"]})
    assert main is not None and len(main["merged_cases"]) == 1

    # Outside the district: a hazard is refused (someone must go there), an appeal is taken
    # unplaced for the district center (cases.intake decides, not the desk).
    status, html = await post_form(center, "/desk/intake", "/desk/intake", category="road_damage",
                                   kind="hazard", description="far away", lon="120.0", lat="30.0",
                                   intake_key="k3")
    assert status == 400 and 'id="intake-error"' in html
    status, html = await post_form(center, "/desk/intake", "/desk/intake", category="road_damage",
                                   description="far away", lon="120.0", lat="30.0", intake_key="k4",
                                   reporter_locale="en")
    assert status == 200
    serial = re.search(r'id="saved-serial">([^<]+)<', html)
    far = await desk.db.cases.find_one({"serial": serial.group(1) if serial else None})
    assert far is not None and far["placement"] is None and far["reporter"] == {"locale": "en"}
    status, html = await post_form(center, "/desk/intake", "/desk/intake", category="road_damage",
                                   description="x", reporter_locale="fr", intake_key="k5")
    assert status == 400 and "reporter_locale" in html


async def test_queues_dispatch_extension_and_verification(desk: Desk) -> None:
    case = await new_case(desk)
    center, roads = await desk.signed_in("center"), await desk.signed_in("roads")
    html = await (await center.get("/desk/queues/new")).text()
    assert case["serial"] in html and 'value="D07"' in html  # proposed assignee pre-filled
    assert re.search(r'name="deadline" type="datetime-local" value="\d{4}-\d\d-\d\dT\d\d:\d\d"', html)
    status, html = await post_form(center, "/desk/queues/new", f"/desk/cases/{case['_id']}/dispatch",
                                   version="1", unit="D07", next="/desk/queues/new",
                                   deadline=re.search(r'name="deadline_proposed" value="([^"]+)"', html).group(1),  # type: ignore[union-attr]
                                   deadline_proposed=re.search(r'name="deadline_proposed" value="([^"]+)"', html).group(1))  # type: ignore[union-attr]
    assert status == 200
    stored = await desk.db.cases.find_one({"_id": case["_id"]})
    assert stored is not None and stored["state"] == "dispatched" and stored["assignee"]["unit"] == "D07"
    assert case["serial"] not in html.split('id="queue-new"')[1]

    await post_form(roads, "/desk/unit", f"/desk/cases/{case['_id']}/accept", version="2")
    status, _ = await post_form(roads, "/desk/unit", f"/desk/cases/{case['_id']}/extend",
                                version="3", reason="waiting for asphalt", working_days="2")
    assert status == 200
    html = await (await center.get("/desk/queues/extensions")).text()
    assert case["serial"] in html and "waiting for asphalt" in html
    status, _ = await post_form(center, "/desk/queues/extensions",
                                f"/desk/cases/{case['_id']}/decide", version="4", decision="refuse",
                                reason="asphalt is in stock")
    stored = await desk.db.cases.find_one({"_id": case["_id"]})
    assert stored is not None and stored["extension"]["status"] == "refused"

    # the returned queue shows the reason
    other = await dispatched(desk)
    await post_form(roads, "/desk/unit", f"/desk/cases/{other['_id']}/return",
                    version=str(other["version"]), reason="the pipe belongs to the water authority")
    html = await (await center.get("/desk/queues/returned")).text()
    assert other["serial"] in html and "water authority" in html

    await post_form(roads, "/desk/unit", f"/desk/cases/{case['_id']}/feedback", version="5",
                    text="patched")
    html = await (await center.get("/desk/queues/verification")).text()
    assert case["serial"] in html and "Zhang San" in html and "patched" in html  # callback script
    await post_form(center, "/desk/queues/verification", f"/desk/cases/{case['_id']}/verify",
                    version="6", outcome="fail", note="still a hole")
    stored = await desk.db.cases.find_one({"_id": case["_id"]})
    assert stored is not None and stored["state"] == "in_progress" and stored["supervised"]


async def test_staff_cli_adds_the_first_admin(desk: Desk, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    from gridlink import cli

    monkeypatch.setenv("MONGODB_URI", desk.settings.mongodb_uri or "")
    monkeypatch.setenv("MONGODB_DB", desk.settings.mongodb_db)
    monkeypatch.setattr("sys.stdin", io.StringIO("a long admin password\n"))
    assert await asyncio.to_thread(cli.main, ["staff", "add", "--role", "admin", "--unit", DISTRICT,
                                              "--username", "Boss", "--password-stdin"]) == 0
    assert "created boss" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("another password!!\n"))
    assert await asyncio.to_thread(cli.main, ["staff", "add", "--role", "leader", "--unit", "D07",
                                              "--username", "wrongunit", "--password-stdin"]) == 2
    c = await desk.client()
    resp = await sign_in(c, "boss", "a long admin password")
    assert resp.status == 200 and "/desk/queues/new" in str(resp.url)
    logging.getLogger().handlers[:] = [h for h in logging.getLogger().handlers
                                       if not isinstance(h.formatter, JsonFormatter)]


async def test_red_queue_lists_overdue_cases_oldest_first_and_supervises(desk: Desk) -> None:
    first = await dispatched(desk)
    desk.clock.advance(hours=1)
    second = await dispatched(desk)
    center = await desk.signed_in("center")
    assert 'id="queue-empty"' in await (await center.get("/desk/queues/red")).text()
    desk.clock.advance(timedelta(days=10))
    center = await desk.signed_in("center")  # the 12-hour session ran out meanwhile
    html = await (await center.get("/desk/queues/red")).text()
    assert html.index(first["serial"]) < html.index(second["serial"])
    assert 'data-count="2"' in html.split('id="nav-red"')[1][:200]
    status, _ = await post_form(center, "/desk/queues/red", f"/desk/cases/{first['_id']}/supervise",
                                version=str(first["version"]), note="hurry")
    assert status == 200
    event = await desk.db.events.find_one({"case_id": first["_id"], "type": "case.supervised"})
    assert event is not None


async def test_pages_follow_the_language(desk: Desk) -> None:
    c = await desk.client()
    zh = await (await c.get("/desk/signin", headers={"Accept-Language": "zh-CN,zh;q=0.9"})).text()
    assert "工作人员登录" in zh and 'lang="zh-CN"' in zh
    en = await (await c.get("/desk/signin", headers={"Accept-Language": "en-GB"})).text()
    assert "Staff sign-in" in en
    await c.get("/desk/locale?to=zh-CN&next=/desk/signin")
    again = await (await c.get("/desk/signin", headers={"Accept-Language": "en-GB"})).text()
    assert "工作人员登录" in again


async def test_photos_show_only_to_users_who_may_open_their_case(desk: Desk) -> None:
    from PIL import Image

    case = await dispatched(desk, channel="transfer_110")  # never public: its photos stay staff-only
    roads = await desk.signed_in("roads")
    await post_form(roads, "/desk/unit", f"/desk/cases/{case['_id']}/accept",
                    version=str(case["version"]))
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (30, 140, 200)).save(buf, "JPEG")
    page = await (await roads.get("/desk/unit")).text()
    resp = await roads.post(f"/desk/cases/{case['_id']}/feedback", data={
        "csrf": csrf_of(page), "version": str(case["version"] + 1), "text": "done",
        "photo": io.BytesIO(buf.getvalue())})
    assert resp.status == 200
    stored = await desk.db.cases.find_one({"_id": case["_id"]})
    assert stored is not None and len(stored["result_photos"]) == 1
    photo = stored["result_photos"][0]
    for name, status in (("roads", 200), ("center", 200), ("chengguan", 403), ("leader", 403)):
        client = roads if name == "roads" else await desk.signed_in(name)
        got = await client.get(f"/desk/media/{photo}?size=thumb")
        assert got.status == status, name
        if status == 200:
            assert got.content_type == "image/jpeg" and len(await got.read()) > 100
    anon = await desk.client()
    assert (await anon.get(f"/desk/media/{photo}", allow_redirects=False)).status == 303


async def test_intake_takes_the_callers_photos_through_cases_intake(desk: Desk) -> None:
    """The desk uploads the photos and hands their ids to cases.intake, which checks them,
    stores their hashes and carries them (no media link written by the desk)."""
    from PIL import Image

    from media import service as media_service

    buf = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 40, 90)).save(buf, "JPEG")
    center = await desk.signed_in("center")
    token = csrf_of(await (await center.get("/desk/intake")).text())
    resp = await center.post("/desk/intake", data={
        "csrf": token, "channel": "hotline_962000", "kind": "help", "category": "road_damage",
        "description": "A fallen tree blocks the lane", "caller_name": "Zhao Liu",
        "reporter_locale": "en", "lon": str(INSIDE["lon"]), "lat": str(INSIDE["lat"]),
        "intake_key": "with-photo", "photo": io.BytesIO(buf.getvalue())})
    assert resp.status == 200, await resp.text()
    serial = re.search(r'id="saved-serial">([^<]+)<', await resp.text())
    saved = await desk.db.cases.find_one({"serial": serial.group(1) if serial else None})
    assert saved is not None and len(saved["photos"]) == 1 and len(saved["phashes"]) == 1
    photo = saved["photos"][0]
    assert saved["photo_ids"] == [photo] and saved["reporter"]["locale"] == "en"
    assert saved["placement"]["community_block"] == "310101001001001"
    assert await media_service.cases_of(desk.db, photo_id=photo) == []
    html = await (await center.get(f"/desk/cases/{saved['_id']}")).text()
    assert f"/desk/media/{photo}?size=thumb" in html.split('id="intake-photos"')[1]
    assert (await center.get(f"/desk/media/{photo}")).status == 200
    # Not a photo: refused with the form again, nothing saved.
    resp = await center.post("/desk/intake", data={
        "csrf": token, "category": "road_damage", "description": "x", "intake_key": "bad-photo",
        "photo": io.BytesIO(b"%PDF-1.4 not an image")})
    assert resp.status == 400 and 'id="intake-error"' in await resp.text()
    assert await desk.db.cases.count_documents({"description": "x"}) == 0


async def test_sign_in_throttle_answers_with_the_sign_in_page(make_desk: DeskFactory) -> None:
    """Past the per-address budget the desk shows its own page with a translated message and
    Retry-After (not the API's JSON error), and each attempt counts once."""
    desk = await make_desk(desk_signin_per_ip=3, desk_signin_window_s=120.0)
    c = await desk.client()
    token = csrf_of(await (await c.get("/desk/signin")).text())
    statuses = []
    for i in range(5):
        headers = {"Accept-Language": "en"} if i == 4 else {}
        async with c.post("/desk/signin", allow_redirects=False, headers=headers,
                          data={"csrf": token, "username": "center", "password": f"bad guess {i}"}) as resp:
            statuses.append(resp.status)
            if resp.status == 429:
                assert resp.content_type == "text/html"
                assert 1 <= int(resp.headers["Retry-After"]) <= 120
                html = await resp.text()
                assert 'name="password"' in html  # the sign-in form again
                assert ("登录尝试过多" in html) if i < 4 else ("Too many sign-in attempts" in html)
    assert statuses == [401, 401, 401, 429, 429]  # three counted attempts, not six
    assert await desk.db.rate_limits.count_documents({"key": {"$regex": "^signin:"}}) == 3


async def test_session_cookie_is_secure_behind_a_trusted_https_proxy(make_desk: DeskFactory) -> None:
    """The desk decides Secure cookies through gridlink.proxy: a trusted proxy's
    X-Forwarded-Proto https makes them Secure (PUBLIC_BASE_URL is http here)."""
    desk = await make_desk(trusted_proxies="127.0.0.0/8")
    for proto, secure in (("https", True), ("http", False)):
        c = await desk.client()
        page = await c.get("/desk/signin", headers={"X-Forwarded-Proto": proto})
        token = csrf_of(await page.text())
        cookies = page.headers.getall("Set-Cookie", [])
        assert cookies and all(("Secure" in v) is secure for v in cookies), (proto, cookies)
        # (a client on http keeps a Secure cookie to itself: sent by hand, as over https)
        async with c.post("/desk/signin", allow_redirects=False, data={
                "csrf": token, "username": "center", "password": PASSWORD}, headers={
                "X-Forwarded-Proto": proto, "Cookie": f"gl_desk_pre={token}"}) as resp:
            assert resp.status == 303
            session = [v for v in resp.headers.getall("Set-Cookie", []) if v.startswith("gl_desk=")]
            assert session and ("Secure" in session[0]) is secure, (proto, session)
