"""Joint cases over REST (联勤联动, issue 22): dispatch with assisting units, the center's assist,
and each assisting unit's part-accept / part-return / part-feedback — allowed for the right
role and state, refused with 403 (role, unit) and 409 (state), 400 for bad input."""

from __future__ import annotations

from tests.api.test_toolset import V1, Client, post
from tests.cases.conftest import NewCase, Tokens, bearer


async def test_a_joint_case_through_the_api(o311: Client, tokens: Tokens, new_case: NewCase) -> None:
    case = await new_case()
    ref = case["_id"]
    # the lead cannot also assist; the roads department cannot dispatch
    assert (await post(o311, tokens["center"], ref, "dispatch",
                       {"unit": "D07", "assisting": ["D07"]}))[0] == 400
    assert (await post(o311, tokens["roads"], ref, "dispatch",
                       {"unit": "D07", "assisting": ["D02"]}))[0] == 403
    # not dispatched yet: no part to act on, no unit to add
    assert (await post(o311, tokens["center"], ref, "assist", {"units": ["D02"]}))[0] == 409
    status, answer = await post(o311, tokens["center"], ref, "dispatch",
                                {"unit": "D07", "assisting": ["D02"]})
    assert status == 200, answer
    assert [p["unit"] for p in answer["case"]["parts"]] == ["D02"]
    # the assisting unit sees the case and its own steps only
    resp = await o311.get(f"{V1}/{ref}", headers=bearer(tokens["chengguan"]))
    seen = await resp.json()
    assert resp.status == 200 and seen["allowed_actions"] == ["part_accept", "part_return",
                                                              "part_extend"]
    # roles: the lead, a unit without a part and the center cannot take a part's steps
    assert (await post(o311, tokens["roads"], ref, "part-accept", {}))[0] == 403
    assert (await post(o311, tokens["leader"], ref, "part-accept", {}))[0] == 403
    assert (await post(o311, tokens["center"], ref, "part-accept", {}))[0] == 403
    assert (await post(o311, tokens["chengguan"], ref, "accept", {}))[0] == 403
    assert (await post(o311, tokens["roads"], ref, "assist", {"units": ["D05"]}))[0] == 403
    # state: the part must be accepted before its feedback
    status, answer = await post(o311, tokens["chengguan"], ref, "part-feedback", {"text": "done"})
    assert status == 409 and "dispatched" in answer["error"]["message"]
    assert (await post(o311, tokens["chengguan"], ref, "part-feedback", {}))[0] == 400
    assert (await post(o311, tokens["chengguan"], ref, "part-return", {}))[0] == 400
    assert (await post(o311, tokens["center"], ref, "assist", {"units": []}))[0] == 400
    assert (await post(o311, tokens["chengguan"], ref, "part-accept", {}))[0] == 200
    assert (await post(o311, tokens["chengguan"], ref, "part-accept", {}))[0] == 409
    assert (await post(o311, tokens["roads"], ref, "accept", {}))[0] == 200
    status, answer = await post(o311, tokens["roads"], ref, "feedback", {"text": "patched"})
    assert status == 200 and answer["case"]["state"] == "in_progress"
    assert answer["case"]["waiting_parts"] is True
    assert (await post(o311, tokens["center"], ref, "verify", {"ok": True}))[0] == 409
    status, answer = await post(o311, tokens["chengguan"], ref, "part-feedback",
                                {"text": "stall moved"})
    assert status == 200 and answer["case"]["state"] == "awaiting_verification"
    # verification sees each unit's feedback; a reopen names the parts it sends back
    resp = await o311.get(f"{V1}/{ref}", headers=bearer(tokens["center"]))
    seen = (await resp.json())["case"]
    assert seen["result"]["text"] == "patched" and seen["parts"][0]["feedback"]["text"] == "stall moved"
    assert (await post(o311, tokens["center"], ref, "verify",
                       {"ok": False, "note": "still there", "parts": ["D09"]}))[0] == 400
    status, answer = await post(o311, tokens["center"], ref, "verify",
                                {"ok": False, "note": "still there", "parts": ["D02"]})
    assert status == 200 and answer["case"]["parts"][0]["state"] == "in_progress"
    # a part's extension: asked by its unit, decided by the center
    assert (await post(o311, tokens["roads"], ref, "part-extension",
                       {"reason": "x", "hours": 24}))[0] == 403
    assert (await post(o311, tokens["chengguan"], ref, "part-extension",
                       {"reason": "x"}))[0] == 400
    assert (await post(o311, tokens["center"], ref, "part-extension/decision",
                       {"unit": "D02", "approve": True}))[0] == 409  # nothing asked
    status, answer = await post(o311, tokens["chengguan"], ref, "part-extension",
                                {"reason": "the owner is away", "hours": 24})
    assert status == 200 and answer["case"]["parts"][0]["extension"]["status"] == "pending"
    assert (await post(o311, tokens["chengguan"], ref, "part-extension/decision",
                       {"unit": "D02", "approve": True}))[0] == 403
    assert (await post(o311, tokens["center"], ref, "part-extension/decision",
                       {"unit": "D02", "approve": False}))[0] == 400  # a refusal says why
    status, answer = await post(o311, tokens["center"], ref, "part-extension/decision",
                                {"unit": "D02", "approve": True})
    assert status == 200 and answer["case"]["parts"][0]["extension"]["status"] == "approved"
    # the document names the joint routes
    doc = await (await o311.get("/api/openapi.json")).json()
    for path in ("assist", "part-accept", "part-return", "part-feedback", "part-extension",
                 "part-extension/decision"):
        assert f"/api/v1/cases/{{ref}}/{path}" in doc["paths"]
    assert "assisting" in doc["components"]["schemas"]["DispatchBody"]["properties"]
