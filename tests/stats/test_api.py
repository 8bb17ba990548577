"""Boards, hotspots, headline figures and the PNG chart over HTTP, on synthetic history."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime, timedelta

from aiohttp.test_utils import TestClient
from PIL import Image

from gridlink.clock import FakeClock
from gridlink.db import Database
from stats.facts import colour_at
from stats.history import generate
from stats.rollups import rebuild, recompute
from tests.stats.conftest import folded

NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


async def load(db: Database, n: int = 700) -> list[dict]:
    docs = list(generate(n, now=NOW, years=0.07, seed=3))
    await db.cases.insert_many(docs)
    await rebuild(db, now=NOW)
    return docs


async def hotline_complaint(db: Database, *, street: str, now: datetime) -> None:
    """One new case through cases' intake (which logs its statistics change), in `street`."""
    from cases.intake import intake
    from cases.model import CasePolicy

    await intake(db, policy=CasePolicy(), now=now, channel="hotline_12345", kind="complaint",
                 category="food_hygiene", description="饭店油烟扰民",
                 actor={"role": "dispatcher", "unit": "310101", "name": "受理员"},
                 placement={"district": "310101", "street": street, "workstation": street + "001",
                            "community_block": street + "001001", "street_block": None,
                            "patrol_zone": None, "snapped": False, "distance_m": 0.0})


async def test_board_counts_match_the_cases(client: TestClient, db: Database, clock: FakeClock) -> None:
    clock.set(NOW)
    docs = await load(db)
    res = await client.get("/api/v1/stats/board")
    assert res.status == 200
    body = await res.json()
    streets = {r["unit"]: r for r in body["sections"]["streets"]}
    assert len(streets) == 13 and len(body["sections"]["departments"]) >= 20
    open_docs = [d for d in docs if d["state"] not in ("closed", "merged")]
    assert open_docs, "the generator leaves recent cases open"
    for street, row in streets.items():
        mine = [d for d in open_docs if d["placement"]["street"] == street]
        colours = [colour_at([None, d["warn_at"].timestamp() if d["warn_at"] else None,
                              d["due_at"].timestamp() if d["due_at"] else None], NOW.timestamp())
                   for d in mine]
        assert (row["blue"], row["yellow"], row["red"]) == tuple(colours.count(c) for c in ("blue", "yellow", "red"))
        closed = [d for d in docs if d["placement"]["street"] == street and d["state"] == "closed"
                  and d["created_at"] >= datetime(2026, 10, 31, 16, tzinfo=UTC)]
        assert row["green"] == len(closed)
    # Drill down: street → workstation → block → case list.
    street = max(streets.values(), key=lambda r: r["open"])["unit"]
    ws_body = await (await client.get(f"/api/v1/stats/board?unit={street}")).json()
    ws = max(ws_body["sections"]["workstations"], key=lambda r: r["open"])
    assert ws["open"] > 0
    blk_body = await (await client.get(f"/api/v1/stats/board?unit={ws['unit']}")).json()
    blk = max(blk_body["sections"]["blocks"], key=lambda r: r["open"])
    cases_body = await (await client.get(f"/api/v1/stats/board?unit={blk['unit']}")).json()
    # counts include every case; the list names only public ones (not 110 transfers, police matters)
    in_block = [d for d in open_docs if blk["unit"] in (d["placement"].get("community_block"),
                                                         d["placement"].get("street_block"))]
    assert len(in_block) == blk["open"]
    assert len(cases_body["cases"]) == sum(1 for d in in_block if d["public"])
    assert {c["serial"] for c in cases_body["cases"]} <= {d["serial"] for d in open_docs if d["public"]}
    bad = await client.get("/api/v1/stats/board?unit=nope")
    assert bad.status == 404 and (await bad.json())["error"]["code"]


async def test_hotspots_json_png_and_headline(client: TestClient, db: Database, clock: FakeClock) -> None:
    clock.set(NOW)
    docs = await load(db)
    res = await client.get("/api/v1/stats/hotspots?by=category&from=2026-10-01&to=2026-11-27")
    rows = (await res.json())["rows"]
    start = datetime(2026, 9, 30, 16, tzinfo=UTC)
    expected: dict[str, int] = {}
    for d in docs:
        if d["created_at"] >= start:
            expected[d["category"]] = expected.get(d["category"], 0) + 1
    assert {r["key"]: r["value"] for r in rows} == dict(sorted(expected.items(), key=lambda kv: -kv[1])[:30])
    assert all(r["name"] for r in rows)
    filt = await (await client.get("/api/v1/stats/hotspots?by=street&channel=hotline_12345&from=2026-11-03&to=2026-11-20")).json()
    lo, hi = datetime(2026, 11, 2, 16, tzinfo=UTC), datetime(2026, 11, 20, 16, tzinfo=UTC)
    want: dict[str, int] = {}
    for d in docs:
        if d["channel"] == "hotline_12345" and lo <= d["created_at"] < hi:
            want[d["placement"]["street"]] = want.get(d["placement"]["street"], 0) + 1
    assert {r["key"]: r["value"] for r in filt["rows"]} == want
    png = await client.get("/api/v1/stats/hotspots.png?by=street&width=640&height=400")
    assert png.status == 200 and png.content_type == "image/png"
    img = Image.open(io.BytesIO(await png.read()))
    img.load()
    assert img.size == (640, 400)
    head = await (await client.get("/api/v1/stats/headline?from=2026-01-01&to=2026-11-27")).json()
    spot = sum(1 for d in docs if d.get("handled_on_the_spot"))
    assert head["on_the_spot"] == spot
    assert head["hazards_found"] == sum(1 for d in docs if d["kind"] == "hazard") - spot
    for q in ("by=block", "by=nope", "by=street&category=a&channel=b", "from=2026-13-01",
              "by=street&limit=0"):
        r = await client.get("/api/v1/stats/hotspots?" + q)
        assert r.status == 400, q


def test_recompute_is_pure() -> None:
    docs = list(generate(200, now=NOW, years=0.1, seed=1))
    assert recompute(docs)[0] == recompute(list(reversed(docs)))[0]


async def test_board_shows_a_new_case_once_folded_and_says_as_of_when(
        client: TestClient, db: Database, clock: FakeClock) -> None:
    """Pages read the last folded version (documents of that version may come from memory) and
    state it: a transition waiting for the folder is reported as pending, not folded by the
    read; once folded (new version) it shows at the next read."""
    from stats import repository as repo

    clock.set(NOW)
    await load(db, n=200)  # statistics rebuilt as of NOW
    later = NOW + timedelta(minutes=10)
    clock.set(later)
    street = "310101004"
    before = await (await client.get("/api/v1/stats/board")).json()
    assert (before["as_of"], before["pending"]) == (later.isoformat(), 0)  # nothing waits
    row = next(r for r in before["sections"]["streets"] if r["unit"] == street)
    again = await (await client.get("/api/v1/stats/board")).json()  # served from memory
    assert again["sections"] == before["sections"]
    # The folder is busy (its lease held): the change waits, the read neither folds nor blocks.
    # The app's own background folder may hold the lease for a round right now: wait it out.
    assert await repo.wait_for_lease(db, owner="busy", now=later.timestamp(), ttl=3600, within_s=5), \
        "the background folder kept the lease for 5 s"
    await hotline_complaint(db, street=street, now=later)
    waiting = await (await client.get("/api/v1/stats/board")).json()
    assert (waiting["as_of"], waiting["pending"], waiting["at"]) == (NOW.isoformat(), 1, later.isoformat())
    assert waiting["sections"] == before["sections"]
    hot = await (await client.get("/api/v1/stats/hotspots?by=street")).json()
    assert (hot["as_of"], hot["pending"]) == (NOW.isoformat(), 1)
    await repo.release_lease(db, owner="busy")
    await folded(db, now=later)  # what the background folder does within a second
    after = await (await client.get("/api/v1/stats/board")).json()
    assert (after["as_of"], after["pending"]) == (later.isoformat(), 0)
    new_row = next(r for r in after["sections"]["streets"] if r["unit"] == street)
    assert new_row["open"] == row["open"] + 1 and new_row["blue"] == row["blue"] + 1
    ws = await (await client.get(f"/api/v1/stats/board?unit={street}001")).json()
    blk = next(r for r in ws["sections"]["blocks"] if r["unit"] == street + "001001")
    cases = await (await client.get(f"/api/v1/stats/board?unit={street}001001&limit=1")).json()
    assert blk["open"] == cases["page"]["total"] >= 1 and len(cases["cases"]) == 1


async def test_the_web_apps_folder_moves_a_new_case_in_by_itself(
        client: TestClient, db: Database, clock: FakeClock) -> None:
    """Nobody folds by hand: the web app's background folder (every 1–10 s) counts the new
    case, and the board then shows it with nothing pending."""

    clock.set(NOW)
    await load(db, n=100)
    street = "310101004"
    before = await (await client.get("/api/v1/stats/board")).json()
    row = next(r for r in before["sections"]["streets"] if r["unit"] == street)
    await hotline_complaint(db, street=street, now=NOW)
    body: dict = {}
    for _ in range(100):  # bounded: rounds of a few milliseconds come every second
        body = await (await client.get("/api/v1/stats/board")).json()
        if body["pending"] == 0 and body["sections"] != before["sections"]:
            break
        await asyncio.sleep(0.1)
    assert body["pending"] == 0
    new_row = next(r for r in body["sections"]["streets"] if r["unit"] == street)
    assert new_row["open"] == row["open"] + 1


async def test_an_upgraded_deployment_gets_its_boards_without_a_manual_rebuild(
        client: TestClient, db: Database, clock: FakeClock) -> None:
    """Statistics left in the previous layout (per-month collections) are rebuilt once, by one
    process, and the board then counts the cases as a rebuild would."""
    from stats.rollups import upgrade

    clock.set(NOW)
    docs = list(generate(300, now=NOW, years=0.07, seed=5))
    await db.cases.insert_many(docs)
    await db["stats_M202611"].insert_one({"_id": "old layout", "n": 1})
    summary = await upgrade(db, now=NOW)
    assert summary is not None and summary["cases"] == 300
    assert not [n for n in await db.list_collection_names() if n.startswith("stats_M")]
    assert await upgrade(db, now=NOW) is None  # once
    body = await (await client.get("/api/v1/stats/board")).json()
    assert sum(r["open"] for r in body["sections"]["streets"]) == len(
        [d for d in docs if d["state"] not in ("closed", "merged")])


async def test_boards_name_only_public_cases_and_no_case_ids(
        client: TestClient, db: Database, clock: FakeClock) -> None:
    """The board is anonymous: a police transfer is counted in every row but never named (not
    in a block's list, not as a street's oldest red case), and no internal case id is shown."""
    from cases.intake import intake
    from cases.model import CasePolicy

    clock.set(NOW)
    street = "310101004"
    placement = {"district": "310101", "street": street, "workstation": street + "001",
                 "community_block": street + "001001", "street_block": None,
                 "patrol_zone": None, "snapped": False, "distance_m": 0.0}
    police = await intake(db, policy=CasePolicy(), now=NOW, channel="transfer_110",
                          kind="complaint", category="neighbour_dispute", description="110转来",
                          actor={"role": "dispatcher", "unit": "310101", "name": "受理员"},
                          placement=placement)
    await hotline_complaint(db, street=street, now=NOW + timedelta(minutes=1))
    public = await db.cases.find_one({"channel": "hotline_12345"})
    assert public is not None
    later = NOW + timedelta(hours=2)  # both past their dispatch time: red, the transfer oldest
    clock.set(later)
    await folded(db, now=later)
    texts = {}
    for unit in ("", street, street + "001", street + "001001"):
        res = await client.get("/api/v1/stats/board" + (f"?unit={unit}" if unit else ""))
        assert res.status == 200
        texts[unit] = await res.text()
        for secret in (police.case["serial"], police.case["_id"], public["_id"], "case_id"):
            assert secret not in texts[unit], (unit, secret)
    district = await (await client.get("/api/v1/stats/board")).json()
    row = next(r for r in district["sections"]["streets"] if r["unit"] == street)
    assert (row["open"], row["red"]) == (2, 2)
    assert row["oldest_red"]["serial"] is None and row["oldest_red"]["overdue_hours"] == 1.5
    block = await (await client.get(f"/api/v1/stats/board?unit={street}001001")).json()
    assert block["totals"]["open"] == 2
    assert [c["serial"] for c in block["cases"]] == [public["serial"]]

