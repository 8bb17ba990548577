"""A reporter's rating of 1–2 flags the case for its center (issue 17 journey 5): the desk's
"low ratings" queue lists it (one stored flag), and a chat reporter's pending "is it fixed?"
is shown on the case page, never offered as an empty form."""

from __future__ import annotations

from typing import Any

from api.desk import repository as desk_repo
from api.keys import GRID_INDEX
from cases import lifecycle
from cases.intake import intake
from cases.model import Actor, CasePolicy
from tests.desk.conftest import INSIDE, Desk, DeskFactory
from tests.desk.test_workflow_buttons import offered, two_street_desk

POLICY = CasePolicy(district="310101")
CENTER = Actor(role="dispatcher", unit="310101", name="Center")
ROADS = Actor(role="department", unit="D07", name="Roads")


def citizen(n: int) -> dict[str, Any]:
    return {"role": "citizen", "user_id": 7000 + n, "chat_id": 7000 + n, "name": f"Citizen {n}",
            "locale": "en"}


async def handled(desk: Desk, n: int, *, verify: bool = True) -> dict[str, Any]:
    """A citizen's chat appeal taken to awaiting verification (and closed when `verify`)."""
    now = desk.clock.now()
    case = (await intake(desk.db, policy=POLICY, now=now, channel="citizen_bot", kind="complaint",
                         category="other", description=f"Broken lamp {n}", actor=citizen(n),
                         location=INSIDE, grid=desk.server.app[GRID_INDEX], update_id=900 + n)).case
    case = await lifecycle.dispatch(desk.db, case_ref=case["_id"], actor=CENTER, now=now,
                                    policy=POLICY, unit="D07")
    case = await lifecycle.accept(desk.db, case_ref=case["_id"], actor=ROADS, now=now)
    case = await lifecycle.feedback(desk.db, case_ref=case["_id"], actor=ROADS, now=now,
                                    policy=POLICY, text="replaced")
    if verify:
        case = await lifecycle.verify(desk.db, case_ref=case["_id"], actor=CENTER, now=now,
                                      policy=POLICY, ok=True)
    return case


async def test_a_rating_of_one_or_two_lists_the_case_in_the_centers_low_ratings_queue(
        make_desk: DeskFactory) -> None:
    desk = await two_street_desk(make_desk)
    scores = {1: 1, 2: 2, 3: 3, 4: 5}
    cases = {}
    for n, score in scores.items():
        case = await handled(desk, n)
        cases[n] = await lifecycle.rate(desk.db, case_ref=case["_id"], actor=citizen(n),
                                        now=desk.clock.now(), score=score,
                                        comment="still dark" if score <= 2 else None)
    unrated = await handled(desk, 5)
    flagged = {n for n, c in cases.items() if c.get("low_rating") is True}
    assert flagged == {1, 2}
    assert desk_repo.queue_filter("low_ratings", desk.clock.now()) == {"state": "closed", "low_rating": True}
    for n, c in cases.items():
        assert desk_repo.in_queue("low_ratings", c, desk.clock.now()) == (n in flagged)

    for name in ("center", "street1"):  # the district and the case's street
        client = await desk.signed_in(name)
        page = await client.get("/desk/queues/low_ratings")
        assert page.status == 200, name
        html = await page.text()
        listed = html.split('id="queue-low_ratings"')[1]
        for n, c in cases.items():
            assert (c["serial"] in listed) == (n in flagged), (name, n)
        assert unrated["serial"] not in listed
        assert "Low ratings" in html
    other = await desk.signed_in("street2")  # another street's center sees none of them
    html = await (await other.get("/desk/queues/low_ratings")).text()
    assert not any(c["serial"] in html for c in cases.values())
    leader = await desk.signed_in("roads")  # a handler has no center queues
    assert (await leader.get("/desk/queues/low_ratings", allow_redirects=False)).status in (303, 403)


async def test_the_reporters_pending_answer_is_shown_not_offered_as_an_empty_form(
        make_desk: DeskFactory) -> None:
    desk = await two_street_desk(make_desk)
    waiting = await handled(desk, 9, verify=False)
    center = await desk.signed_in("center")
    html = await (await center.get(f"/desk/cases/{waiting['_id']}")).text()
    assert "answer" not in offered(html)  # before: an empty <form> posting to .../answer
    assert "verify" in offered(html)
    assert f'id="answer-{waiting["_id"]}"' in html
    assert "is it fixed?" in html
    await lifecycle.answer_callback(desk.db, case_ref=waiting["_id"], actor=citizen(9),
                                    now=desk.clock.now(), policy=POLICY, fixed=True)
    html = await (await center.get(f"/desk/cases/{waiting['_id']}")).text()
    assert f'id="answer-{waiting["_id"]}"' not in html  # answered: nothing is pending
