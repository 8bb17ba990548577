"""What each process keeps to save round trips (issue 10's load work) never hides a change
that must be seen: expiry is judged on every call, an edit made here is used at once."""

from __future__ import annotations

from datetime import timedelta

import pytest

from cases import repository as cases_repo
from cases.categories import DEFAULT_CATEGORIES
from cases.intake import intake
from cases.model import Actor, CasePolicy
from gridlink import auth
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.errors import NotAuthenticated

POLICY = CasePolicy(district="310101", serial_prefix="A", timezone="Asia/Shanghai",
                    yellow_fraction=0.25)


async def test_a_kept_token_still_expires_on_time(db: Database, clock: FakeClock) -> None:
    token = await auth.create_token(db, role="dispatcher", unit="310101", district="310101",
                                    name="t", now=clock.now(), ttl=timedelta(minutes=5))
    who = await auth.authenticate(db, token=token, district="310101", now=clock.now())
    assert who.role == "dispatcher"
    # Kept by this process now; the next call sends no query, and expiry is still judged.
    await db.api_tokens.delete_many({})
    again = await auth.authenticate(db, token=token, district="310101", now=clock.now())
    assert again == who
    with pytest.raises(NotAuthenticated, match="expired"):
        await auth.authenticate(db, token=token, district="310101",
                                now=clock.now() + timedelta(minutes=5))
    with pytest.raises(NotAuthenticated, match="another district"):
        await auth.authenticate(db, token=token, district="310102", now=clock.now())
    with pytest.raises(NotAuthenticated, match="unknown"):
        await auth.authenticate(db, token=token + "x", district="310101", now=clock.now())


async def test_a_category_edit_is_used_by_the_next_intake(db: Database, clock: FakeClock) -> None:
    road = next(c for c in DEFAULT_CATEGORIES if c.code == "road_damage")
    center = Actor(role="dispatcher", unit="310101")

    async def report() -> dict[str, object]:
        return (await intake(db, policy=POLICY, now=clock.now(), channel="hotline_12345",
                             kind="complaint", category="road_damage", description="pothole",
                             actor=center)).case

    before = await report()
    assert before["dispatch_minutes"] == road.dispatch_minutes
    await cases_repo.put_category(db, category=road.model_copy(update={"dispatch_minutes": 7}),
                                  now=clock.now(), by="admin")
    after = await report()
    assert after["dispatch_minutes"] == 7
    # What a caller does with the category it got never changes the kept one.
    got = await cases_repo.get_category(db, code="road_damage")
    got["limit"]["value"] = -1
    assert (await cases_repo.get_category(db, code="road_damage"))["limit"] == road.limit.to_dict()
