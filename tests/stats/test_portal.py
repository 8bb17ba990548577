"""The public portal: lookup, rating with the bot's code, performance; nothing personal leaks."""

from __future__ import annotations

import json

from aiohttp.test_utils import TestClient

from cases import lifecycle
from cases.intake import intake
from cases.model import CasePolicy
from gridlink import appsecrets
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.settings import Settings
from stats.portal import rating_code
from tests.stats.conftest import folded

ADMIN = {"role": "admin", "unit": "310101", "name": "center"}
REPORTER = {"user_id": 424242, "chat_id": 737373, "phone": "13912345678", "name": "王小明",
            "locale": "zh-CN"}
PLACEMENT = {"district": "310101", "street": "310101003", "workstation": "310101003002",
             "community_block": "310101003002001", "street_block": None, "patrol_zone": None,
             "snapped": False, "distance_m": 0.0}


async def closed_case(db: Database, clock: FakeClock) -> dict:
    policy = CasePolicy()
    res = await intake(db, policy=policy, now=clock.now(), channel="citizen_bot", kind="complaint",
                       category="food_hygiene", description="饭店后厨脏乱，联系我 13912345678",
                       reporter=REPORTER, actor={"role": "citizen", **REPORTER},
                       location={"lon": 121.43, "lat": 31.18}, placement=PLACEMENT)
    ref = res.case["_id"]
    for step in ("dispatch", "accept", "feedback", "verify"):
        clock.advance(hours=3)
        kw: dict = {"case_ref": ref, "actor": ADMIN, "now": clock.now()}
        if step == "dispatch":
            await lifecycle.dispatch(db, policy=policy, **kw)
        elif step == "accept":
            await lifecycle.accept(db, **kw)
        elif step == "feedback":
            await lifecycle.feedback(db, policy=policy, text="已整改", **kw)
        else:
            await lifecycle.verify(db, policy=policy, ok=True, callback="回访满意", **kw)
    case = await db.cases.find_one({"_id": ref})
    assert case is not None and case["state"] == "closed"
    return case


async def test_lookup_shows_the_timeline_and_nothing_personal(client: TestClient, db: Database,
                                                              clock: FakeClock) -> None:
    case = await closed_case(db, clock)
    res = await client.get(f"/api/v1/portal/cases/{case['serial'].lower()}")
    assert res.status == 200
    body = await res.json()
    assert body["serial"] == case["serial"] and body["status"] == "closed" and body["colour"] == "green"
    assert [t["action"] for t in body["timeline"]] == ["report", "dispatch", "accept", "feedback", "close"]
    text = json.dumps(body, ensure_ascii=False)
    for secret in ("424242", "737373", "13912345678", "王小明", "121.43", "31.18", "reporter",
                   "回访满意", "description"):
        assert secret not in text, secret
    assert (await client.get("/api/v1/portal/cases/A20990101-00001")).status == 404
    assert (await client.get("/api/v1/portal/cases/x")).status == 400


async def test_rating_needs_the_code_and_counts_in_the_performance_table(
        client: TestClient, db: Database, clock: FakeClock, settings: Settings) -> None:
    case = await closed_case(db, clock)
    url = f"/api/v1/portal/cases/{case['serial']}/rating"
    wrong = await client.post(url, json={"code": "ZZZZZZ", "score": 5})
    assert wrong.status == 403
    # the codes have their own key (not the webhook secret) and 50 bits
    forged = rating_code(case["_id"], settings.webhook_secret)
    assert (await client.post(url, json={"code": forged, "score": 5})).status == 403
    code = rating_code(case["_id"], await appsecrets.rating_code_key(db, settings))
    assert len(code) == 10 and code != forged
    bad = await client.post(url, json={"code": code, "score": 9})
    assert bad.status == 400
    ok = await client.post(url, json={"code": code.lower(), "score": 4, "comment": "还行"})
    assert ok.status == 200, await ok.text()
    body = await ok.json()
    assert body["rating"] == {"score": 4, "label": "较满意"} and "还行" not in json.dumps(body, ensure_ascii=False)
    again = await client.post(url, json={"code": code, "score": 5})
    assert again.status == 409
    # The web app's background folder counts the rating within a second; pages do not fold.
    await folded(db, now=clock.now())
    perf = await (await client.get("/api/v1/portal/performance")).json()
    street = next(r for r in perf["streets"] if r["unit"] == "310101003")
    assert (street["received"], street["closed"], street["closure_rate"], street["avg_rating"]) == (1, 1, 1.0, 4.0)
    dept = next(r for r in perf["departments"] if r["unit"] == "D03")
    assert (dept["received"], dept["on_time_rate"], dept["ratings"]) == (1, 1.0, 1)


async def test_map_has_the_streets_blocks_and_open_cases(client: TestClient, db: Database,
                                                        clock: FakeClock) -> None:
    policy = CasePolicy()
    patrol = await intake(db, policy=policy, now=clock.now(), channel="patrol_bot", kind="hazard",
                          category="group_renting", description="群租",
                          location={"lon": 121.43, "lat": 31.18}, placement=PLACEMENT)
    # Counted on the map, never shown as points: a citizen's own location, a police transfer.
    citizen = await intake(db, policy=policy, now=clock.now(), channel="citizen_bot",
                           kind="complaint", category="food_hygiene", description="后厨脏乱",
                           reporter=REPORTER, actor={"role": "citizen", **REPORTER},
                           location={"lon": 121.4312345, "lat": 31.1812345}, placement=PLACEMENT)
    police = await intake(db, policy=policy, now=clock.now(), channel="transfer_110",
                          kind="complaint", category="neighbour_dispute", description="110转来",
                          reporter={"phone": "13611112222"}, actor=ADMIN,
                          location={"lon": 121.4398765, "lat": 31.1898765}, placement=PLACEMENT)
    await folded(db, now=clock.now())  # what the web app's background folder does within a second
    res = await client.get("/api/v1/stats/map?street=310101003")
    body, text = await res.json(), await res.text()
    blocks = body["blocks"]["features"]
    assert blocks and all(f["geometry"]["type"] in ("Polygon", "MultiPolygon") for f in blocks)
    assert all(f["properties"]["code"].startswith("310101003") for f in blocks)
    hit = next(f for f in blocks if f["properties"]["code"] == "310101003002001")
    assert hit["properties"]["open"] == 3
    assert [p["geometry"]["coordinates"] for p in body["cases"]["features"]] == [[121.43, 31.18]]
    assert [p["properties"] for p in body["cases"]["features"]] == [
        {"serial": patrol.case["serial"], "colour": "blue", "block": "310101003002001"}]
    for secret in ("121.4312345", "31.1812345", "121.4398765", "31.1898765", police.case["serial"],
                   patrol.case["_id"], citizen.case["_id"], police.case["_id"]):
        assert secret not in text, secret
    assert (await client.get("/api/v1/stats/map?street=D03")).status == 400


async def test_lookup_of_a_case_that_is_not_public_is_not_found(
        client: TestClient, db: Database, clock: FakeClock) -> None:
    police = await intake(db, policy=CasePolicy(), now=clock.now(), channel="transfer_110",
                          kind="complaint", category="neighbour_dispute", description="110转来",
                          reporter={"phone": "13611112222"}, actor=ADMIN, placement=PLACEMENT)
    serial = police.case["serial"]
    res = await client.get(f"/api/v1/portal/cases/{serial}")
    assert res.status == 404 and "13611112222" not in await res.text()
    rate = await client.post(f"/api/v1/portal/cases/{serial}/rating", json={"code": "AAAAAA", "score": 5})
    assert rate.status == 404
