"""The desk's "auto-dispatched" list (issue 22): a case a category's rule dispatched shows there
for the center with a take-back form; taking it back puts it in the dispatch queue again, and
nobody but the center may."""

from __future__ import annotations

from api.keys import GRID_INDEX
from cases import autodispatch, lifecycle
from cases import repository as cases_repo
from cases.categories import AutoDispatch, Category
from cases.intake import intake
from cases.model import Actor, CasePolicy
from tests.desk.conftest import DISTRICT, INSIDE, DeskFactory, csrf_of

POLICY = CasePolicy(district=DISTRICT)
PATROL = {"role": "coordinator", "unit": "310101001001001", "user_id": 55501, "chat_id": 55501,
          "name": "Patrol Zhou"}
BLOCK = "310101001001001"


async def test_the_center_takes_an_auto_dispatched_case_back_on_the_desk(
        make_desk: DeskFactory) -> None:
    desk = await make_desk()
    category = Category.from_doc(await cases_repo.get_category(desk.db, code="exposed_garbage"))
    category.auto_dispatch = AutoDispatch(enabled=True, to="community_block")
    await cases_repo.put_category(desk.db, category=category, now=desk.clock.now(), by="test")
    await desk.db.roster.insert_one({"_id": 9101, "user_id": 9101, "chat_id": 9101, "role": "leader",
                                     "unit": BLOCK, "name": "Leader Wu", "locale": "en"})
    reported = (await intake(desk.db, policy=POLICY, now=desk.clock.now(), channel="patrol_bot",
                             kind="hazard", category="exposed_garbage",
                             description="Rubbish bags by the gate", actor=PATROL,
                             location=INSIDE, grid=desk.server.app[GRID_INDEX])).case
    hand = (await intake(desk.db, policy=POLICY, now=desk.clock.now(), channel="patrol_bot",
                         kind="hazard", category="exposed_garbage", description="More rubbish",
                         actor=PATROL, location=INSIDE, grid=desk.server.app[GRID_INDEX])).case
    case = await autodispatch.dispatch_new(desk.db, case=reported, now=desk.clock.now(),
                                           policy=POLICY)
    assert case is not None and case["assignee"]["unit"] == BLOCK
    # a case the center dispatched by hand is not in the list
    await lifecycle.dispatch(desk.db, case_ref=hand["_id"], now=desk.clock.now(), policy=POLICY,
                             actor=Actor(role="dispatcher", unit=DISTRICT, name="Center"))

    center = await desk.signed_in("center")
    page = await center.get("/desk/queues/auto")
    html = await page.text()
    assert page.status == 200
    assert case["serial"] in html and hand["serial"] not in html
    assert f'action="/desk/cases/{case["_id"]}/take_back"' in html
    assert 'id="nav-auto"' in html and 'data-count="1"' in html.split('id="nav-auto"')[1][:400]
    detail = await (await center.get(f"/desk/cases/{case['_id']}")).text()
    assert "dispatched automatically by the category&#39;s rule" in detail

    # The block's leader sees the case (it is theirs) but may not take it back.
    leader = await desk.signed_in("leader")
    token = csrf_of(await (await leader.get(f"/desk/cases/{case['_id']}")).text())
    refused = await leader.post(f"/desk/cases/{case['_id']}/take_back",
                                data={"csrf": token, "version": str(case["version"])},
                                allow_redirects=False)
    assert refused.status == 403
    assert (await cases_repo.get_case(desk.db, ref=case["_id"]))["state"] == "dispatched"
    assert (await leader.get("/desk/queues/auto")).status == 403  # a center's list

    done = await center.post(f"/desk/cases/{case['_id']}/take_back", data={
        "csrf": csrf_of(html), "version": str(case["version"]), "note": "street team instead",
        "next": "/desk/queues/auto"}, allow_redirects=False)
    assert done.status == 303 and done.headers["Location"] == "/desk/queues/auto?done=take_back"
    back = await cases_repo.get_case(desk.db, ref=case["_id"])
    assert back["state"] == "reported" and back["assignee"] is None
    assert back["history"][-1]["reason"] == "street team instead"
    after = await (await center.get("/desk/queues/auto?done=take_back")).text()
    assert case["serial"] not in after and "Done: Take back to dispatch" in after
    assert case["serial"] in await (await center.get("/desk/queues/new")).text()
