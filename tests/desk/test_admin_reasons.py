"""The admin's refusal reasons page (issue 22): an admin adds a reason, rewords and retires it
(CSRF-checked, each change in the audit log); the center's refuse form offers it in the desk's
language and the case keeps its words; the API takes it too; a retired reason is refused with
a clear 400 and no longer offered; other roles never reach the page."""

from __future__ import annotations

from gridlink import auth
from tests.desk.conftest import DISTRICT, Desk, DeskFactory, csrf_of
from tests.desk.test_http import post_form
from tests.desk.test_toolset import _post
from tests.desk.test_workflow_buttons import hotline_case, two_street_desk

URL = "/desk/admin/reasons"
ZH, EN = "属于物业服务合同纠纷", "it is a dispute under a property-management contract"


async def test_an_added_reason_is_offered_used_by_desk_and_api_then_retired(
        make_desk: DeskFactory) -> None:
    desk = await two_street_desk(make_desk)
    admin, center = await desk.signed_in("admin"), await desk.signed_in("center")
    assert 'href="/desk/admin/reasons"' in await (await admin.get("/desk/admin")).text()
    page = await (await admin.get(URL)).text()
    assert 'id="reason-not_in_jurisdiction"' in page and 'id="reason-add"' in page
    status, page = await post_form(admin, URL, URL, code="property_contract", zh=ZH, en=EN)
    assert status == 200 and "Reason property_contract saved" in page and EN in page
    # offered on the center's refuse form, in the desk's language
    case = await hotline_case(desk)
    html = await (await center.get(f"/desk/cases/{case['_id']}")).text()
    assert 'value="property_contract">' + EN in html
    await center.get(f"/desk/locale?to=zh-CN&next=/desk/cases/{case['_id']}")
    html = await (await center.get(f"/desk/cases/{case['_id']}")).text()
    assert 'value="property_contract">' + ZH in html
    await center.get(f"/desk/locale?to=en&next=/desk/cases/{case['_id']}")
    # refused through the desk: the case keeps the words the reporter is told
    status, html = await _post(desk, center, case, "refuse", reason_code="property_contract")
    assert status == 200 and 'id="case-refusal"' in html and EN in html
    stored = await desk.db.cases.find_one({"_id": case["_id"]})
    assert stored is not None and (stored["refusal"]["code"], stored["refusal"]["label_zh"],
                                   stored["refusal"]["label_en"]) == ("property_contract", ZH, EN)
    # and through the API
    token = await auth.create_token(desk.db, role="dispatcher", unit=DISTRICT, district=DISTRICT,
                                    name="center api", now=desk.clock.now())
    other = await hotline_case(desk, description="Another pothole")
    resp = await center.post(f"/api/v1/cases/{other['_id']}/refuse",
                             json={"reason_code": "property_contract"},
                             headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200 and (await resp.json())["case"]["refusal"]["label_zh"] == ZH
    # reworded and retired: no longer offered, refused by desk and API, old cases still named
    status, page = await post_form(admin, URL, f"{URL}/property_contract", zh=ZH, en="a contract dispute")
    assert status == 200 and "a contract dispute" in page and "(retired)" in page
    third = await hotline_case(desk, description="A third pothole")
    html = await (await center.get(f"/desk/cases/{third['_id']}")).text()
    assert 'value="property_contract"' not in html and 'value="prank"' in html
    status, html = await _post(desk, center, third, "refuse", reason_code="property_contract")
    assert status == 400 and 'id="problem"' in html and "retired" in html
    resp = await center.post(f"/api/v1/cases/{third['_id']}/refuse",
                             json={"reason_code": "property_contract"},
                             headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 400 and "retired" in (await resp.json())["error"]["message"]
    html = await (await center.get(f"/desk/cases/{case['_id']}")).text()
    assert EN in html  # the words stored when it was refused
    # restored
    status, page = await post_form(admin, URL, f"{URL}/property_contract", zh=ZH, en=EN, active="on")
    assert status == 200 and "(retired)" not in page
    entries = [(d["action"], d["target"], d["by"]) async for d in desk.db.audit_log.find({})]
    assert entries == [("refusal_reason.add", "property_contract", "admin")] + [
        ("refusal_reason.update", "property_contract", "admin")] * 2
    retire = await desk.db.audit_log.find_one({"action": "refusal_reason.update"})
    assert retire is not None and retire["detail"]["active"] == "True → False"


async def test_bad_input_csrf_and_other_roles_are_refused(desk: Desk) -> None:
    admin = await desk.signed_in("admin")
    for fields, words in (({"code": "Bad Code", "zh": "甲", "en": "a"}, "code"),
                          ({"code": "fine_code", "zh": "", "en": "a"}, "zh"),
                          ({"code": "prank", "zh": "甲", "en": "a"}, "exists already")):
        status, page = await post_form(admin, URL, URL, **fields)
        assert status in (400, 409) and 'id="problem"' in page and words in page, (fields, status)
    status, page = await post_form(admin, URL, f"{URL}/prank", zh="甲", en="")
    assert status == 400 and "prank: en" in page
    assert (await post_form(admin, URL, f"{URL}/no_such_reason", zh="甲", en="a"))[0] == 404
    token = csrf_of(await (await admin.get(URL)).text())
    resp = await admin.post(URL, data={"csrf": token + "x", "code": "fine_code", "zh": "甲", "en": "a"})
    assert resp.status == 403
    assert await desk.db.refusal_reasons.count_documents({"_id": "fine_code"}) == 0
    assert await desk.db.audit_log.count_documents({}) == 0
    center = await desk.signed_in("center")
    assert (await center.get(URL)).status == 403
    resp = await center.post(URL, data={"csrf": csrf_of(await (await center.get("/desk/unit")).text()),
                                        "code": "fine_code", "zh": "甲", "en": "a"})
    assert resp.status == 403
    assert await desk.db.refusal_reasons.count_documents({"_id": "fine_code"}) == 0


async def test_the_page_speaks_both_languages(desk: Desk) -> None:
    admin = await desk.signed_in("admin")
    await admin.get(f"/desk/locale?to=zh-CN&next={URL}")
    page = await (await admin.get(URL)).text()
    assert "不予立案／作废原因" in page and "新增原因" in page
    await admin.get(f"/desk/locale?to=en&next={URL}")
    page = await (await admin.get(URL)).text()
    assert "Refusal and void reasons" in page and "Add a reason" in page
