"""The desk asks cases' one workflow and one visibility policy: the case page offers exactly
`workflow.allowed_actions`, refuses the rest, shows each principal what `cases.visibility`
lets them see, and serves a photo to whoever may see one of the cases carrying it, whichever
door (the bot, without any media link) brought it in."""

from __future__ import annotations

import io
import re
from typing import Any

from PIL import Image

from api.keys import GRID_INDEX
from cases import lifecycle, workflow
from cases.intake import intake
from cases.model import Actor, CasePolicy
from media import service as media_service
from tests.desk.conftest import (
    ACCOUNTS,
    DISTRICT,
    INSIDE,
    Desk,
    DeskFactory,
    add_account,
    csrf_of,
    two_streets_fc,
)

POLICY = CasePolicy(district=DISTRICT)
CENTER = Actor(role="dispatcher", unit=DISTRICT, name="Center")
ROADS = Actor(role="department", unit="D07", name="Roads")
MODERATION = {"hide", "unhide", "redact"}
FORM_RE = re.compile(r'<form method="post" action="/desk/cases/[^/"]+/([a-z_]+)"')
CHAT_ID = 987654321
CITIZEN = {"role": "citizen", "user_id": CHAT_ID, "chat_id": CHAT_ID, "name": "Wang Citizen",
           "locale": "en"}
PATROL = {"role": "coordinator", "unit": "310101001P01", "user_id": 55501, "chat_id": 55501,
          "name": "Patrol Zhou"}
# Staff of the desk as the workflow sees them (the desk signs in as these).
STAFF = {name: Actor(role=role, unit=unit, name=name) for name, (role, unit) in
         {**ACCOUNTS, "street1": ("dispatcher", "310101001"), "street2": ("dispatcher", "310101002")}.items()}


async def two_street_desk(make_desk: DeskFactory) -> Desk:
    desk = await make_desk(fc=two_streets_fc())
    await add_account(desk.db, desk.clock, "street1", "dispatcher", "310101001")  # the case's street
    await add_account(desk.db, desk.clock, "street2", "dispatcher", "310101002")  # another street
    return desk


def jpeg(shade: int) -> bytes:
    buf = io.BytesIO()
    img = Image.new("RGB", (320, 240), (shade, 90, 160))
    for x in range(0, 320, 20):
        img.paste((250, shade, 40), (x, (x * 7 + shade) % 200, x + 12, (x * 7 + shade) % 200 + 30))
    img.save(buf, "JPEG")
    return buf.getvalue()


async def bot_photo(desk: Desk, shade: int) -> str:
    """Uploaded as the bot does (bot.domain.ingest_photo): stored by media, linked to nothing."""
    stored = await media_service.ingest(desk.db, data=jpeg(shade), content_type="image/jpeg",
                                        filename="p.jpg", uploader=str(CHAT_ID),
                                        settings=desk.settings, now=desk.clock.now())
    return stored.id


async def hotline_case(desk: Desk, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = dict(channel="hotline_12345", kind="complaint", category="road_damage",
                                description="Pothole outside No. 12", actor=CENTER,
                                reporter={"phone": "13800138000", "name": "Zhang San"},
                                location=INSIDE, grid=desk.server.app[GRID_INDEX])
    args.update(kw)
    return (await intake(desk.db, policy=POLICY, now=desk.clock.now(), **args)).case


def offered(html: str) -> set[str]:
    return set(FORM_RE.findall(html))


# ---------------------------------------------------------------- photos from the bot


async def test_a_photo_the_bot_brought_shows_to_whoever_may_see_its_case(make_desk: DeskFactory) -> None:
    desk = await two_street_desk(make_desk)
    photo = await bot_photo(desk, 10)
    # The citizen's appeal through the bot's own path: intake with photo ids, no media links.
    case = (await intake(desk.db, policy=POLICY, now=desk.clock.now(), channel="citizen_bot",
                         kind="complaint", category="other", description="Broken street lamp",
                         actor=CITIZEN, location=INSIDE, grid=desk.server.app[GRID_INDEX],
                         photos=[photo], update_id=4242)).case
    assert await media_service.cases_of(desk.db, photo_id=photo) == []  # what the desk used to ask
    assert case["public"] and case["public_photos"] == []  # a citizen's photo stays staff-only
    case = await lifecycle.dispatch(desk.db, case_ref=case["_id"], actor=CENTER,
                                    now=desk.clock.now(), policy=POLICY, unit="D07")

    expected = {"center": 200, "street1": 200, "admin": 200, "roads": 200,  # center, area, assignee
                "street2": 403, "chengguan": 403, "leader": 403}
    for name, status in expected.items():
        client = await desk.signed_in(name)
        got = await client.get(f"/desk/media/{photo}?size=thumb")
        assert got.status == status, name
        if status == 200:
            assert got.content_type == "image/jpeg" and len(await got.read()) > 100, name
        page = await client.get(f"/desk/cases/{case['_id']}")
        assert page.status == status, name
        if status == 200:
            html = await page.text()
            assert f'src="/desk/media/{photo}?size=thumb"' in html.split('id="intake-photos"')[1], name
            # The reporter's name and phone for the center and, on an appeal, its assignee;
            # the chat id for admin only.
            assert "Wang Citizen" in html.split('id="case-reporter"')[1][:300], name
            assert (str(CHAT_ID) in html) == (name == "admin"), name
    anon = await desk.client()
    assert (await anon.get(f"/desk/media/{photo}", allow_redirects=False)).status == 303
    center = await desk.signed_in("center")
    assert (await center.get(f"/desk/media/{photo}?size=original")).status == 400
    assert (await center.get("/desk/media/not-a-photo-of-any-case")).status == 403


async def test_a_patrols_before_and_after_photos_and_the_assignee_sees_no_reporter_on_a_hazard(
        make_desk: DeskFactory) -> None:
    desk = await two_street_desk(make_desk)
    before, after = await bot_photo(desk, 20), await bot_photo(desk, 30)
    # Handled on the spot: closed at intake with before and after photos, as the patrol bot does.
    spot = (await intake(desk.db, policy=POLICY, now=desk.clock.now(), channel="patrol_bot",
                         kind="hazard", category="road_damage", description="Loose cover",
                         actor=PATROL, location=INSIDE, grid=desk.server.app[GRID_INDEX],
                         photos=[before], on_the_spot={"after_photos": [after]}, update_id=1)).case
    center = await desk.signed_in("center")
    html = await (await center.get(f"/desk/cases/{spot['_id']}")).text()
    assert f"/desk/media/{before}?size=thumb" in html.split('id="intake-photos"')[1]
    assert f"/desk/media/{after}?size=thumb" in html.split('id="after-photos"')[1]
    for pid in (before, after):
        assert (await center.get(f"/desk/media/{pid}")).status == 200
    street2 = await desk.signed_in("street2")
    # A patrol's photos are public (the case is): any signed-in user may see them.
    assert (await street2.get(f"/desk/media/{after}")).status == 200

    hazard = (await intake(desk.db, policy=POLICY, now=desk.clock.now(), channel="patrol_bot",
                           kind="hazard", category="road_damage", description="Sinkhole",
                           actor=PATROL, location=INSIDE, grid=desk.server.app[GRID_INDEX],
                           update_id=2)).case
    hazard = await lifecycle.dispatch(desk.db, case_ref=hazard["_id"], actor=CENTER,
                                      now=desk.clock.now(), policy=POLICY, unit="D07")
    roads = await desk.signed_in("roads")
    html = await (await roads.get(f"/desk/cases/{hazard['_id']}")).text()
    assert 'id="case-reporter"' not in html  # an assignee gets the reporter only for callbacks
    html = await (await center.get(f"/desk/cases/{hazard['_id']}")).text()
    assert "Patrol Zhou" in html.split('id="case-reporter"')[1][:200]
    assert "55501" not in html  # no chat or user id for the center


# ---------------------------------------------------------------- buttons from the workflow


async def test_the_case_page_offers_exactly_the_workflows_actions(make_desk: DeskFactory) -> None:
    desk = await two_street_desk(make_desk)
    now = desk.clock.now()
    reported = await hotline_case(desk)
    dispatched = await lifecycle.dispatch(desk.db, case_ref=(await hotline_case(desk))["_id"],
                                          actor=CENTER, now=now, policy=POLICY, unit="D07")
    pending = await lifecycle.dispatch(desk.db, case_ref=(await hotline_case(desk))["_id"],
                                       actor=CENTER, now=now, policy=POLICY, unit="D07")
    pending = await lifecycle.accept(desk.db, case_ref=pending["_id"], actor=ROADS, now=now)
    pending = await lifecycle.request_extension(desk.db, case_ref=pending["_id"], actor=ROADS,
                                                now=now, policy=POLICY, reason="rain", working_days=2)
    waiting = await lifecycle.dispatch(desk.db, case_ref=(await hotline_case(desk))["_id"],
                                       actor=CENTER, now=now, policy=POLICY, unit="D07")
    waiting = await lifecycle.accept(desk.db, case_ref=waiting["_id"], actor=ROADS, now=now)
    waiting = await lifecycle.feedback(desk.db, case_ref=waiting["_id"], actor=ROADS, now=now,
                                       policy=POLICY, text="patched")
    closed = await lifecycle.dispatch(desk.db, case_ref=(await hotline_case(desk))["_id"],
                                      actor=CENTER, now=now, policy=POLICY, unit="D07")
    closed = await lifecycle.accept(desk.db, case_ref=closed["_id"], actor=ROADS, now=now)
    closed = await lifecycle.feedback(desk.db, case_ref=closed["_id"], actor=ROADS, now=now,
                                      policy=POLICY, text="patched")
    closed = await lifecycle.verify(desk.db, case_ref=closed["_id"], actor=CENTER, now=now,
                                    policy=POLICY, ok=True)
    center_side = {"supervise", "merge"}
    # the center's toolset (issue 22): before dispatch, and once a unit has it
    # (and "assist": the center adds assisting units to a running case, cases.joint)
    before, after = {"refuse", "suspend", "refile", "replace"}, {"void", "suspend", "assist"}
    # principal → case → the forms the page must offer (None: 403, not the desk's to show).
    table: dict[str, dict[str, set[str] | None]] = {
        "center": {"reported": {"dispatch"} | center_side | before,
                   "dispatched": center_side | after,
                   "pending": {"decide"} | center_side | after,
                   "waiting": {"verify", "void"} | center_side, "closed": {"rate"}},
        "street1": {"reported": {"dispatch"} | center_side | before,
                    "dispatched": center_side | after,
                    "pending": {"decide"} | center_side | after,
                    "waiting": {"verify", "void"} | center_side, "closed": {"rate"}},
        "street2": dict.fromkeys(("reported", "dispatched", "pending", "waiting", "closed")),
        "roads": {"reported": None, "dispatched": {"accept", "return", "extend"},
                  "pending": {"return", "feedback"}, "waiting": set(), "closed": set()},
        "chengguan": dict.fromkeys(("reported", "dispatched", "pending", "waiting", "closed")),
        "admin": {"reported": {"dispatch"} | center_side | before,
                  "dispatched": {"accept", "return", "extend"} | center_side | after,
                  "pending": {"decide", "return", "feedback"} | center_side | after,
                  "waiting": {"verify", "void"} | center_side, "closed": {"rate"}},
    }
    cases = {"reported": reported, "dispatched": dispatched, "pending": pending,
             "waiting": waiting, "closed": closed}
    for name, row in table.items():
        client = await desk.signed_in(name)
        for label, want in row.items():
            case = cases[label]
            resp = await client.get(f"/desk/cases/{case['_id']}")
            if want is None:
                assert resp.status == 403, (name, label)
                continue
            assert resp.status == 200, (name, label)
            html = await resp.text()
            # moderation's forms (any state) are tested with moderation
            assert offered(html) - MODERATION == want, (name, label, offered(html))
            assert want == set(workflow.allowed_actions(STAFF[name], case)) - MODERATION, (name, label)
            assert ('id="no-actions"' in html) == (not want), (name, label)


async def test_actions_the_workflow_refuses_are_refused_and_change_nothing(
        make_desk: DeskFactory) -> None:
    desk = await two_street_desk(make_desk)
    case = await lifecycle.dispatch(desk.db, case_ref=(await hotline_case(desk))["_id"],
                                    actor=CENTER, now=desk.clock.now(), policy=POLICY, unit="D07")
    center, roads, street2 = (await desk.signed_in("center"), await desk.signed_in("roads"),
                              await desk.signed_in("street2"))
    url = f"/desk/cases/{case['_id']}"

    async def post(client: Any, action: str, **fields: str) -> tuple[int, str]:
        token = csrf_of(await (await client.get("/desk/queues/new" if client is not roads
                                                else "/desk/unit")).text())
        resp = await client.post(f"{url}/{action}", data={"csrf": token, "version": str(case["version"]),
                                                          **fields})
        return resp.status, await resp.text()

    # Not theirs to take: 403 (the workflow's role and area guard).
    assert (await post(center, "accept"))[0] == 403
    assert (await post(roads, "verify", outcome="pass"))[0] == 403
    assert (await post(street2, "supervise", note="hurry"))[0] == 403
    # Theirs, but not in this state: 409 and the case page saying why.
    status, html = await post(roads, "feedback", text="done")
    assert status == 409 and 'id="problem"' in html and "dispatched" in html
    status, html = await post(center, "verify", outcome="pass")
    assert status == 409 and 'id="problem"' in html
    assert (await post(center, "no_such_action"))[0] == 404
    stored = await desk.db.cases.find_one({"_id": case["_id"]})
    assert stored is not None and stored["version"] == case["version"]
    assert stored["state"] == "dispatched"
