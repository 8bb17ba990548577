"""One policy for who sees what of a case (DESIGN.md §4)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from cases import lifecycle, visibility
from cases.errors import BadCaseInput, CaseNotFound, NotYourCase
from cases.model import Actor
from gridlink.clock import FakeClock
from gridlink.db import Database
from tests.cases.conftest import CENTER, CITIZEN, PLACEMENT, POLICY, ROADS, NewCase, stored_photo

NOW = datetime(2026, 12, 2, 9, tzinfo=UTC)
STREET = Actor(role="dispatcher", unit="310101001")
OTHER_STREET = Actor(role="dispatcher", unit="310101009")
LEADER = Actor(role="leader", unit="310101001001001")
OTHER_LEADER = Actor(role="leader", unit="310101001001002")
HEAD = Actor(role="station_head", unit="310101001001")
ADMIN = Actor(role="admin", unit="310101")
STRANGER = Actor(role="citizen", user_id=1, chat_id=1)


def hotline(**kw: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": "c1", "serial": "A20261202-00001", "version": 2, "state": "dispatched",
        "district": "310101", "channel": "hotline_12345", "kind": "complaint", "layer": "community",
        "category": "road_damage", "placement": PLACEMENT, "public": True,
        "assignee": {"unit": "D07", "kind": "department", "name": "Roads"},
        "reporter": {"phone": "13800138000", "name": "Zhang San", "user_id": 4242, "chat_id": 4242},
        "location": {"lon": 121.4737, "lat": 31.2304}, "description": "pothole",
        "photos": ["p1"], "public_photos": [], "result_photos": [], "history": [],
        "created_at": NOW, "due_at": None, "warn_at": None}
    doc.update(kw)
    doc.update(visibility.access_fields(doc))
    return doc


@pytest.mark.parametrize(("actor", "expected"), [
    (None, "public"), (STRANGER, "public"), (CITIZEN, "reporter"), (ROADS, "assignee"),
    (Actor(role="department", unit="D05"), "public"), (LEADER, "public"), (STREET, "center"),
    (HEAD, "center"), (OTHER_STREET, "public"), (CENTER, "center"), (ADMIN, "admin"),
])
def test_audience_of_each_principal(actor: Actor | None, expected: str) -> None:
    assert visibility.audience(actor, hotline()) == expected


def test_not_public_case_is_hidden_from_outsiders() -> None:
    police = hotline(public=False, channel="transfer_110")
    with pytest.raises(CaseNotFound):
        visibility.view(None, police, NOW)
    with pytest.raises(CaseNotFound):
        visibility.view(STRANGER, police, NOW)
    with pytest.raises(NotYourCase):
        visibility.view(OTHER_STREET, police, NOW)
    assert visibility.view(CITIZEN, police, NOW)["serial"] == police["serial"]


def test_views_carry_only_what_each_audience_may_see() -> None:
    doc = hotline()
    anon = repr(visibility.view(None, doc, NOW))
    for secret in ("13800138000", "Zhang San", "4242", "121.4737", "'c1'"):
        assert secret not in anon
    center = visibility.view(STREET, doc, NOW)
    assert center["reporter"] == {"phone": "13800138000", "name": "Zhang San"}  # no chat ids
    assert "4242" not in repr(center)
    assert visibility.view(ADMIN, doc, NOW)["reporter"]["chat_id"] == 4242
    # an assignee calls an appeal's reporter back, but sees no contact for a patrol hazard
    assert visibility.view(ROADS, doc, NOW)["reporter"]["phone"] == "13800138000"
    hazard = hotline(kind="hazard", channel="patrol_bot")
    assert "phone" not in visibility.view(ROADS, hazard, NOW)["reporter"]
    # the place is published for patrol reports, never for a citizen's own
    assert visibility.view(None, hazard, NOW)["location"] == {"lon": 121.4737, "lat": 31.2304}
    assert visibility.view(None, hotline(channel="citizen_bot"), NOW)["location"] is None
    mine = visibility.view(CITIZEN, hotline(channel="citizen_bot"), NOW)
    assert mine["description"] == "pothole" and mine["own_photos"] == ["p1"]


def test_list_scopes_are_one_equality() -> None:
    assert visibility.scope(None, district="310101") == {"public": True}
    assert visibility.scope(CENTER, district="310101") == {}
    assert visibility.scope(STREET, district="310101") == {"units": "310101001"}
    assert visibility.scope(ROADS, district="310101") == {"assigned_units": "D07"}
    doc = hotline()
    assert "310101001" in doc["units"] and doc["assigned_units"] == ["D07"]


def test_photos_follow_the_case() -> None:
    doc = hotline(public_photos=["r1"], result_photos=["r1"])
    assert visibility.photo_visible(STREET, [doc], "p1")
    assert visibility.photo_visible(CITIZEN, [doc], "p1")
    assert not visibility.photo_visible(None, [doc], "p1")
    assert not visibility.photo_visible(OTHER_STREET, [doc], "p1")
    assert visibility.photo_visible(None, [doc], "r1")
    assert not visibility.photo_is_public([hotline(public=False, public_photos=["r1"])], "r1")


async def test_a_handler_cannot_publish_another_cases_photo(db: Database, clock: FakeClock,
                                                            new_case: NewCase) -> None:
    await stored_photo(db, "private-1")
    other = await new_case(photos=["private-1"], channel="citizen_bot", actor=CITIZEN, reporter=None)
    assert other["photo_ids"] == ["private-1"] and other["public_photos"] == []
    doc = await new_case()
    doc = await lifecycle.dispatch(db, case_ref=doc["_id"], actor=CENTER, now=clock.now(), policy=POLICY)
    doc = await lifecycle.accept(db, case_ref=doc["_id"], actor=ROADS, now=clock.now())
    with pytest.raises(BadCaseInput, match="another case"):
        await lifecycle.feedback(db, case_ref=doc["_id"], actor=ROADS, now=clock.now(), policy=POLICY,
                                 text="done", photos=["private-1"])
    with pytest.raises(BadCaseInput, match="upload photos first"):
        await lifecycle.feedback(db, case_ref=doc["_id"], actor=ROADS, now=clock.now(), policy=POLICY,
                                 text="done", photos=["never-uploaded"])


async def test_merge_needs_both_cases_in_the_center_area(db: Database, clock: FakeClock,
                                                         new_case: NewCase) -> None:
    here = await new_case()
    there = await new_case(placement={**PLACEMENT, "street": "310101009", "workstation": "310101009001",
                                      "community_block": "310101009001001"})
    with pytest.raises(NotYourCase):
        await lifecycle.merge(db, duplicate_ref=here["_id"], into_ref=there["_id"], actor=STREET,
                              now=clock.now())
    dup, main = await lifecycle.merge(db, duplicate_ref=here["_id"], into_ref=there["_id"],
                                      actor=CENTER, now=clock.now())
    assert dup["state"] == "merged" and main["followers"]


async def test_assignment_history_keeps_access(db: Database, clock: FakeClock, new_case: NewCase) -> None:
    """A unit keeps seeing a case it returned; its list scope finds it by one stored field."""
    doc = await new_case()
    doc = await lifecycle.dispatch(db, case_ref=doc["_id"], actor=CENTER, now=clock.now(), policy=POLICY)
    doc = await lifecycle.return_case(db, case_ref=doc["_id"], actor=ROADS, now=clock.now(),
                                      policy=POLICY, reason="not ours")
    assert doc["assignee"] is None and doc["assigned_units"] == ["D07"]
    assert visibility.audience(ROADS, doc) == "assignee"
    found = await db.cases.find_one(visibility.scope(ROADS, district="310101"))
    assert found is not None and found["_id"] == doc["_id"]


def test_public_timeline_leaves_out_the_centers_notices() -> None:
    entries = [{"at": NOW, "action": a, "to": "dispatched"} for a in ("dispatch", "remind", "escalate")]
    timeline = visibility.view(None, hotline(history=entries), NOW)["timeline"]
    assert [e["action"] for e in timeline] == ["dispatch"]


def test_lists_leave_out_the_reporters_private_answer() -> None:
    doc = hotline(reporter_callback={"fixed": False, "comment": "still broken, call me"})
    assert "reporter_callback" not in visibility.list_item(doc, NOW)
    assert visibility.view(STREET, doc, NOW)["reporter_callback"]["comment"] == "still broken, call me"
