"""Joint cases on the desk (联勤联动, issue 22): the center dispatches with assisting units, each
unit's page offers its own part's forms, the case page shows every unit with its state,
deadline and colour, and one late department is red for itself only (its unit page)."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

from cases import lifecycle
from tests.desk.conftest import Desk, DeskFactory
from tests.desk.test_toolset import _post
from tests.desk.test_workflow_buttons import CENTER, POLICY, hotline_case, offered, two_street_desk


def _part_row(html: str, unit: str) -> str:
    return html.split(f'id="part-{unit}"')[1].split("</tr>")[0]


async def _joint(desk: Desk, center: Any) -> dict[str, Any]:
    case = await hotline_case(desk)
    html = await (await center.get(f"/desk/cases/{case['_id']}")).text()
    assert 'name="assisting"' in html and 'accesskey="j"' in html
    status, html = await _post(desk, center, case, "dispatch", unit="D07", assisting="D02")
    assert status == 200, html
    assert 'id="joint-parts"' in html and 'id="part-D02"' in html and 'id="part-D07"' in html
    return case


async def test_joint_forms_by_role_and_state(make_desk: DeskFactory) -> None:
    desk = await two_street_desk(make_desk)
    center, roads, chengguan, street2 = (
        await desk.signed_in("center"), await desk.signed_in("roads"),
        await desk.signed_in("chengguan"), await desk.signed_in("street2"))
    bad = await hotline_case(desk)
    status, html = await _post(desk, center, bad, "dispatch", unit="D07", assisting="D07")
    assert status == 400 and 'id="problem"' in html
    case = await _joint(desk, center)
    page = await (await chengguan.get(f"/desk/cases/{case['_id']}")).text()
    assert offered(page) == {"part_accept", "part_return", "part_extend"}
    assert offered(await (await roads.get(f"/desk/cases/{case['_id']}")).text()) == {
        "accept", "return", "extend"}
    # role: the lead and another street's center cannot take a part's step or add units
    assert (await _post(desk, roads, case, "part_accept"))[0] == 403
    assert (await _post(desk, street2, case, "assist", units="D05"))[0] == 403
    assert (await _post(desk, roads, case, "assist", units="D05"))[0] == 403
    # state: a part's feedback before it is accepted
    status, html = await _post(desk, chengguan, case, "part_feedback", text="done")
    assert status == 409 and 'id="problem"' in html
    assert (await _post(desk, chengguan, case, "part_accept"))[0] == 200
    # the part's own extension: asked on its unit's page, decided on the center's
    assert (await _post(desk, roads, case, "part_extend", reason="x", working_days="2"))[0] == 403
    status, html = await _post(desk, chengguan, case, "part_extend", reason="owner away",
                               working_days="2")
    assert status == 200 and "part_extend" not in offered(html)
    html = await (await center.get(f"/desk/cases/{case['_id']}")).text()
    assert "part_decide" in offered(html) and "owner away" in html
    queue = await (await center.get("/desk/queues/extensions")).text()
    assert case["serial"] in queue and "part_decide" in offered(queue)
    assert (await _post(desk, chengguan, case, "part_decide", unit="D02",
                        decision="approve"))[0] == 403
    status, html = await _post(desk, center, case, "part_decide", unit="D02", decision="approve")
    assert status == 200 and "part_decide" not in offered(html)
    assert (await _post(desk, roads, case, "accept"))[0] == 200
    status, html = await _post(desk, roads, case, "feedback", text="patched")
    assert status == 200 and 'id="joint-waiting"' in html
    center_page = await (await center.get(f"/desk/cases/{case['_id']}")).text()
    assert "verify" not in offered(center_page) and 'id="joint-waiting"' in center_page
    # waiting for the assisting unit, named in the reader's language (the accounts read English)
    assert re.search(r'id="joint-waiting">[^<]*City Management and Law Enforcement Bureau', center_page)
    assert "城管执法局" not in center_page
    status, html = await _post(desk, chengguan, case, "part_feedback", text="stall moved")
    assert status == 200
    # verification sees each feedback, and offers to send the parts back with the lead
    html = await (await center.get(f"/desk/cases/{case['_id']}")).text()
    assert "verify" in offered(html)
    assert "patched" in _part_row(html, "D07") and "stall moved" in _part_row(html, "D02")
    assert 'name="parts" value="D02"' in html
    status, html = await _post(desk, center, case, "verify", outcome="fail", note="still there",
                               parts="D02")
    assert status == 200 and "in progress" in _part_row(html, "D02")
    # the center adds a unit later
    status, html = await _post(desk, center, case, "assist", units="D05")
    assert status == 200 and 'id="part-D05"' in html and "assisting units added" in html


async def test_one_late_department_is_red_for_itself_only(make_desk: DeskFactory) -> None:
    desk = await two_street_desk(make_desk)
    case = await _joint(desk, await desk.signed_in("center"))
    await lifecycle.accept(desk.db, case_ref=case["_id"], actor={"role": "department", "unit": "D07"},
                           now=desk.clock.now())
    # the lead is given a later deadline; D02 keeps the category's limit and runs late
    stored = await desk.db.cases.find_one({"_id": case["_id"]})
    part_due = stored["parts"][0]["due_at"]
    sent = await lifecycle.request_extension(
        desk.db, case_ref=case["_id"], actor={"role": "department", "unit": "D07"},
        now=desk.clock.now(), policy=POLICY, reason="asphalt", hours=24 * 20)
    await lifecycle.decide_extension(desk.db, case_ref=sent["_id"], actor=CENTER,
                                     now=desk.clock.now(), policy=POLICY, approve=True)
    desk.clock.set(part_due.replace(tzinfo=desk.clock.now().tzinfo) + timedelta(hours=2))
    # (signed in again: the sessions of a week ago have expired)
    center, roads, chengguan = (await desk.signed_in("center"), await desk.signed_in("roads"),
                                await desk.signed_in("chengguan"))
    html = await (await center.get(f"/desk/cases/{case['_id']}")).text()
    assert 'data-colour="red"' in _part_row(html, "D02")
    assert 'data-colour="red"' not in _part_row(html, "D07")
    # each unit's own page: red for city management, not for roads
    mine = await (await chengguan.get("/desk/unit")).text()
    theirs = await (await roads.get("/desk/unit")).text()
    assert case["serial"] in mine.split('id="group-red"')[1]
    assert case["serial"] in theirs and 'id="group-red"' not in theirs
    keys = {d["k"] for d in await desk.db.case_keys.find({"c": case["_id"]}).to_list(None)}
    assert "r:D02" in keys and "r:D07" not in keys
