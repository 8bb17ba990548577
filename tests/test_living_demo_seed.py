"""The living demo's seeding (gridlink.demo) started twice on one database, as `make run` is
after a Ctrl-C: nothing doubles, every desk password is new (the old one no longer signs in),
the chat users keep their bindings, and the sandbox's users file names them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from gridlink import demo
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.settings import Settings
from grids import repository as grids_repo
from grids.cli import load_demo
from staff import service as staff_service
from staff.errors import BadCredentials
from staff.model import ROLES, SignInPolicy


async def test_a_second_start_doubles_nothing_and_gives_new_passwords(
        db: Database, settings: Settings, mongo_uri: str, clock: FakeClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "MONTH_CASES", 200)  # the month's size is not what is tested here
    await load_demo(settings, mongo_uri, only_if_empty=True)
    first = await demo.seed(db, settings, clock=clock)
    assert first.seeded_now
    assert all(first.counts[s] >= 1 for s in ("reported", "dispatched", "in_progress",
                                              "awaiting_verification", "returned", "closed", "merged"))
    assert {role for role, *_ in first.accounts} == set(ROLES)  # every desk role has its account
    cases, synthetic = (await db.cases.count_documents({"synthetic": {"$ne": True}}),
                        await db.cases.count_documents({"synthetic": True}))
    assert synthetic == 200
    bound = {m["user_id"]: m["role"] async for m in db.roster.find({})}
    assert bound == {demo.COORDINATOR: "coordinator", demo.LEADER: "leader", demo.HANDLER: "department",
                     demo.STATION_HEAD: "station_head"}  # the citizen is everyone's default

    clock.advance(timedelta(minutes=5))
    second = await demo.seed(db, settings, clock=clock)
    assert not second.seeded_now
    assert await db.cases.count_documents({"synthetic": {"$ne": True}}) == cases
    assert await db.cases.count_documents({"synthetic": True}) == synthetic
    assert await db.staff.count_documents({}) == len(demo.staff_accounts())
    assert {m["user_id"]: m["role"] async for m in db.roster.find({})} == bound
    assert second.citizen_case == first.citizen_case  # still waiting for the center
    old = dict((user, password) for _, user, password, _ in first.accounts)
    for _, username, password, _ in second.accounts:
        assert password != old[username]
        with pytest.raises(BadCredentials):
            await staff_service.sign_in(db, username=username, password=old[username], now=clock.now(),
                                        policy=SignInPolicy())
        session = await staff_service.sign_in(db, username=username, password=password, now=clock.now(),
                                              policy=SignInPolicy())
        assert session.account.username == username

    # once the citizen's case is used up (verified), the next start gives her a new one
    await db.cases.update_one({"serial": first.citizen_case}, {"$set": {"state": "closed"}})
    third = await demo.seed(db, settings, clock=clock)
    assert third.citizen_case != first.citizen_case
    fresh = await db.cases.find_one({"serial": third.citizen_case})
    assert fresh is not None and fresh["state"] == "awaiting_verification"
    assert fresh["reporter"]["user_id"] == demo.CITIZEN

    path = demo.write_chat_users(settings, third)
    users = json.loads(path.read_bytes())
    assert [u["id"] for u in users] == [demo.COORDINATOR, demo.LEADER, demo.HANDLER, demo.STATION_HEAD,
                                        demo.CITIZEN]
    unit = await grids_repo.get_unit(db, code=third.units.block, geometry=False)
    assert unit["name_zh"] in users[0]["note"]
    assert demo.sandbox_args(settings) == ["--users", str(path)]
    text = demo.render(settings, third)
    for _, username, password, _ in third.accounts:
        assert f"user {username}" in text and password in text
    assert third.citizen_case in text and "try this" in text


async def test_with_a_real_bot_no_made_up_chat_users_are_bound(
        db: Database, settings: Settings, mongo_uri: str, clock: FakeClock,
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(demo, "MONTH_CASES", 50)
    real = settings.model_copy(update={"telegram_bot_token": "123:real-token"})
    assert not real.sandbox
    await load_demo(real, mongo_uri, only_if_empty=True)
    found = await demo.seed(db, real, clock=clock)
    assert found.chat_users == [] and found.citizen_case == ""
    assert await db.roster.count_documents({}) == 0
    assert await db.staff.count_documents({}) == len(demo.staff_accounts())
    text = demo.render(real, found)
    assert "TELEGRAM_BOT_TOKEN is set" in text and "try this" not in text
