"""Likely duplicates at intake: same category, within 50 m, open, last 72 h, alike photos."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from cases import lifecycle
from cases import repository as cases_repo
from cases.duplicates import (
    CELL_DEG,
    EARTH_RADIUS_M,
    MAX_CANDIDATES,
    RADIUS_M,
    WINDOW,
    bounding_box,
    dup_key,
    hamming,
    haversine_m,
    search_keys,
)
from cases.intake import intake
from gridlink.clock import FakeClock
from gridlink.db import Database
from tests.cases.conftest import CENTER, CITIZEN, POLICY, ROADS, NewCase, stored_photo

LON, LAT = 121.4737, 31.2304
# ~0.00045° of longitude at 31°N is about 43 m; 0.0009° about 86 m.
NEAR, FAR = 0.00045, 0.0009


def test_haversine_and_hamming() -> None:
    assert 40 < haversine_m(LON, LAT, LON + NEAR, LAT) < 45
    assert 80 < haversine_m(LON, LAT, LON + FAR, LAT) < 90
    assert hamming("ffffffffffffffff", "fffffffffffffff0") == 4
    assert hamming("0000000000000000", "ffffffffffffffff") == 64


async def _report(db: Database, clock: FakeClock, **kw: object) -> dict[str, Any]:
    args: dict[str, object] = dict(channel="citizen_bot", kind="complaint", category="road_damage",
                                   description="pothole", actor=CITIZEN,
                                   location={"lon": LON, "lat": LAT})
    args.update(kw)
    res = await intake(db, policy=POLICY, now=clock.now(), **args)  # type: ignore[arg-type]
    return {"case": res.case, "duplicates": res.duplicates}


async def test_nearby_same_category_is_suggested(db: Database, clock: FakeClock,
                                                 new_case: NewCase) -> None:
    first = await new_case(location={"lon": LON, "lat": LAT})
    clock.advance(hours=5)
    near = await _report(db, clock, location={"lon": LON + NEAR, "lat": LAT})
    assert [d["serial"] for d in near["duplicates"]] == [first["serial"]]
    assert 40 < near["duplicates"][0]["distance_m"] < 45
    assert near["case"]["duplicate_candidates"][0]["case_id"] == first["_id"]
    far = await _report(db, clock, location={"lon": LON - FAR, "lat": LAT})  # 86 m and 129 m away
    assert far["duplicates"] == []
    other = await _report(db, clock, category="street_light")
    assert other["duplicates"] == []


async def test_old_or_closed_cases_are_not_suggested(db: Database, clock: FakeClock,
                                                     new_case: NewCase) -> None:
    old = await new_case()
    clock.advance(hours=73)
    assert (await _report(db, clock))["duplicates"] == []  # older than 72 h
    fresh = await _report(db, clock, category="road_damage")
    now = clock.now()
    case_id = fresh["case"]["_id"]
    await lifecycle.dispatch(db, case_ref=case_id, actor=CENTER, now=now, policy=POLICY)
    await lifecycle.accept(db, case_ref=case_id, actor=ROADS, now=now)
    await lifecycle.feedback(db, case_ref=case_id, actor=ROADS, now=now, policy=POLICY, text="ok")
    await lifecycle.verify(db, case_ref=case_id, actor=CENTER, now=now, policy=POLICY, ok=True)
    again = await _report(db, clock)
    # The closed one is not offered; only the report from a moment ago (still open) is.
    assert old["serial"] not in [d["serial"] for d in again["duplicates"]]
    assert fresh["case"]["serial"] not in [d["serial"] for d in again["duplicates"]]


async def test_photos_must_look_alike_when_both_have_them(db: Database, clock: FakeClock) -> None:
    base = "f0f0f0f0f0f0f0f0"
    first = await _report(db, clock, photos=[await stored_photo(db, "p1", base)])
    alike = await _report(db, clock, photos=[await stored_photo(db, "p2", "f0f0f0f0f0f0f0f3")])  # 2 bits
    assert alike["duplicates"][0]["serial"] == first["case"]["serial"]
    assert alike["duplicates"][0]["hamming"] == 2
    different = await _report(db, clock, photos=[await stored_photo(db, "p3", "0f0f0f0f0f0f0f0f")])  # 64 bits
    assert different["duplicates"] == []
    no_photo = await _report(db, clock)  # without photos, place and category decide
    assert len(no_photo["duplicates"]) == 3
    clock.advance(timedelta(minutes=1))


# --- the indexed search key -------------------------------------------------------------------

@settings(max_examples=400, deadline=None)
@given(lon=st.floats(-179.0, 179.0), lat=st.floats(-89.99, 89.99),
       bearing=st.floats(0, 2 * math.pi), dist=st.floats(0, RADIUS_M),
       age_s=st.floats(0, WINDOW.total_seconds()), at_s=st.floats(0, 3e9))
def test_every_case_within_reach_has_a_searched_key(lon: float, lat: float, bearing: float,
                                                    dist: float, age_s: float, at_s: float) -> None:
    """A case within 50 m reported in the window has one of the keys the search asks for,
    across cell rows and columns, UTC midnights and at high latitudes."""
    # The other case, `dist` metres away (small-distance offset; the haversine decides below).
    dlat = math.degrees(dist * math.cos(bearing) / EARTH_RADIUS_M)
    dlon = math.degrees(dist * math.sin(bearing) / EARTH_RADIUS_M) / max(math.cos(math.radians(lat)), 1e-9)
    other_lon, other_lat = lon + dlon, lat + dlat
    assume(abs(other_lat) < 90 and abs(other_lon) < 180)
    assume(haversine_m(lon, lat, other_lon, other_lat) <= RADIUS_M)
    now = datetime.fromtimestamp(at_s, UTC)
    then = now - timedelta(seconds=age_s)
    keys = search_keys("road_damage", bounding_box(lon, lat), now - WINDOW, now)
    assert dup_key("road_damage", other_lon, other_lat, then) in keys
    assert len(keys) <= 40  # a handful of cells × the window's days, for one indexed $in
    assert dup_key("street_light", other_lon, other_lat, then) not in keys


async def test_found_across_cells_and_midnight(db: Database, clock: FakeClock) -> None:
    # 23:59:30 UTC, on a cell row's edge; the next report comes after midnight from the next row.
    edge_lat = (math.floor(LAT / CELL_DEG) + 1) * CELL_DEG
    clock.set(datetime(2026, 11, 26, 23, 59, 30, tzinfo=UTC))
    first = await _report(db, clock, location={"lon": LON, "lat": edge_lat - 0.0000001})
    spot = await db.events.find_one({"_id": f"{first['case']['_id']}:1"})  # its report, in the change log
    assert spot is not None and spot["k"] != dup_key("road_damage", LON, edge_lat + 0.0001,
                                                      clock.now() + timedelta(minutes=1))
    clock.advance(minutes=1)
    second = await _report(db, clock, location={"lon": LON, "lat": edge_lat + 0.0001})
    assert [d["serial"] for d in second["duplicates"]] == [first["case"]["serial"]]


async def open_spots(db: Database) -> set[str]:
    """The cases the duplicate search finds around (LON, LAT) now."""
    found = await cases_repo.nearby_open_cases(db, category="road_damage", box=bounding_box(LON, LAT),
                                               since=datetime(2000, 1, 1, tzinfo=UTC),
                                               until=datetime(2100, 1, 1, tzinfo=UTC))
    return {c["_id"] for c in found}


async def test_spots_follow_the_open_cases(db: Database, clock: FakeClock) -> None:
    """Only open located cases are found (their spot is in their report event; merging or
    closing marks it gone, no write of its own); report events stored before they carried
    spots get theirs once, at the next start."""
    clock.set(datetime(2026, 11, 26, 8, 0, tzinfo=UTC))
    main = await _report(db, clock)
    dup = await _report(db, clock)
    unplaced = await _report(db, clock, location=None)
    assert await open_spots(db) == {main["case"]["_id"], dup["case"]["_id"]}
    assert not {"k", "location"} & set(await db.events.find_one({"_id": f"{unplaced['case']['_id']}:1"}) or {})
    await lifecycle.merge(db, duplicate_ref=dup["case"]["_id"], into_ref=main["case"]["_id"],
                          actor=CENTER, now=clock.now())
    assert await open_spots(db) == {main["case"]["_id"]}
    assert [d["serial"] for d in (await _report(db, clock))["duplicates"]] == [main["case"]["serial"]]
    # As if stored by a version whose events carried no spots:
    await db.events.update_many({"k": {"$exists": True}, "type": "case.reported"},
                                {"$unset": {"k": "", "location": "", "phashes": ""}})
    await db.counters.delete_one({"_id": cases_repo.SPOTS_MIGRATION})
    assert (await _report(db, clock))["duplicates"] == []
    await cases_repo.ensure_indexes(db)
    found = await _report(db, clock)
    assert main["case"]["serial"] in [d["serial"] for d in found["duplicates"]]
    assert dup["case"]["serial"] not in [d["serial"] for d in found["duplicates"]]  # merged
    assert "category_1_location.lat_1" not in await db.cases.index_information()
    assert "case_spots" not in await db.list_collection_names()


async def test_a_hotspot_offers_the_best_few(db: Database, clock: FakeClock) -> None:
    for _ in range(MAX_CANDIDATES + 5):
        await _report(db, clock)
    crowded = await _report(db, clock)
    assert len(crowded["duplicates"]) == MAX_CANDIDATES
    assert len(crowded["case"]["duplicate_candidates"]) == MAX_CANDIDATES


async def test_the_search_reads_past_spots_whose_cases_have_gone(db: Database, clock: FakeClock) -> None:
    """The spots are report events, oldest first in the index: where the first ones' cases have
    been merged or closed, the search looks further rather than offering nothing."""
    reports = [(await _report(db, clock))["case"] for _ in range(cases_repo.CANDIDATE_LIMIT + 4)]
    main = reports[-1]
    for dup in reports[:cases_repo.CANDIDATE_LIMIT + 1]:
        await lifecycle.merge(db, duplicate_ref=dup["_id"], into_ref=main["_id"], actor=CENTER,
                              now=clock.now())
    found = await _report(db, clock)
    assert {d["serial"] for d in found["duplicates"]} == {c["serial"] for c in reports[-3:]}
