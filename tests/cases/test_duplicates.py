"""Likely duplicates at intake: same category, within 50 m, open, last 72 h, alike photos."""

from __future__ import annotations

from datetime import timedelta

from cases import lifecycle
from cases.duplicates import hamming, haversine_m
from cases.intake import intake
from gridlink.clock import FakeClock
from gridlink.db import Database
from tests.cases.conftest import CENTER, CITIZEN, POLICY, ROADS, NewCase

LON, LAT = 121.4737, 31.2304
# ~0.00045° of longitude at 31°N is about 43 m; 0.0009° about 86 m.
NEAR, FAR = 0.00045, 0.0009


def test_haversine_and_hamming() -> None:
    assert 40 < haversine_m(LON, LAT, LON + NEAR, LAT) < 45
    assert 80 < haversine_m(LON, LAT, LON + FAR, LAT) < 90
    assert hamming("ffffffffffffffff", "fffffffffffffff0") == 4
    assert hamming("0000000000000000", "ffffffffffffffff") == 64


async def _report(db: Database, clock: FakeClock, **kw: object) -> dict[str, object]:
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
    assert [d["serial"] for d in near["duplicates"]] == [first["serial"]]  # type: ignore[index]
    assert 40 < near["duplicates"][0]["distance_m"] < 45  # type: ignore[index]
    assert near["case"]["duplicate_candidates"][0]["case_id"] == first["_id"]  # type: ignore[index]
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
    case_id = fresh["case"]["_id"]  # type: ignore[index]
    await lifecycle.dispatch(db, case_ref=case_id, actor=CENTER, now=now, policy=POLICY)
    await lifecycle.accept(db, case_ref=case_id, actor=ROADS, now=now)
    await lifecycle.feedback(db, case_ref=case_id, actor=ROADS, now=now, policy=POLICY, text="ok")
    await lifecycle.verify(db, case_ref=case_id, actor=CENTER, now=now, policy=POLICY, ok=True)
    again = await _report(db, clock)
    # The closed one is not offered; only the report from a moment ago (still open) is.
    assert old["serial"] not in [d["serial"] for d in again["duplicates"]]  # type: ignore[union-attr]
    assert fresh["case"]["serial"] not in [d["serial"] for d in again["duplicates"]]  # type: ignore[index, union-attr]


async def test_photos_must_look_alike_when_both_have_them(db: Database, clock: FakeClock) -> None:
    base = "f0f0f0f0f0f0f0f0"
    first = await _report(db, clock, photos=["p1"], phashes=[base])
    alike = await _report(db, clock, photos=["p2"], phashes=["f0f0f0f0f0f0f0f3"])  # 2 bits differ
    assert alike["duplicates"][0]["serial"] == first["case"]["serial"]  # type: ignore[index]
    assert alike["duplicates"][0]["hamming"] == 2  # type: ignore[index]
    different = await _report(db, clock, photos=["p3"], phashes=["0f0f0f0f0f0f0f0f"])  # 64 bits
    assert different["duplicates"] == []
    no_photo = await _report(db, clock)  # without photos, place and category decide
    assert len(no_photo["duplicates"]) == 3  # type: ignore[arg-type]
    clock.advance(timedelta(minutes=1))
