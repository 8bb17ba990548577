"""Who sees what through the staff API: every read goes through `cases.visibility`.

Failing-before tests of issue 16: a block leader's or another street's token read any case
with the reporter's name, phone and chat ids (one case and the list); any staff token read
any staff-only photo; merge did not check the target case's area; the dead letters showed
chat ids to every staff role.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient
from PIL import Image

from gridlink.clock import FakeClock
from gridlink.db import Database
from notify import repository as notify_repo
from tests.api.conftest import OTHER_PLACEMENT
from tests.cases.conftest import CITIZEN, NewCase, Tokens, bearer

Client = TestClient[Any, Any]
PHONE, NAME, CHAT = "13800138000", "Zhang San", 98765431


async def _get(client: Client, path: str, token: str | None) -> tuple[int, Any]:
    resp = await client.get(path, headers=bearer(token) if token else {})
    body = await resp.json() if resp.content_type == "application/json" else await resp.read()
    return resp.status, body


async def _post(client: Client, path: str, token: str, body: dict[str, Any] | None = None,
                status: int = 200) -> dict[str, Any]:
    resp = await client.post(path, json=body or {}, headers=bearer(token))
    data: dict[str, Any] = await resp.json()
    assert resp.status == status, (resp.status, data)
    return data


async def _private_case(new_case: NewCase, **kw: Any) -> dict[str, Any]:
    """A 110 transfer (never public) with the caller's name and phone, in PLACEMENT's street."""
    return await new_case(channel="transfer_110", kind="help", category="hardship_help",
                          reporter={"phone": PHONE, "name": NAME}, **kw)


async def test_one_case_is_refused_to_staff_outside_its_area(
        client: Client, staff: Tokens, new_case: NewCase) -> None:
    case = await _private_case(new_case)
    url = f"/api/v1/cases/{case['_id']}"
    for who in ("leader", "other_leader", "other_street", "roads"):
        status, body = await _get(client, url, staff[who])
        assert status == 403, (who, status, body)
        assert body["error"]["code"] == "forbidden"
        assert PHONE not in json.dumps(body) and NAME not in json.dumps(body), who
    for who in ("street", "center", "admin"):
        status, body = await _get(client, url, staff[who])
        assert status == 200, (who, status, body)
        assert body["case"]["reporter"]["phone"] == PHONE
    assert (await _get(client, url, None))[0] == 401


async def test_a_public_case_outside_the_area_shows_only_its_public_view(
        client: Client, staff: Tokens, new_case: NewCase) -> None:
    case = await new_case(reporter={"phone": PHONE, "name": NAME})  # a hotline complaint: public
    status, body = await _get(client, f"/api/v1/cases/{case['serial']}", staff["other_leader"])
    assert status == 200
    raw = json.dumps(body, ensure_ascii=False)
    assert PHONE not in raw and NAME not in raw and "reporter" not in raw
    assert body["case"]["serial"] == case["serial"] and body["allowed_actions"] == []


async def test_chat_ids_are_for_admin_only(client: Client, staff: Tokens,
                                           new_case: NewCase) -> None:
    case = await new_case(channel="citizen_bot", kind="help", category="hardship_help",
                          actor=CITIZEN, reporter={"user_id": CHAT, "chat_id": CHAT, "name": NAME})
    url = f"/api/v1/cases/{case['_id']}"
    for who in ("street", "center"):
        status, body = await _get(client, url, staff[who])
        assert status == 200 and str(CHAT) not in json.dumps(body), who
    status, body = await _get(client, url, staff["admin"])
    assert status == 200 and body["case"]["reporter"]["chat_id"] == CHAT
    for who in ("street", "center", "admin"):
        status, body = await _get(client, "/api/v1/cases", staff[who])
        assert status == 200 and str(CHAT) not in json.dumps(body), who


async def test_the_list_holds_only_the_callers_cases(
        client: Client, staff: Tokens, new_case: NewCase) -> None:
    here = [await _private_case(new_case), await new_case()]
    there = await _private_case(new_case, placement=OTHER_PLACEMENT)

    async def listed(who: str, query: str = "") -> set[str]:
        status, body = await _get(client, f"/api/v1/cases{query}", staff[who])
        assert status == 200, body
        assert PHONE not in json.dumps(body)
        return {c["id"] for c in body["cases"]}

    ids = {c["_id"] for c in here}
    assert await listed("street") == ids
    assert await listed("other_street") == {there["_id"]}
    assert await listed("center") == ids | {there["_id"]}
    assert await listed("leader") == set()  # a block leader sees what is assigned to the block
    assert await listed("roads") == set()
    # The filters narrow the scope, never widen it.
    assert await listed("other_street", "?unit=D07") == set()
    await _post(client, f"/api/v1/cases/{here[0]['_id']}/dispatch", staff["street"],
                {"unit": PLACEMENT_BLOCK})
    assert await listed("leader") == {here[0]["_id"]}
    assert await listed("other_leader") == set()


PLACEMENT_BLOCK = "310101001001001"


async def test_transitions_answer_the_callers_view_and_next_actions(
        client: Client, staff: Tokens, new_case: NewCase) -> None:
    case = await new_case(kind="hazard", reporter={"phone": PHONE, "name": NAME})
    base = f"/api/v1/cases/{case['_id']}"
    step = await _post(client, f"{base}/dispatch", staff["street"], {"unit": "D07"})
    assert step["case"]["state"] == "dispatched" and step["case"]["reporter"]["phone"] == PHONE
    # the center's toolset (issue 22) and moderation follow the lifecycle's own actions
    assert step["allowed_actions"][:2] == ["supervise", "merge"]
    step = await _post(client, f"{base}/accept", staff["roads"])
    # The assignee of a hazard needs no callback: no reporter's contact.
    assert PHONE not in json.dumps(step) and NAME not in json.dumps(step)
    assert step["allowed_actions"] == ["return", "extend", "feedback"]
    status, body = await _get(client, base, staff["roads"])
    assert status == 200 and body["allowed_actions"] == ["return", "extend", "feedback"]
    status, body = await _get(client, base, staff["center"])
    assert body["allowed_actions"][:2] == ["supervise", "merge"]


async def test_merge_checks_the_target_cases_area(
        client: Client, staff: Tokens, new_case: NewCase) -> None:
    dup = await new_case()
    main = await new_case(placement=OTHER_PLACEMENT)
    err = await _post(client, f"/api/v1/cases/{dup['_id']}/merge", staff["street"],
                      {"into": main["serial"]}, 403)
    assert err["error"]["code"] == "forbidden"
    _, body = await _get(client, f"/api/v1/cases/{dup['_id']}", staff["street"])
    assert body["case"]["state"] == "reported"
    same_street = await new_case()
    done = await _post(client, f"/api/v1/cases/{dup['_id']}/merge", staff["street"],
                       {"into": same_street["serial"]})
    assert done["case"]["state"] == "merged" and done["main"]["serial"] == same_street["serial"]


# ---------------------------------------------------------------- photos


def _jpeg(colour: tuple[int, int, int]) -> io.BytesIO:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), colour).save(buf, "JPEG")
    buf.seek(0)
    return buf


async def _upload(client: Client, token: str, colour: tuple[int, int, int]) -> str:
    form = FormData()
    form.add_field("photo", _jpeg(colour), filename="p.jpg", content_type="image/jpeg")
    resp = await client.post("/api/v1/media", data=form, headers=bearer(token))
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


async def test_a_staff_only_photo_is_shown_to_those_who_see_its_case(
        client: Client, staff: Tokens, new_case: NewCase) -> None:
    photo = await _upload(client, staff["center"], (200, 30, 30))
    await _private_case(new_case, photos=[photo])
    url = f"/api/v1/media/{photo}"
    for who in ("other_street", "other_leader", "leader", "roads"):
        status, _ = await _get(client, url, staff[who])
        assert status == 403, who
    for who in ("street", "center", "admin"):
        status, _ = await _get(client, url, staff[who])
        assert status == 200, who
    assert (await _get(client, url, None))[0] == 401


async def test_an_unused_upload_is_its_uploaders_and_the_admins(
        client: Client, staff: Tokens) -> None:
    photo = await _upload(client, staff["roads"], (30, 200, 30))
    url = f"/api/v1/media/{photo}"
    assert (await _get(client, url, staff["roads"]))[0] == 200
    assert (await _get(client, url, staff["admin"]))[0] == 200
    assert (await _get(client, url, staff["chengguan"]))[0] == 403
    assert (await _get(client, url, staff["other_street"]))[0] == 403
    assert (await _get(client, "/api/v1/media/0123456789abcdef01234567", staff["roads"]))[0] == 404


async def test_an_upload_names_no_case(client: Client, staff: Tokens, db: Database,
                                       new_case: NewCase) -> None:
    """`case_id` on an upload used to record a link media read as access: it is refused now."""
    case = await _private_case(new_case)
    form = FormData()
    form.add_field("photo", _jpeg((30, 30, 200)), filename="p.jpg", content_type="image/jpeg")
    form.add_field("case_id", case["_id"])
    resp = await client.post("/api/v1/media", data=form, headers=bearer(staff["other_street"]))
    assert resp.status == 400
    assert "case_id" in (await resp.json())["error"]["message"]
    assert await db.photos.count_documents({}) == 0
    assert await db.photo_cases.count_documents({}) == 0


async def test_feedback_cannot_publish_another_cases_photo(
        client: Client, staff: Tokens, new_case: NewCase, db: Database) -> None:
    photo = await _upload(client, staff["center"], (90, 90, 10))
    await _private_case(new_case, photos=[photo])  # the citizen's photo: staff only
    case = await new_case(kind="hazard")
    base = f"/api/v1/cases/{case['_id']}"
    await _post(client, f"{base}/dispatch", staff["center"], {"unit": "D07"})
    await _post(client, f"{base}/accept", staff["roads"])
    err = await _post(client, f"{base}/feedback", staff["roads"],
                      {"text": "fixed", "photos": [photo]}, 400)
    assert "another case" in err["error"]["message"]
    assert (await _get(client, f"/api/v1/media/{photo}", None))[0] == 401
    public = await client.get(f"/api/v1/public/cases/{case['serial']}")
    assert photo not in await public.text()
    own = await _upload(client, staff["roads"], (10, 90, 90))
    done = await _post(client, f"{base}/feedback", staff["roads"], {"text": "fixed", "photos": [own]})
    assert done["case"]["state"] == "awaiting_verification"
    # A result photo is public with its public case.
    assert (await _get(client, f"/api/v1/media/{own}", None))[0] == 200


# ---------------------------------------------------------------- dead letters


async def _dead(db: Database, clock: FakeClock, source: str, chat_id: int) -> str:
    msg = notify_repo.new_message(
        msg_id=f"{source}:{chat_id}", chat_id=chat_id, text="case A20261127-00001 is yours",
        kind="assignment", now=clock.now(), locale="zh-CN", case_id="c1",
        recipient={"chat_id": chat_id, "user_id": chat_id, "unit": "D07", "role": "department",
                   "name": "Roads Wang"})
    msg.update(state="dead", dead_at=clock.now() + timedelta(minutes=5), attempts=8,
               error="Forbidden: bot was blocked by the user")
    await notify_repo.enqueue(db, messages=[msg])
    await notify_repo.outbox_of(db, chat_id).update_one(
        {"_id": msg["_id"]}, {"$set": {"state": "dead", "dead_at": msg["dead_at"]}})
    return str(msg["_id"])


async def test_dead_letters_show_chat_ids_to_the_admin_only(
        client: Client, staff: Tokens, db: Database, clock: FakeClock) -> None:
    chats = (5550001, 5550002, 5550003)
    ids = sorted([await _dead(db, clock, "ev:c1:1", chat) for chat in chats])
    status, body = await _get(client, "/api/v1/ops/outbox/dead", staff["admin"])
    assert status == 200
    assert [i["id"] for i in body["items"]] == ids
    assert {i["chat_id"] for i in body["items"]} == set(chats)
    # The on-call dispatcher: which message to whom (unit, role, name) failed and why, and
    # pages like the admin's, but no chat ids, not even inside the ids or the cursor.
    seen: list[dict[str, Any]] = []
    url = "/api/v1/ops/outbox/dead?limit=2"
    while url:
        status, body = await _get(client, url, staff["street"])
        assert status == 200, body
        raw = json.dumps(body)
        assert not any(str(c) in raw for c in chats), raw
        seen += body["items"]
        url = f"/api/v1/ops/outbox/dead?limit=2&after={body['next']}" if body["next"] else ""
    assert len(seen) == 3 and len({i["id"] for i in seen}) == 3
    assert all(i["recipient"] == {"unit": "D07", "role": "department", "name": "Roads Wang"}
               and i["case_id"] == "c1" and "blocked" in i["error"] for i in seen)
    for who in ("roads", "leader"):
        assert (await _get(client, "/api/v1/ops/outbox/dead", staff[who]))[0] == 403, who
