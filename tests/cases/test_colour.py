"""Colour warnings follow the injected clock through every step; the query agrees."""

from __future__ import annotations

from datetime import timedelta

from cases import lifecycle
from cases.colour import COLOURS, colour_of, colour_query
from cases.model import Actor
from gridlink.clock import FakeClock
from gridlink.db import Database
from tests.cases.conftest import CENTER, POLICY, NewCase


async def _painted(db: Database, now: object) -> dict[str, set[str]]:
    return {c: {d["_id"] async for d in db.cases.find(colour_query(c, now))} for c in COLOURS}  # type: ignore[arg-type]


async def test_colour_moves_with_the_clock(db: Database, clock: FakeClock, new_case: NewCase) -> None:
    start = clock.now()
    case = await new_case(category="manhole_cover")  # urgent: dispatch in 10 min, fix in 6 h
    assert colour_of(case, clock.now()) == "blue"
    clock.advance(minutes=8)  # the last quarter of the dispatch limit
    assert colour_of(case, clock.now()) == "yellow"
    clock.advance(minutes=3)  # not dispatched within 10 minutes
    assert colour_of(case, clock.now()) == "red"
    case = await lifecycle.dispatch(db, case_ref=case["_id"], actor=CENTER, now=clock.now(), policy=POLICY)
    assert case["deadline"] == clock.now() + timedelta(hours=6)
    assert colour_of(case, clock.now()) == "blue"
    clock.set(start + timedelta(hours=4, minutes=41, seconds=1))  # dispatched +11 min, 75 % of 6 h on
    assert colour_of(case, clock.now()) == "yellow"
    clock.advance(hours=2)
    assert colour_of(case, clock.now()) == "red"
    water = Actor(role="department", unit="D15")
    case = await lifecycle.accept(db, case_ref=case["_id"], actor=water, now=clock.now())
    assert colour_of(case, clock.now()) == "red"  # accepting late does not make it on time
    case = await lifecycle.feedback(db, case_ref=case["_id"], actor=water, now=clock.now(),
                                    policy=POLICY, text="cover replaced")
    assert case["result"]["on_time"] is False
    assert colour_of(case, clock.now()) == "blue"  # now the center's 2-hour verification runs
    clock.advance(hours=3)
    assert colour_of(case, clock.now()) == "red"
    case = await lifecycle.verify(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                  policy=POLICY, ok=True)
    assert colour_of(case, clock.now()) == "green" and case["closed_on_time"] is False
    clock.advance(days=400)
    assert colour_of(case, clock.now()) == "green"


async def test_colour_query_matches_colour_of(db: Database, clock: FakeClock, new_case: NewCase) -> None:
    made = [await new_case(category=c) for c in ("manhole_cover", "road_damage", "street_light")]
    await lifecycle.dispatch(db, case_ref=made[1]["_id"], actor=CENTER, now=clock.now(), policy=POLICY)
    for minutes in (0, 9, 12, 60 * 24 * 9):
        now = clock.now() + timedelta(minutes=minutes)
        painted = await _painted(db, now)
        for doc in [d async for d in db.cases.find({})]:
            colour = colour_of(doc, now)
            assert doc["_id"] in painted[colour]
            assert sum(doc["_id"] in ids for ids in painted.values()) == 1
