"""Moderation through the REST API: hide/unhide (public doors answer 404 meanwhile), redact a
photo (the public gets the blurred copy, staff the original), block and unblock a chat user;
each refused for the wrong role, area or state."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp.test_utils import TestClient

from gridlink.clock import FakeClock
from gridlink.db import Database
from tests.cases.conftest import CITIZEN, Tokens, bearer
from tests.cases.conftest import NewCase as NewCase
from tests.cases.test_moderation import BOX, COORDINATOR, noisy_jpeg, region_std

Client = TestClient[Any, Any]
V1 = "/api/v1"


async def test_hide_and_unhide(client: Client, tokens: Tokens, new_case: NewCase) -> None:
    case = await new_case(actor=CITIZEN, channel="citizen_bot",
                          reporter={"user_id": CITIZEN.user_id, "chat_id": CITIZEN.chat_id})
    public = f"{V1}/public/cases/{case['serial']}"
    assert (await client.get(public)).status == 200
    o311_list = await (await client.get("/open311/v2/requests.json")).json()
    assert case["serial"] in [r.get("service_request_id") for r in o311_list]
    refused = await client.post(f"{V1}/cases/{case['_id']}/hide", json={"reason": "abuse"},
                                headers=bearer(tokens["roads"]))
    assert refused.status == 403
    other = await client.post(f"{V1}/cases/{case['_id']}/hide", json={"reason": "abuse"},
                              headers=bearer(tokens["other_street"]))
    assert other.status == 403
    empty = await client.post(f"{V1}/cases/{case['_id']}/hide", json={},
                              headers=bearer(tokens["center"]))
    assert empty.status == 400
    done = await client.post(f"{V1}/cases/{case['_id']}/hide", json={"reason": "abuse", "version": 1},
                             headers=bearer(tokens["center"]))
    body = await done.json()
    assert done.status == 200, body
    assert body["case"]["hidden"] is True and "unhide" in body["allowed_actions"]
    assert "hide" not in body["allowed_actions"]
    assert (await client.get(public)).status == 404
    # every anonymous door: Open311 (one and the list) and the portal
    assert (await client.get(f"/open311/v2/requests/{case['serial']}.json")).status == 404
    o311_list = await (await client.get("/open311/v2/requests.json")).json()
    assert case["serial"] not in [r.get("service_request_id") for r in o311_list]
    assert (await client.get(f"{V1}/portal/cases/{case['serial']}")).status == 404
    listed = await (await client.get(f"{V1}/cases", headers=bearer(tokens["center"]))).json()
    assert [c["serial"] for c in listed["cases"]] == [case["serial"]]  # staff still list it
    again = await client.post(f"{V1}/cases/{case['_id']}/hide", json={"reason": "abuse"},
                              headers=bearer(tokens["center"]))
    assert again.status == 409
    shown = await client.post(f"{V1}/cases/{case['_id']}/unhide", json={},
                              headers=bearer(tokens["center"]))
    assert shown.status == 200 and (await shown.json())["case"]["public"] is True
    assert (await client.get(public)).status == 200
    assert (await client.get(f"/open311/v2/requests/{case['serial']}.json")).status == 200
    assert (await client.get(f"{V1}/portal/cases/{case['serial']}")).status == 200
    log = await (await client.get(f"{V1}/moderation/log", headers=bearer(tokens["center"]))).json()
    assert sorted(e["action"] for e in log["entries"]) == ["hide", "unhide"]
    assert all(e["moderator"]["name"] == "center" for e in log["entries"])


async def test_redacted_photo_served_publicly_original_to_staff(
        client: Client, tokens: Tokens, new_case: NewCase, db: Database) -> None:
    from aiohttp import FormData
    form = FormData()
    form.add_field("photo", noisy_jpeg(seed=11), filename="p.jpg", content_type="image/jpeg")
    up = await client.post(f"{V1}/media", data=form, headers=bearer(tokens["center"]))
    photo = (await up.json())["id"]
    case = await new_case(channel="patrol_bot", kind="hazard", category="road_damage",
                          actor=COORDINATOR, reporter=None, photos=[photo])
    original_public = await client.get(f"{V1}/media/{photo}?size=web")
    assert original_public.status == 200  # a patrol's photo of a public case
    original = await original_public.read()
    body = {"photo": photo, "boxes": [dict(zip("xywh", BOX, strict=True))], "reason": "a face"}
    assert (await client.post(f"{V1}/cases/{case['_id']}/redact", json=body,
                              headers=bearer(tokens["roads"]))).status == 403
    bad = await client.post(f"{V1}/cases/{case['_id']}/redact",
                            json={**body, "boxes": [{"x": 0.5, "y": 0.5, "w": 0, "h": 0.1}]},
                            headers=bearer(tokens["center"]))
    assert bad.status == 400
    done = await client.post(f"{V1}/cases/{case['_id']}/redact", json=body,
                             headers=bearer(tokens["center"]))
    answer = await done.json()
    assert done.status == 200, answer
    copy = answer["case"]["redactions"][0]["redacted"]
    # the public: the case lists the copy, which is served blurred; the original is not theirs
    view = await (await client.get(f"{V1}/public/cases/{case['serial']}")).json()
    assert view["photos"] == [copy]
    served = await client.get(f"{V1}/media/{copy}?size=web")
    assert served.status == 200 and served.headers["Cache-Control"].startswith("public")
    blurred = await served.read()
    assert region_std(original, BOX) > 40 and region_std(blurred, BOX) < 8
    assert (await client.get(f"{V1}/media/{photo}?size=web")).status in (401, 404)
    # staff: the original, unchanged
    staff = await client.get(f"{V1}/media/{photo}?size=web", headers=bearer(tokens["center"]))
    assert staff.status == 200 and await staff.read() == original
    assert staff.headers["Cache-Control"].startswith("private")


async def test_block_and_unblock(client: Client, tokens: Tokens, new_case: NewCase,
                                 clock: FakeClock) -> None:
    case = await new_case(actor=CITIZEN, channel="citizen_bot",
                          reporter={"user_id": CITIZEN.user_id, "chat_id": CITIZEN.chat_id})
    until = (clock.now() + timedelta(days=3)).isoformat()
    body = {"case": case["serial"], "reason": "abusive messages", "until": until}
    assert (await client.post(f"{V1}/moderation/blocks", json=body,
                              headers=bearer(tokens["roads"]))).status == 403
    assert (await client.post(f"{V1}/moderation/blocks", json=body,
                              headers=bearer(tokens["other_street"]))).status == 403
    for bad in ({**body, "user_id": 5}, {"reason": "x", "until": until},
                {**body, "until": "tomorrow"}, {**body, "until": clock.now().isoformat()}):
        resp = await client.post(f"{V1}/moderation/blocks", json=bad, headers=bearer(tokens["center"]))
        assert resp.status == 400, (bad, await resp.text())
    made = await client.post(f"{V1}/moderation/blocks", json=body, headers=bearer(tokens["center"]))
    block = (await made.json())["block"]
    assert made.status == 201 and block["serial"] == case["serial"] and "user_id" not in block
    listed = await (await client.get(f"{V1}/moderation/blocks", headers=bearer(tokens["center"]))).json()
    assert [b["id"] for b in listed["blocks"]] == [block["id"]]
    assert (await client.get(f"{V1}/moderation/blocks", headers=bearer(tokens["roads"]))).status == 403
    # a dispatcher cannot block by chat id; the admin can (and sees the ids)
    by_id = {"user_id": 31337, "reason": "spam", "until": until}
    assert (await client.post(f"{V1}/moderation/blocks", json=by_id,
                              headers=bearer(tokens["center"]))).status == 403
    admin = await client.post(f"{V1}/moderation/blocks", json=by_id, headers=bearer(tokens["admin"]))
    assert admin.status == 201 and (await admin.json())["block"]["user_id"] == 31337
    assert (await client.delete(f"{V1}/moderation/blocks/{block['id']}",
                                headers=bearer(tokens["other_street"]))).status == 403
    assert (await client.delete(f"{V1}/moderation/blocks/nope",
                                headers=bearer(tokens["center"]))).status == 404
    ended = await client.delete(f"{V1}/moderation/blocks/{block['id']}?reason=apologised",
                                headers=bearer(tokens["center"]))
    assert ended.status == 200 and (await ended.json())["block"]["active"] is False
    listed = await (await client.get(f"{V1}/moderation/blocks", headers=bearer(tokens["center"]))).json()
    assert [b["id"] for b in listed["blocks"]] != [block["id"]]
    log = await (await client.get(f"{V1}/moderation/log", headers=bearer(tokens["center"]))).json()
    assert sorted(e["action"] for e in log["entries"]) == ["block", "block", "unblock"]


