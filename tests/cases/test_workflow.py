"""The workflow table decides what each principal may do, and the lifecycle obeys it."""

from __future__ import annotations

from typing import Any

import pytest

from cases import lifecycle, workflow
from cases.errors import NotYourCase, TransitionNotAllowed
from cases.model import OPEN_STATES, STATES, Actor
from gridlink.clock import FakeClock
from gridlink.db import Database
from tests.cases.conftest import CENTER, CITIZEN, POLICY, ROADS, NewCase

STREET = Actor(role="dispatcher", unit="310101001", name="Street One")
OTHER_STREET = Actor(role="dispatcher", unit="310101009", name="Street Nine")
WATER = Actor(role="department", unit="D05", name="Water")
ADMIN = Actor(role="admin", unit="310101")
PLACE = {"street": "310101001", "workstation": "310101001001", "community_block": "310101001001001"}


def case(state: str, **kw: Any) -> dict[str, Any]:
    doc = {"_id": "c1", "serial": "A20261202-00001", "version": 3, "state": state, "district": "310101",
           "placement": PLACE, "assignee": {"unit": "D07", "kind": "department"},
           "reporter": {"user_id": 4242}, "rating": None, "extension": None}
    doc.update(kw)
    return doc


def test_every_row_names_known_states_and_a_guard() -> None:
    for row in workflow.TRANSITIONS:
        assert set(row.sources) <= set(STATES), row.action
        assert row.target is None or row.target in STATES, row.action
        assert row.guard in ("center", "assignee", "assisting", "reporter", "reporter_or_center"), row.action
    assert workflow.HANDLER_ACTIONS == ("accept", "return", "extend", "feedback")


def test_allowed_actions_by_principal_and_state() -> None:
    # moderation's rows (hide, unhide, redact) apply in any state: tests/cases of moderation
    def allowed(who: Actor, doc: dict[str, Any]) -> list[str]:
        return [a for a in workflow.allowed_actions(who, doc) if a not in ("hide", "unhide", "redact")]

    toolset = ["refuse", "suspend", "refile", "replace"]  # the center's, before dispatch (issue 22)
    assert allowed(CENTER, case("reported", assignee=None)) == ["dispatch", "supervise", "merge", *toolset]
    assert allowed(STREET, case("reported", assignee=None)) == ["dispatch", "supervise", "merge", *toolset]
    assert workflow.allowed_actions(OTHER_STREET, case("reported", assignee=None)) == []
    assert workflow.allowed_actions(ROADS, case("reported", assignee=None)) == []
    assert workflow.allowed_actions(ROADS, case("dispatched")) == ["accept", "return", "extend"]
    assert workflow.allowed_actions(WATER, case("dispatched")) == []
    pending = case("in_progress", extension={"status": "pending"})
    assert workflow.allowed_actions(ROADS, pending) == ["return", "feedback"]
    # assist: the center makes a running case joint (cases.joint)
    assert allowed(CENTER, pending) == ["decide", "supervise", "merge", "void", "suspend", "assist"]
    assert allowed(CENTER, case("awaiting_verification")) == ["verify", "supervise", "merge", "void"]
    assert allowed(CENTER, case("closed")) == ["rate"]
    assert allowed(CITIZEN, case("closed")) == ["rate"]
    assert allowed(Actor(role="citizen", user_id=1), case("closed")) == []
    assert allowed(CENTER, case("closed", rating={"score": 5})) == []
    assert allowed(ADMIN, case("merged")) == []
    for state in OPEN_STATES:
        assert "supervise" in workflow.allowed_actions(ADMIN, case(state))


def test_role_is_refused_before_state() -> None:
    with pytest.raises(NotYourCase):
        workflow.check(WATER, case("closed"), "accept")
    with pytest.raises(TransitionNotAllowed):
        workflow.check(ROADS, case("closed"), "accept")
    with pytest.raises(TransitionNotAllowed):
        workflow.transition("launch")


def test_history_actions_map_to_table_rows() -> None:
    assert workflow.action_of_record("close") == "verify"
    assert workflow.action_of_record("reopen") == "verify"
    assert workflow.action_of_record("redispatch") == "dispatch"
    assert workflow.action_of_record("request_extension") == "extend"


async def test_lifecycle_obeys_the_table(db: Database, clock: FakeClock, new_case: NewCase) -> None:
    """Every action the table allows succeeds; the ones it refuses are refused by the lifecycle too."""
    doc = await new_case()
    assert workflow.allowed_actions(ROADS, doc) == []
    with pytest.raises(NotYourCase):
        await lifecycle.accept(db, case_ref=doc["_id"], actor=ROADS, now=clock.now())
    doc = await lifecycle.dispatch(db, case_ref=doc["_id"], actor=STREET, now=clock.now(), policy=POLICY)
    assert workflow.allowed_actions(ROADS, doc) == ["accept", "return", "extend"]
    with pytest.raises(TransitionNotAllowed):
        await lifecycle.feedback(db, case_ref=doc["_id"], actor=ROADS, now=clock.now(), policy=POLICY,
                                 text="done")
    doc = await lifecycle.accept(db, case_ref=doc["_id"], actor=ROADS, now=clock.now())
    assert doc["state"] == "in_progress"
    with pytest.raises(NotYourCase):
        await lifecycle.supervise(db, case_ref=doc["_id"], actor=OTHER_STREET, now=clock.now())


def test_only_the_reporter_answers_is_it_fixed() -> None:
    """The reporter's own answer in chat: neither the center nor an admin may give it for them."""
    waiting = case("awaiting_verification", reporter={"user_id": 4242, "chat_id": 4242},
                   result={"text": "fixed", "at": None})
    assert "answer" not in workflow.allowed_actions(CENTER, waiting)
    assert "answer" not in workflow.allowed_actions(ADMIN, waiting)
    with pytest.raises(NotYourCase):
        workflow.check_role(CENTER, waiting, "answer")
    assert workflow.may(CITIZEN, waiting, "answer")
