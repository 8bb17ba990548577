"""The center's toolset on the desk (issue 22): the case page offers each form when the workflow
allows it, the forms work, the refused ones are refused (403 by role or area, 409 by state),
and suspended cases wait in their own queue."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from cases import lifecycle
from tests.desk.conftest import INSIDE, Desk, DeskFactory, csrf_of
from tests.desk.test_workflow_buttons import CENTER, POLICY, hotline_case, offered, two_street_desk

TOOLSET = {"refuse", "void", "suspend", "resume", "direct_answer", "refile", "replace"}


async def _post(desk: Desk, client: Any, case: dict[str, Any], action: str,
                **fields: str) -> tuple[int, str]:
    page = await client.get(f"/desk/cases/{case['_id']}")
    token = csrf_of(await page.text()) if page.status == 200 else csrf_of(
        await (await client.get("/desk/unit")).text())
    stored = await desk.db.cases.find_one({"_id": case["_id"]})
    resp = await client.post(f"/desk/cases/{case['_id']}/{action}",
                             data={"csrf": token, "version": str(stored["version"]), **fields})
    return resp.status, await resp.text()


async def test_the_forms_follow_the_workflow(make_desk: DeskFactory) -> None:
    desk = await two_street_desk(make_desk)
    center = await desk.signed_in("center")
    case = await hotline_case(desk)
    html = await (await center.get(f"/desk/cases/{case['_id']}")).text()
    assert offered(html) & TOOLSET == {"refuse", "suspend", "refile", "replace"}
    assert 'name="reason_code"' in html and "it is outside our jurisdiction" in html
    assert 'id="categories-hint"' in html
    question = await hotline_case(desk, kind="consultation", category="school_enrolment")
    html = await (await center.get(f"/desk/cases/{question['_id']}")).text()
    assert "direct_answer" in offered(html)
    roads = await desk.signed_in("roads")
    sent = await lifecycle.dispatch(desk.db, case_ref=case["_id"], actor=CENTER,
                                    now=desk.clock.now(), policy=POLICY, unit="D07")
    html = await (await center.get(f"/desk/cases/{sent['_id']}")).text()
    assert offered(html) & TOOLSET == {"void", "suspend"}
    html = await (await roads.get(f"/desk/cases/{sent['_id']}")).text()
    assert offered(html) & TOOLSET == set()


async def test_refuse_suspend_answer_refile_on_the_desk(make_desk: DeskFactory) -> None:
    desk = await two_street_desk(make_desk)
    center, roads, street2 = (await desk.signed_in("center"), await desk.signed_in("roads"),
                              await desk.signed_in("street2"))
    # not accepted: the reason's words on the page and in the history
    case = await hotline_case(desk)
    assert (await _post(desk, street2, case, "refuse", reason_code="prank"))[0] == 403
    assert (await _post(desk, roads, case, "refuse", reason_code="prank"))[0] == 403
    status, html = await _post(desk, center, case, "refuse", reason_code="bored")
    assert status == 400 and 'id="problem"' in html
    status, html = await _post(desk, center, case, "refuse", reason_code="duplicate_of_closed",
                               note="see A1")
    assert status == 200 and 'id="case-refusal"' in html and "it repeats a case already closed" in html
    assert "not accepted" in html
    status, html = await _post(desk, center, case, "suspend", reason="x",
                               review_at="2030-01-01T09:00")
    assert status == 409 and 'id="problem"' in html

    # suspended: out of the new queue, in its own; resumed by hand
    held = await hotline_case(desk)
    review = (desk.clock.now() + timedelta(days=10)).astimezone(desk.settings.tz)
    status, html = await _post(desk, center, held, "suspend", reason="awaiting the budget",
                               review_at=review.strftime("%Y-%m-%dT%H:%M"))
    assert status == 200 and 'id="case-review"' in html
    queue = await (await center.get("/desk/queues/suspended")).text()
    assert held["serial"] in queue and "/resume" in queue
    assert held["serial"] not in await (await center.get("/desk/queues/new")).text()
    assert 'id="nav-suspended"' in queue
    assert (await _post(desk, roads, held, "resume"))[0] == 403
    status, html = await _post(desk, center, held, "resume")
    assert status == 200 and held["serial"] in await (await center.get("/desk/queues/new")).text()

    # a consultation answered directly
    question = await hotline_case(desk, kind="consultation", category="school_enrolment")
    status, html = await _post(desk, center, question, "direct_answer", text="")
    assert status == 400
    status, html = await _post(desk, center, question, "direct_answer",
                               text="Enrolment opens on 1 April")
    assert status == 200 and "Enrolment opens on 1 April" in html
    assert (await desk.db.cases.find_one({"_id": question["_id"]}))["state"] == "closed"

    # re-filed from the searchable list's text ("code — name")
    other = await hotline_case(desk, category="other")
    status, html = await _post(desk, center, other, "refile",
                               category="road_damage — Damaged road or pavement", reason="a pothole")
    assert status == 200 and "category other → road_damage" in html
    stored = await desk.db.cases.find_one({"_id": other["_id"]})
    assert stored["category"] == "road_damage" and stored["proposed_assignee"]["unit"] == "D07"


async def test_replace_by_coordinates_on_the_desk(make_desk: DeskFactory) -> None:
    desk = await two_street_desk(make_desk)
    center = await desk.signed_in("center")
    case = await hotline_case(desk, category="group_renting", location=None)
    assert case["placement"] is None
    status, html = await _post(desk, center, case, "replace", lon="100", lat="20")
    assert status == 400 and 'id="problem"' in html
    status, html = await _post(desk, center, case, "replace", lon="", lat="")
    assert status == 400
    status, html = await _post(desk, center, case, "replace", lon=str(INSIDE["lon"]),
                               lat=str(INSIDE["lat"]), reason="the caller's address")
    assert status == 200 and "new location" in html
    stored = await desk.db.cases.find_one({"_id": case["_id"]})
    assert stored["placement"]["community_block"] == "310101001001001"
    assert stored["proposed_assignee"]["unit"] == "310101001001001"
