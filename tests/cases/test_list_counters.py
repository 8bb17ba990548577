"""The lists' counts (cases.lists: one counters document per unit, moved by the keys' writes)
equal the lists' real membership after a mix of transitions, concurrent writers of the same
change, the red sweep, and a restart on a database keyed before the counts were kept; a
list of red cases (read by the red keys' creation hours) is exactly the red cases."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from aiohttp.test_utils import TestClient

from api.desk import repository as desk_repo
from cases import lists
from cases.colour import colour_of
from cases.schema import read_case
from gridlink import auth
from gridlink.clock import FakeClock
from gridlink.db import Database
from tests.cases.conftest import DISTRICT, Tokens
from tests.cases.test_list_buckets import BASE, MIX, _expected, _pages, _post

Client = TestClient[Any, Any]


async def _stored_counts(db: Database) -> Counter[str]:
    """The counters documents as `{key: n}` (zeros left out)."""
    out: Counter[str] = Counter()
    async for doc in db.counters.find({"_id": {"$regex": f"^{lists.COUNTS}"}}):
        if doc["_id"] == lists.COUNTED:
            continue
        unit = doc["_id"][len(lists.COUNTS):]
        for field, n in doc.items():
            if field != "_id" and n:
                out[f"{field.replace('_', ':')}:{unit}"] = n
    return out


async def _membership(db: Database) -> Counter[str]:
    return Counter([d["k"] async for d in db.case_keys.find({}, {"k": 1})
                    if not d["k"].startswith(lists.UNCOUNTED)])


async def _made(client: Client, tokens: Tokens, clock: FakeClock) -> list[dict[str, Any]]:
    c, roads = tokens["center"], tokens["roads"]
    made = []
    for i in range(8):
        made.append((await _post(client, "/api/v1/cases", c, {**BASE, **MIX[i % len(MIX)],
                                                              "description": f"case {i}"}))["case"])
        clock.advance(minutes=53)
    for case in made[:5]:
        await _post(client, f"/api/v1/cases/{case['id']}/dispatch", c, {"unit": "D07"})
    for case in made[:2]:
        await _post(client, f"/api/v1/cases/{case['id']}/return", roads, {"reason": "not ours"})
        await _post(client, f"/api/v1/cases/{case['id']}/dispatch", c, {"unit": "D02"})
    await _post(client, f"/api/v1/cases/{made[3]['id']}/accept", roads)
    return made


async def test_counts_equal_membership_after_transitions_concurrency_and_restart(
        client: Client, tokens: Tokens, db: Database, clock: FakeClock) -> None:
    made = await _made(client, tokens, clock)
    clock.advance(hours=30)  # limits pass: the sweep adds red keys, counted as it stores them
    now = clock.now()
    await lists.sweep_red(db, now=now)
    await _post(client, f"/api/v1/cases/{made[4]['id']}/accept", tokens["roads"])  # leaves red
    membership = await _membership(db)
    assert membership[f"r:{DISTRICT}"] > 0 and membership["a:D07"] > 0
    assert await _stored_counts(db) == +membership
    # Every key is one the cases have now (red ones included).
    cases = [read_case(d) for d in await db.cases.find({}).to_list(None)]
    assert set(membership) == {k for c in cases for k in lists.keys_of(c, now)}

    # Writers racing with the same change (a retried transition, two sweeps): each key is
    # stored and counted once, deleted and uncounted once.
    case = cases[0]
    before = {**case, "state": "reported", "assignee": None, "queue": None}
    await asyncio.gather(*(lists.sync_keys(db, case, now, before=before) for _ in range(4)))
    await asyncio.gather(*(lists.add_keys(db, cases, now) for _ in range(3)),
                         *(lists.sweep_red(db, now=now) for _ in range(3)))
    await asyncio.gather(*(lists.sync_keys(db, before, now, before=case) for _ in range(4)))
    await asyncio.gather(*(lists.sync_keys(db, case, now, before=before) for _ in range(4)))
    assert await _stored_counts(db) == +await _membership(db) == +membership

    # A restart on a database keyed before the counts were kept (and before red keys held
    # their creation hour) builds them from the keys.
    red = await _pages(client, tokens["center"], "colour=red")
    assert red
    await db.case_keys.update_many({"k": f"r:{DISTRICT}"}, {"$unset": {"b": ""}})
    await db.counters.delete_many({"_id": {"$regex": f"^{lists.COUNTS}"}})
    await db.counters.update_one({"_id": f"{lists.COUNTS}D99"}, {"$set": {"a": 7}}, upsert=True)
    await db.counters.delete_one({"_id": lists.COUNTED})
    await lists.ensure_indexes(db)
    assert await _stored_counts(db) == +membership
    assert await _pages(client, tokens["center"], "colour=red") == red
    # The desk's navigation reads them (one document) as the lists are.
    nav = await desk_repo.nav_counts(db, unit=DISTRICT, now=now, center=True, own_unit="D07")
    assert nav["red"] == membership[f"r:{DISTRICT}"] and nav["unit"] == membership["a:D07"]
    assert nav["returned"] == membership[f"q:returned:{DISTRICT}"]


async def test_red_list_walks_the_red_keys_and_sees_a_deadline_passed_this_hour(
        client: Client, tokens: Tokens, db: Database, clock: FakeClock) -> None:
    await _made(client, tokens, clock)
    c = tokens["center"]
    clock.advance(hours=30)
    now = clock.now()
    stored = [read_case(d) for d in await db.cases.find({}).to_list(None)]
    red = _expected(stored, lambda d: colour_of(d, now) == "red")
    assert red and len(red) < len(stored)
    assert await _pages(client, c, "colour=red") == red
    # A case whose deadline passes within the current hour is red at once (before the hour's
    # sweep): the list's sweep reads the cases due earlier in this hour.
    fresh = (await _post(client, "/api/v1/cases", c, {**BASE, "description": "fresh"}))["case"]
    doc = await db.cases.find_one({"_id": fresh["id"]})
    assert doc is not None
    clock.advance(seconds=(doc["due_at"] - clock.now()).total_seconds() + 1)
    now = clock.now()
    stored = [read_case(d) for d in await db.cases.find({}).to_list(None)]
    red = _expected(stored, lambda d: colour_of(d, now) == "red")
    assert fresh["id"] in red
    assert await _pages(client, c, "colour=red") == red
    counts = await desk_repo.nav_counts(db, unit=DISTRICT, now=now, center=True, own_unit=None)
    assert counts["red"] == min(lists.COUNT_CAP, len(red))
    # An area's staff read their area's red list (`r:<unit>`): the same red cases of their area.
    clock.advance(days=40)  # the handling deadlines pass too
    now = clock.now()
    stored = [read_case(d) for d in await db.cases.find({}).to_list(None)]
    tokens["d07_area"] = await auth.create_token(db, role="dispatcher", unit="D07", district=DISTRICT,
                                                 name="area", now=clock.now())
    for who, area in (("d07_area", "D07"), ("other_street", "310101009")):
        assert await _pages(client, tokens[who], "colour=red") == _expected(
            stored, lambda d, a=area: colour_of(d, now) == "red" and a in (d.get("units") or []))
    assert await _pages(client, tokens["d07_area"], "colour=red")
