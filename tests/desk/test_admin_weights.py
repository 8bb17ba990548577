"""The assessment's weights per level on the admin's desk (issue 23): a form per level saved
through stats.assessment.save_weights (what the API's PUT calls), so the assessment API answers
with the new weights; each change in the audit log; bad input a clear 400 that stores nothing;
only an admin, and only with the form's CSRF token. The admin home links here and to the
working-day calendar."""

from __future__ import annotations

from typing import Any

from stats import assessment as assess
from tests.desk.conftest import Desk, csrf_of
from tests.desk.test_http import post_form

PAGE = "/desk/admin/weights"
NEW_STREETS = {"on_time_handling_rate": "0.4", "handling_rate": "0.2", "closure_rate": "0.2",
               "satisfaction_rate": "0.2"}


async def api_weights(desk: Desk) -> dict[str, Any]:
    c = await desk.client()
    resp = await c.get("/api/v1/stats/assessment/weights")
    assert resp.status == 200
    body: dict[str, Any] = await resp.json()
    return body


async def test_an_admin_changes_a_levels_weights_and_the_assessment_uses_them(desk: Desk) -> None:
    admin = await desk.signed_in("admin")
    home = await (await admin.get("/desk/admin")).text()
    assert 'href="/desk/admin/weights"' in home and 'href="/desk/admin/calendar"' in home
    html = await (await admin.get(PAGE)).text()
    assert "Assessment weights by level" in html and 'id="weights-streets"' in html
    assert "On-time handling rate" in html  # the indicators by name, in the account's language

    status, html = await post_form(admin, PAGE, PAGE, level="streets", **NEW_STREETS)
    assert status == 200
    assert "Weights of “Streets” saved." in html
    expected = {k: float(v) for k, v in NEW_STREETS.items()}
    body = await api_weights(desk)
    assert body["weights"]["streets"] == expected
    assert body["weights"]["departments"] == assess.DEFAULT_WEIGHTS["departments"]
    assert body["updated_by"] == "admin"
    c = await desk.client()
    result = await (await c.get("/api/v1/stats/assessment")).json()
    assert result["weights"]["streets"] == expected
    entries = [d async for d in desk.db.audit_log.find({"action": "assessment.weights"})]
    assert [(e["by"], e["target"]) for e in entries] == [("admin", "streets")]
    assert entries[0]["detail"]["weights"] == expected
    # the audit page names the change
    assert "Assessment weights changed" in await (await admin.get("/desk/admin/audit")).text()

    # in Chinese: the level, its indicators and the refusal
    await admin.get(f"/desk/locale?to=zh-CN&next={PAGE}")
    html = await (await admin.get(PAGE)).text()
    assert "考核权重（按层级）" in html and "按期处置率" in html and "恢复默认" in html
    status, html = await post_form(admin, PAGE, PAGE, level="streets", handling_rate="0.5")
    assert status == 400 and "街镇：权重之和须为 1（现为 0.5）。" in html
    await admin.get(f"/desk/locale?to=en&next={PAGE}")

    # restore the level's defaults
    status, html = await post_form(admin, PAGE, PAGE, level="streets", op="restore")
    assert status == 200 and "back on its default weights" in html
    assert (await api_weights(desk))["weights"]["streets"] == assess.DEFAULT_WEIGHTS["streets"]
    assert await desk.db.audit_log.count_documents({"action": "assessment.weights"}) == 2


async def test_bad_weights_are_refused_clearly_and_store_nothing(desk: Desk) -> None:
    admin = await desk.signed_in("admin")
    before = await api_weights(desk)
    cases = [
        ({**NEW_STREETS, "closure_rate": "0.1"}, "Streets: the weights must add up to 1 (they add up to 0.9)."),
        ({**NEW_STREETS, "closure_rate": "abc"}, "Closure rate: “abc” is not a number."),
        ({"handling_rate": "1.2", "closure_rate": "-0.2"}, "Closure rate: a weight cannot be negative."),
        ({}, "Streets: the weights must add up to 1 (they add up to 0)."),
    ]
    for fields, message in cases:
        status, html = await post_form(admin, PAGE, PAGE, level="streets", **fields)
        assert status == 400, fields
        assert message in html, (fields, html[html.find('id="problem"'):][:300])
    # what was typed stays in the form to correct
    status, html = await post_form(admin, PAGE, PAGE, level="streets", **cases[1][0])
    assert 'id="w-streets-closure_rate" name="closure_rate" value="abc"' in html
    status, html = await post_form(admin, PAGE, PAGE, level="mayors", handling_rate="1")
    assert status == 400 and "Unknown level." in html
    assert await api_weights(desk) == before
    assert await desk.db.audit_log.count_documents({}) == 0


async def test_only_an_admin_with_the_forms_token_changes_weights(desk: Desk) -> None:
    before = await api_weights(desk)
    for name in ("center", "leader"):
        c = await desk.signed_in(name)
        assert (await c.get(PAGE)).status == 403
        page = await c.get("/desk/unit" if name == "leader" else "/desk/queues/new")
        resp = await c.post(PAGE, data={"csrf": csrf_of(await page.text()), "level": "streets",
                                        **NEW_STREETS})
        assert resp.status == 403, name
    admin = await desk.signed_in("admin")
    resp = await admin.post(PAGE, data={"csrf": "forged", "level": "streets", **NEW_STREETS})
    assert resp.status == 403
    assert await api_weights(desk) == before
    assert await desk.db.audit_log.count_documents({}) == 0
