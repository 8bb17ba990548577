"""The center's toolset over REST (issue 22): each route allowed for the area's center, refused
(403) for other roles and areas and (409) in the wrong state, with 400 for bad input."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from gridlink.clock import FakeClock
from gridlink.db import Database
from tests.api.conftest import OTHER_PLACEMENT
from tests.cases.conftest import NewCase, Tokens, bearer

Client = TestClient[Any, Any]
V1 = "/api/v1/cases"


async def post(client: Client, token: str, ref: str, path: str, body: dict[str, Any]
               ) -> tuple[int, dict[str, Any]]:
    resp = await client.post(f"{V1}/{ref}/{path}", json=body, headers=bearer(token))
    return resp.status, await resp.json()


async def test_refuse_and_void(o311: Client, tokens: Tokens, new_case: NewCase) -> None:
    case = await new_case()
    body = {"reason_code": "prank", "note": "a joke"}
    assert (await post(o311, tokens["roads"], case["_id"], "refuse", body))[0] == 403
    assert (await post(o311, tokens["other_street"], case["_id"], "refuse", body))[0] == 403
    status, answer = await post(o311, tokens["center"], case["_id"], "refuse", {"reason_code": "bored"})
    assert status == 400
    assert (await post(o311, tokens["center"], case["_id"], "void", body))[0] == 409
    status, answer = await post(o311, tokens["center"], case["_id"], "refuse", body)
    assert status == 200 and answer["case"]["state"] == "refused"
    assert answer["case"]["refusal"]["code"] == "prank" and answer["case"]["colour"] == "green"
    assert not {"refuse", "void", "suspend"} & set(answer["allowed_actions"])
    assert (await post(o311, tokens["center"], case["_id"], "refuse", body))[0] == 409
    # the public lookup shows the state, never the staff note
    resp = await o311.get(f"/api/v1/public/cases/{case['serial']}")
    public = await resp.json()
    assert public["status"] == "refused" and "a joke" not in str(public)


async def test_suspend_and_resume(o311: Client, tokens: Tokens, new_case: NewCase,
                                  clock: FakeClock) -> None:
    case = await new_case()
    review = (clock.now().replace(microsecond=0)).isoformat().replace("+00:00", "Z")
    body = {"reason": "awaiting the budget", "review_at": "2027-03-01T09:00:00+08:00"}
    assert (await post(o311, tokens["roads"], case["_id"], "suspend", body))[0] == 403
    assert (await post(o311, tokens["center"], case["_id"], "suspend",
                       {"reason": "x", "review_at": review}))[0] == 400  # not in the future
    assert (await post(o311, tokens["center"], case["_id"], "suspend",
                       {"reason": "x", "review_at": "2027-03-01T09:00:00"}))[0] == 400  # no zone
    assert (await post(o311, tokens["center"], case["_id"], "resume", {}))[0] == 409
    status, answer = await post(o311, tokens["center"], case["_id"], "suspend", body)
    assert status == 200 and answer["case"]["state"] == "suspended"
    assert answer["case"]["review_at"].startswith("2027-03-01T01:00:00")
    assert "resume" in answer["allowed_actions"] and "dispatch" not in answer["allowed_actions"]
    assert (await post(o311, tokens["roads"], case["_id"], "resume", {}))[0] == 403
    status, answer = await post(o311, tokens["center"], case["_id"], "resume",
                                {"note": "the budget came"})
    assert status == 200 and answer["case"]["state"] == "reported"


async def test_direct_answer(o311: Client, tokens: Tokens, new_case: NewCase) -> None:
    complaint = await new_case()
    body = {"text": "Enrolment opens on 1 April"}
    assert (await post(o311, tokens["center"], complaint["_id"], "direct-answer", body))[0] == 409
    case = await new_case(kind="consultation", category="school_enrolment")
    assert (await post(o311, tokens["roads"], case["_id"], "direct-answer", body))[0] == 403
    assert (await post(o311, tokens["center"], case["_id"], "direct-answer", {"text": ""}))[0] == 400
    status, answer = await post(o311, tokens["center"], case["_id"], "direct-answer", body)
    assert status == 200 and answer["case"]["state"] == "closed"
    assert answer["case"]["result"]["text"] == body["text"] and answer["allowed_actions"][:1] == ["rate"]


async def test_refile(o311: Client, tokens: Tokens, new_case: NewCase) -> None:
    case = await new_case(category="other")
    body = {"category": "road_damage", "reason": "a pothole"}
    assert (await post(o311, tokens["leader"], case["_id"], "refile", body))[0] == 403
    assert (await post(o311, tokens["center"], case["_id"], "refile",
                       {"category": "no_such", "reason": "x"}))[0] == 404
    assert (await post(o311, tokens["center"], case["_id"], "refile", {"category": "road_damage"}))[0] == 400
    status, answer = await post(o311, tokens["center"], case["_id"], "refile", body)
    assert status == 200 and answer["case"]["category"] == "road_damage"
    assert answer["case"]["proposed_assignee"]["unit"] == "D07"
    assert answer["case"]["history"][-1]["data"]["from"] == "other"


async def test_replace_an_address_only_case_then_dispatch(
        o311: Client, tokens: Tokens, db: Database, inside_point: tuple[float, float]) -> None:
    resp = await o311.post(V1, json={"channel": "hotline_12345", "kind": "complaint",
                                     "category": "group_renting",
                                     "description": "Group renting at No. 5, 7th floor"},
                           headers=bearer(tokens["center"]))
    case = (await resp.json())["case"]
    assert case["placement"] is None
    lon, lat = inside_point
    body = {"location": {"lon": lon, "lat": lat}, "reason": "found on the map"}
    assert (await post(o311, tokens["roads"], case["id"], "replace", body))[0] == 403
    assert (await post(o311, tokens["center"], case["id"], "replace",
                       {"location": {"lon": 100.0, "lat": 20.0}}))[0] in (400, 422)
    assert (await post(o311, tokens["center"], case["id"], "replace",
                       {"location": {"lon": 500, "lat": 1}}))[0] == 400
    status, answer = await post(o311, tokens["center"], case["id"], "replace", body)
    assert status == 200
    block = answer["case"]["placement"]["community_block"]
    assert block and answer["case"]["proposed_assignee"]["unit"] == block
    status, answer = await post(o311, tokens["center"], case["id"], "dispatch", {})
    assert status == 200 and answer["case"]["assignee"]["unit"] == block
    assert (await post(o311, tokens["center"], case["id"], "replace", body))[0] == 409


async def test_another_streets_center_is_refused_everything(
        o311: Client, tokens: Tokens, new_case: NewCase) -> None:
    case = await new_case(kind="consultation", category="school_enrolment")
    other = tokens["other_street"]
    for path, body in (("suspend", {"reason": "x", "review_at": "2027-03-01T09:00:00+08:00"}),
                       ("direct-answer", {"text": "x"}),
                       ("refile", {"category": "road_damage", "reason": "x"}),
                       ("replace", {"location": {"lon": 121.4, "lat": 31.2}})):
        assert (await post(o311, other, case["_id"], path, body))[0] == 403, path
    mine = await new_case(placement=OTHER_PLACEMENT)
    status, _ = await post(o311, other, mine["_id"], "refuse", {"reason_code": "prank"})
    assert status == 200


def test_open311_states_the_new_states_in_its_words() -> None:
    from open311.service import status_notes, status_of

    assert status_of("refused") == status_of("voided") == "closed"
    assert status_of("suspended") == "open"
    assert status_notes({"state": "refused"}, "en") == "Not accepted as a case after review"
    assert status_notes({"state": "suspended"}, "zh").startswith("暂时无法解决")
