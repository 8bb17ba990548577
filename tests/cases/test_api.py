"""The case HTTP API on the real app: intake, concurrency, refusals, public view, admin."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp.test_utils import TestClient

from gridlink.clock import FakeClock
from gridlink.db import Database
from tests.cases.conftest import Tokens, bearer, local, stored_photo

Client = TestClient[Any, Any]
HOTLINE = {"channel": "hotline_12345", "kind": "complaint", "category": "road_damage",
           "description": "Pothole outside No. 12 Fuxing Road, a cyclist fell",
           "location": {"lon": 121.4737, "lat": 31.2304},
           "reporter": {"phone": "13800138000", "name": "Zhang San"}}


async def _post(client: Client, path: str, token: str, body: dict[str, Any] | None = None,
                status: int = 200, **headers: str) -> dict[str, Any]:
    resp = await client.post(path, json=body or {}, headers={**bearer(token), **headers})
    data = await resp.json()
    assert resp.status == status, (resp.status, data)
    return data  # type: ignore[no-any-return]


async def _intake(client: Client, tokens: Tokens, **changes: Any) -> dict[str, Any]:
    return (await _post(client, "/api/v1/cases", tokens["center"], {**HOTLINE, **changes}, 201))["case"]


async def test_intake_returns_case_with_serial(client: Client, tokens: Tokens) -> None:
    data = await _post(client, "/api/v1/cases", tokens["center"], HOTLINE, 201)
    assert data["created"] is True and data["duplicates"] == []
    case = data["case"]
    assert case["serial"] == "A20261127-00001" and case["state"] == "reported"
    assert case["colour"] == "blue" and case["reporter"]["phone"] == "13800138000"


async def test_auth_and_validation_errors(client: Client, tokens: Tokens) -> None:
    resp = await client.post("/api/v1/cases", json=HOTLINE)
    assert resp.status == 401
    err = await _post(client, "/api/v1/cases", tokens["roads"], HOTLINE, 403)
    assert err["error"]["code"] == "forbidden"
    err = await _post(client, "/api/v1/cases", tokens["center"], {**HOTLINE, "kind": "rant"}, 400)
    assert err["error"]["code"] == "invalid_input" and "kind" in err["error"]["message"]
    err = await _post(client, "/api/v1/cases", tokens["center"], {**HOTLINE, "category": "nope"}, 404)
    assert err["error"]["code"] == "category_not_found"
    resp = await client.post("/api/v1/cases", data=b"{not json", headers=bearer(tokens["center"]))
    assert resp.status == 400
    resp = await client.get("/api/v1/cases?colour=purple", headers=bearer(tokens["center"]))
    assert resp.status == 400


async def test_two_concurrent_dispatches_one_wins(client: Client, tokens: Tokens) -> None:
    case = await _intake(client, tokens)
    path = f"/api/v1/cases/{case['id']}/dispatch"
    responses = await asyncio.gather(
        client.post(path, json={"unit": "D07"}, headers=bearer(tokens["center"])),
        client.post(path, json={"unit": "D02"}, headers=bearer(tokens["admin"])),
    )
    statuses = sorted(r.status for r in responses)
    assert statuses == [200, 409]
    winner = next(r for r in responses if r.status == 200)
    loser = next(r for r in responses if r.status == 409)
    won = (await winner.json())["case"]
    lost = await loser.json()
    assert lost["error"]["details"]["state"] == "dispatched"
    assert lost["error"]["code"] in ("stale_case", "wrong_state")
    current = await (await client.get(f"/api/v1/cases/{case['id']}",
                                      headers=bearer(tokens["center"]))).json()
    assert current["case"]["assignee"]["unit"] == won["assignee"]["unit"]
    assert [h["action"] for h in current["case"]["history"]] == ["report", "dispatch"]


async def test_hundred_concurrent_intakes_get_consecutive_serials(
        client: Client, tokens: Tokens) -> None:
    async def one(i: int) -> str:
        body = {**HOTLINE, "description": f"report {i}", "location": None}
        resp = await client.post("/api/v1/cases", json=body, headers=bearer(tokens["center"]))
        assert resp.status == 201, await resp.text()
        return str((await resp.json())["case"]["serial"])

    serials = await asyncio.gather(*(one(i) for i in range(100)))
    assert len(set(serials)) == 100
    assert sorted(serials) == [f"A20261127-{n:05d}" for n in range(1, 101)]


async def test_serial_uses_the_local_date(client: Client, tokens: Tokens, clock: FakeClock) -> None:
    clock.set(local(2026, 11, 28, 0, 30))  # 16:30 UTC on the 27th, already the 28th in Shanghai
    case = await _intake(client, tokens)
    assert case["serial"] == "A20261128-00001"


async def test_idempotent_intake(client: Client, tokens: Tokens, db: Database) -> None:
    headers = {"Idempotency-Key": "call-7781"}
    first = await _post(client, "/api/v1/cases", tokens["center"], HOTLINE, 201, **headers)
    again = await _post(client, "/api/v1/cases", tokens["center"], HOTLINE, 200, **headers)
    assert again["created"] is False and again["case"]["id"] == first["case"]["id"]
    # The same key sent five times at once still opens one case.
    burst = await asyncio.gather(*(client.post("/api/v1/cases", json=HOTLINE, headers={
        **bearer(tokens["center"]), "Idempotency-Key": "call-9000"}) for _ in range(5)))
    ids = {(await r.json())["case"]["id"] for r in burst}
    assert len(ids) == 1
    assert sorted(r.status for r in burst).count(201) == 1
    assert await db.cases.count_documents({}) == 2
    # Keys are per client: another token's "call-7781" is a different request.
    other = await _post(client, "/api/v1/cases", tokens["admin"], HOTLINE, 201, **headers)
    assert other["case"]["id"] != first["case"]["id"]


async def test_telegram_update_is_not_processed_twice(db: Database, clock: FakeClock) -> None:
    from cases.intake import intake
    from tests.cases.conftest import CITIZEN, POLICY

    args: dict[str, Any] = dict(policy=POLICY, now=clock.now(), channel="citizen_bot",
                                kind="help", category="hardship_help",
                                description="elderly neighbour needs help", actor=CITIZEN,
                                update_id=991)
    first = await intake(db, **args)
    second = await intake(db, **args)
    assert first.created and not second.created
    assert second.case["_id"] == first.case["_id"]
    assert await db.cases.count_documents({}) == 1
    assert await db.events.count_documents({}) == 1


async def test_public_view_leaks_nothing_personal(client: Client, tokens: Tokens,
                                                  db: Database) -> None:
    err = await _post(client, "/api/v1/cases", tokens["center"], {**HOTLINE, "photos": ["nope"]}, 400)
    assert "no uploaded photo" in err["error"]["message"]
    for photo in ("citizen-photo-1", "result-photo-1"):
        await stored_photo(db, photo)
    case = await _intake(client, tokens, photos=["citizen-photo-1"])
    await _post(client, f"/api/v1/cases/{case['id']}/dispatch", tokens["center"])
    await _post(client, f"/api/v1/cases/{case['id']}/accept", tokens["roads"])
    await _post(client, f"/api/v1/cases/{case['id']}/feedback", tokens["roads"],
                {"text": "patched", "photos": ["result-photo-1"]})
    resp = await client.get(f"/api/v1/public/cases/{case['serial'].lower()}")
    assert resp.status == 200
    view = await resp.json()
    raw = json.dumps(view, ensure_ascii=False)
    for secret in ("13800138000", "Zhang San", "Fuxing", "citizen-photo-1",
                   "reporter", "phone", "Center Li", "center", "roads"):
        assert secret not in raw, secret
    # A street-surface matter's place is published (DESIGN.md §4), never who reported it.
    assert view["location"] == {"lon": 121.4737, "lat": 31.2304}
    assert view["status"] == "awaiting_verification" and view["colour"] == "blue"
    assert view["photos"] == ["result-photo-1"]
    assert view["handling_unit"] == {"name": "D07", "kind": "department"}
    assert [t["action"] for t in view["timeline"]] == ["report", "dispatch", "accept", "feedback"]
    missing = await client.get("/api/v1/public/cases/A20991231-00001")
    assert missing.status == 404


async def test_transition_refusals_over_http(client: Client, tokens: Tokens) -> None:
    case = await _intake(client, tokens)
    base = f"/api/v1/cases/{case['id']}"
    err = await _post(client, f"{base}/accept", tokens["roads"], status=403)  # not assigned yet
    assert err["error"]["code"] == "forbidden"
    err = await _post(client, f"{base}/verify", tokens["center"], {"ok": True}, 409)
    assert err["error"]["details"]["state"] == "reported"
    err = await _post(client, f"{base}/dispatch", tokens["roads"], status=403)
    err = await _post(client, f"{base}/dispatch", tokens["other_street"], status=403)
    assert "outside" in err["error"]["message"]
    await _post(client, f"{base}/dispatch", tokens["center"])
    err = await _post(client, f"{base}/return", tokens["roads"], {"reason": ""}, 400)
    assert "reason" in err["error"]["message"]
    err = await _post(client, f"{base}/rate", tokens["center"], {"score": 5}, 409)
    err = await _post(client, f"{base}/dispatch", tokens["center"], {"deadline": "tomorrow"}, 400)
    err = await _post(client, f"{base}/accept", tokens["roads"], {"version": 1}, 409)
    assert err["error"]["code"] == "stale_case" and err["error"]["details"]["version"] == 2
    missing = await client.post("/api/v1/cases/nope/accept", json={}, headers=bearer(tokens["roads"]))
    assert missing.status == 404


async def test_hotline_complaint_full_scenario(client: Client, tokens: Tokens, db: Database,
                                               clock: FakeClock) -> None:
    """dispatch → return → re-dispatch → extension → feedback → failed verification → reopen →
    feedback → close → rating, with the full history and its events."""
    c, roads, cg = tokens["center"], tokens["roads"], tokens["chengguan"]
    for photo in ("fb-1", "fb-2"):
        await stored_photo(db, photo)
    case = await _intake(client, tokens)
    base = f"/api/v1/cases/{case['serial']}"
    step = await _post(client, f"{base}/dispatch", c)
    assert step["case"]["assignee"]["unit"] == "D07"
    # Friday 09:00 + 5 working days → end of Friday 4 Dec 2026 (Shanghai).
    assert step["case"]["deadline"] == "2026-12-04T15:59:59+00:00"
    clock.advance(hours=2)
    await _post(client, f"{base}/return", roads, {"reason": "a private courtyard: city management's"})
    clock.advance(minutes=10)
    step = await _post(client, f"{base}/dispatch", c, {"unit": "D02", "note": "courtyard"})
    assert step["case"]["assignee"]["unit"] == "D02"
    clock.advance(hours=1)
    await _post(client, f"{base}/accept", cg)
    step = await _post(client, f"{base}/extension", cg, {"reason": "owner abroad", "working_days": 3})
    assert step["case"]["extension"]["until"] == "2026-12-09T15:59:59+00:00"
    step = await _post(client, f"{base}/extension/decision", c, {"approve": True})
    assert step["case"]["deadline"] == "2026-12-09T15:59:59+00:00"
    clock.advance(days=3)
    await _post(client, f"{base}/feedback", cg, {"text": "courtyard repaved", "photos": ["fb-1"]})
    step = await _post(client, f"{base}/verify", c,
                       {"ok": False, "note": "caller: only half of it was repaved"})
    assert step["case"]["state"] == "in_progress" and step["case"]["supervised"] is True
    clock.advance(days=1)
    await _post(client, f"{base}/feedback", cg, {"text": "rest repaved", "photos": ["fb-2"]})
    step = await _post(client, f"{base}/verify", c, {"ok": True, "callback": "caller satisfied"})
    assert step["case"]["state"] == "closed" and step["case"]["colour"] == "green"
    step = await _post(client, f"{base}/rate", c, {"score": 4, "comment": "took a while"})
    assert step["case"]["rating"]["score"] == 4
    err = await _post(client, f"{base}/rate", c, {"score": 5}, 409)
    assert "already" in err["error"]["message"]

    full = (await (await client.get(f"/api/v1/cases/{case['id']}", headers=bearer(c))).json())["case"]
    hist = full["history"]
    assert [(h["action"], h["from"], h["to"]) for h in hist] == [
        ("report", None, "reported"),
        ("dispatch", "reported", "dispatched"),
        ("return", "dispatched", "returned"),
        ("redispatch", "returned", "dispatched"),
        ("accept", "dispatched", "in_progress"),
        ("request_extension", "in_progress", "in_progress"),
        ("decide_extension", "in_progress", "in_progress"),
        ("feedback", "in_progress", "awaiting_verification"),
        ("reopen", "awaiting_verification", "in_progress"),
        ("feedback", "in_progress", "awaiting_verification"),
        ("close", "awaiting_verification", "closed"),
        ("rate", "closed", "closed"),
    ]
    assert [h["seq"] for h in hist] == list(range(1, 13))
    assert [h["actor"]["unit"] for h in hist] == ["310101", "310101", "D07", "310101", "D02", "D02",
                                                  "310101", "D02", "310101", "D02", "310101", "310101"]
    assert hist[2]["reason"].startswith("a private courtyard")
    assert hist[8]["reason"] == "caller: only half of it was repaved"
    assert full["result_photos"] == ["fb-1", "fb-2"] and full["reworks"] == 1
    assert full["version"] == 12
    events = [e async for e in db.events.find({"case_id": case["id"]})]
    events.sort(key=lambda e: int(e["_id"].split(":")[1]))
    assert [e["type"] for e in events] == [
        "case.reported", "case.assigned", "case.returned", "case.assigned", "case.accepted",
        "case.extension_requested", "case.extension_decided", "case.feedback", "case.reopened",
        "case.feedback", "case.closed", "case.rated"]
    assert events[3]["data"]["assignee"]["unit"] == "D02"


async def test_list_filters_and_cursor_pagination(client: Client, tokens: Tokens,
                                                  clock: FakeClock) -> None:
    made = [await _intake(client, tokens, description=f"street lamp {i}", category="street_light")
            for i in range(5)]
    other = await _intake(client, tokens, channel="mayor_mailbox", kind="suggestion",
                          description="more benches in the park", category="other")
    await _post(client, f"/api/v1/cases/{made[0]['id']}/dispatch", tokens["center"])
    c = bearer(tokens["center"])

    async def ids(query: str) -> list[str]:
        body = await (await client.get(f"/api/v1/cases?{query}", headers=c)).json()
        return [x["id"] for x in body["cases"]]

    assert await ids("channel=mayor_mailbox") == [other["id"]]
    assert await ids("status=dispatched") == [made[0]["id"]]
    assert await ids("unit=D22") == [made[0]["id"]]
    assert await ids("q=benches") == [other["id"]]
    assert len(await ids("category=street_light")) == 5
    # A department sees only its own tickets.
    roads = await (await client.get("/api/v1/cases", headers=bearer(tokens["roads"]))).json()
    assert roads["cases"] == []
    seen: list[str] = []
    url = "/api/v1/cases?limit=4"
    while url:
        body = await (await client.get(url, headers=c)).json()
        assert "reporter" not in json.dumps(body)
        seen += [x["id"] for x in body["cases"]]
        url = f"/api/v1/cases?limit=4&cursor={body['next_cursor']}" if body["next_cursor"] else ""
    assert sorted(seen) == sorted([m["id"] for m in made] + [other["id"]])
    assert len(seen) == 6
    assert await ids("from=2026-11-28T00:00:00%2B08:00") == []
    clock.advance(hours=1)  # past the 30-minute dispatch limit: undispatched cases turn red
    red = await ids("colour=red")
    assert set(red) == {m["id"] for m in made[1:]} | {other["id"]}
    assert await ids("colour=blue") == [made[0]["id"]]


async def test_categories_admin(client: Client, tokens: Tokens) -> None:
    body = await (await client.get("/api/v1/categories", headers=bearer(tokens["center"]))).json()
    cats = {c["code"]: c for c in body["categories"]}
    assert len(cats) >= 25
    assert all(c["name_zh"] and c["name_en"] for c in cats.values())
    assert cats["manhole_cover"]["limit"] == {"hours": 6}
    case = await _intake(client, tokens)
    dispatched = await _post(client, f"/api/v1/cases/{case['id']}/dispatch", tokens["center"])
    change = {**{k: v for k, v in cats["road_damage"].items() if k not in ("code",)},
              "limit": {"working_days": 1}}
    resp = await client.put("/api/v1/categories/road_damage", json=change,
                            headers=bearer(tokens["center"]))
    assert resp.status == 403
    resp = await client.put("/api/v1/categories/road_damage", json={**change, "limit": {"hours": 1, "working_days": 2}},
                            headers=bearer(tokens["admin"]))
    assert resp.status == 400
    resp = await client.put("/api/v1/categories/road_damage", json=change, headers=bearer(tokens["admin"]))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["category"]["limit"] == {"working_days": 1}
    # The dispatched case keeps its deadline; a new one gets the new limit.
    again = await client.get(f"/api/v1/cases/{case['id']}", headers=bearer(tokens["center"]))
    assert (await again.json())["case"]["deadline"] == dispatched["case"]["deadline"]
    fresh = await _intake(client, tokens)
    step = await _post(client, f"/api/v1/cases/{fresh['id']}/dispatch", tokens["center"])
    assert step["case"]["deadline"] == "2026-11-30T15:59:59+00:00"  # end of Monday


async def test_calendar_admin_and_uncovered_year(client: Client, tokens: Tokens,
                                                 clock: FakeClock) -> None:
    """2027 is not entered: a deadline reaching into it is provisional (statutory holidays,
    no adjusted workdays), not refused; entering the year recomputes it (issue 18)."""
    clock.set(local(2026, 12, 24, 10))
    case = await _intake(client, tokens, category="social_security")  # 13 working days
    step = await _post(client, f"/api/v1/cases/{case['id']}/dispatch", tokens["center"])
    # 25,28,29,30,31 Dec; (1 Jan); 4,5,6,7,8; 11,12,13 Jan → Wed 13 Jan, provisional
    assert step["case"]["deadline"] == "2027-01-13T15:59:59+00:00"
    assert step["case"]["deadline_provisional"] is True
    year = {"holidays": [{"date": "2027-01-01", "name": "元旦"}],
            "workdays": [{"date": "2027-01-09", "name": "调休"}]}
    resp = await client.put("/api/v1/calendar/2027", json=year, headers=bearer(tokens["center"]))
    assert resp.status == 403
    bad = {"holidays": [{"date": "2026-01-01"}]}
    resp = await client.put("/api/v1/calendar/2027", json=bad, headers=bearer(tokens["admin"]))
    assert resp.status == 400 and "2026-01-01" in await resp.text()
    both = {"holidays": [{"date": "2027-01-09"}], "workdays": [{"date": "2027-01-09"}]}
    resp = await client.put("/api/v1/calendar/2027", json=both, headers=bearer(tokens["admin"]))
    assert resp.status == 400 and "2027-01-09 is both" in await resp.text()
    resp = await client.put("/api/v1/calendar/2027", json=year, headers=bearer(tokens["admin"]))
    assert resp.status == 200, await resp.text()
    assert (await resp.json())["recomputed"] == [step["case"]["serial"]]
    again = await client.get(f"/api/v1/cases/{case['id']}", headers=bearer(tokens["center"]))
    # ... 8 Jan, Sat 9 Jan (adjusted), 11, 12 Jan → Tue 12 Jan, no longer provisional
    assert (await again.json())["case"]["deadline"] == "2027-01-12T15:59:59+00:00"
    assert (await again.json())["case"]["deadline_provisional"] is False
    got = await (await client.get("/api/v1/calendar/2027", headers=bearer(tokens["center"]))).json()
    assert got["workdays"] == [{"date": "2027-01-09", "name": "调休"}]
    other = await _intake(client, tokens, category="social_security")
    step = await _post(client, f"/api/v1/cases/{other['id']}/dispatch", tokens["center"])
    # 25,28,29,30,31 Dec; 4,5,6,7,8 Jan; Sat 9 Jan (adjusted); 11, 12 Jan → 13th = Tue 12 Jan.
    assert step["case"]["deadline"] == "2027-01-12T15:59:59+00:00"
    years = await (await client.get("/api/v1/calendar", headers=bearer(tokens["admin"]))).json()
    assert {"year": 2027} .items() <= next(y for y in years["years"] if y["year"] == 2027).items()
