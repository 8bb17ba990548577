"""A category's rule dispatches a reported case in the notifier's batch, and the assignment is
queued for the block's leader by that same pass — not behind the next batch's backlog (issue 22:
report confirmed → assignment in the leader's chat within 2 s under load)."""

from __future__ import annotations

from cases import repository as cases_repo
from cases.categories import AutoDispatch, Category
from cases.intake import intake
from gridlink.clock import FakeClock
from gridlink.db import Database
from notify import notifier
from notify.config import NotifyConfig
from tests.cases.conftest import PLACEMENT, POLICY
from tests.notify.conftest import BLOCK, LEADER, outbox_for

REPORTER = {"user_id": 6001, "chat_id": 6001}


async def test_the_rules_assignment_is_queued_in_the_pass_that_dispatched_it(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:
    db = district
    category = Category.from_doc(await cases_repo.get_category(db, code="exposed_garbage"))
    category.auto_dispatch = AutoDispatch(enabled=True, to="community_block")
    await cases_repo.put_category(db, category=category, now=clock.now(), by="test")
    assert PLACEMENT["community_block"] == BLOCK
    created = await intake(db, policy=POLICY, now=clock.now(), channel="patrol_bot", kind="hazard",
                           category="exposed_garbage", description="Bags of rubbish by the gate",
                           actor=None, reporter=REPORTER, location={"lon": 121.48, "lat": 31.23},
                           placement=PLACEMENT)

    done = await notifier.process_batch(db, cfg, now=clock.now(), worker="w1")

    case = await db.cases.find_one({"_id": created.case["_id"]})
    assert case is not None and case["state"] == "dispatched" and case["auto_dispatched"] is True
    queued = [m for m in await outbox_for(db, LEADER) if m.get("case_id") == case["_id"]]
    assert len(queued) == 1, queued  # the assignment, already in the outbox after one pass
    assert case["serial"] in queued[0]["text"]
    assert done >= 2  # the report's event and the rule's dispatch event
    # and the next pass does not queue it again
    await notifier.process_batch(db, cfg, now=clock.now(), worker="w1")
    assert len([m for m in await outbox_for(db, LEADER) if m.get("case_id") == case["_id"]]) == 1
