"""Refusal and void reasons kept by admins (issue 22): seeded with the defaults, added, reworded
and retired (never renamed or deleted); lifecycle.refuse takes only an active one and stores
its words on the case, which the reporter is told; the REST routes for staff and admins."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cases import lifecycle, refusals
from cases.errors import BadCaseInput
from cases.model import REFUSAL_REASONS
from cases.repository import ensure_indexes
from gridlink.clock import FakeClock
from gridlink.db import Database
from notify.config import NotifyConfig
from tests.cases.conftest import CENTER, NewCase, Tokens, bearer
from tests.notify.conftest import cfg, district  # noqa: F401  (fixtures for the outbox test)

Client = TestClient[Any, Any]
V1 = "/api/v1"
CONTRACT = {"code": "property_contract", "zh": "属于物业服务合同纠纷",
            "en": "it is a dispute under a property-management contract"}


async def test_the_defaults_are_seeded_and_an_admins_words_survive_a_restart(
        db: Database, clock: FakeClock) -> None:
    stored = await refusals.list_reasons(db)
    assert {d["_id"]: (d["zh"], d["en"]) for d in stored} == REFUSAL_REASONS
    assert all(d["active"] for d in stored)
    prank = refusals.parse_reason({"code": "prank", "zh": "恶作剧", "en": "it was a prank",
                                   "active": False})
    await refusals.put_reason(db, reason=prank, now=clock.now(), by="admin")
    await db.refusal_reasons.delete_one({"_id": "duplicate_of_closed"})
    await ensure_indexes(db)  # a restart: the missing default comes back, the edit stays
    by_code = {d["_id"]: d for d in await refusals.list_reasons(db)}
    assert by_code["prank"]["en"] == "it was a prank" and by_code["prank"]["active"] is False
    assert by_code["duplicate_of_closed"]["zh"] == REFUSAL_REASONS["duplicate_of_closed"][0]
    assert "prank" not in {d["_id"] for d in await refusals.list_reasons(db, include_inactive=False)}


@pytest.mark.parametrize("data, field", [
    ({"code": "Bad Code", "zh": "甲", "en": "a"}, "code"),
    ({"code": "fine_code", "zh": "  ", "en": "a"}, "zh"),
    ({"code": "fine_code", "zh": "甲", "en": "x" * 121}, "en"),
    ({"code": "fine_code", "zh": "甲", "en": "a", "colour": "red"}, "colour"),
])
def test_bad_reasons_are_refused_naming_the_field(data: dict[str, Any], field: str) -> None:
    with pytest.raises(BadCaseInput) as caught:
        refusals.parse_reason(data)
    assert caught.value.message.startswith(field)


async def test_refuse_takes_an_added_reason_stores_its_words_and_not_a_retired_one(
        db: Database, clock: FakeClock, new_case: NewCase) -> None:
    added = refusals.parse_reason(CONTRACT)
    await refusals.put_reason(db, reason=added, now=clock.now(), by="admin")
    case = await new_case()
    done = await lifecycle.refuse(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                  action="refuse", reason_code="property_contract")
    assert done["refusal"] | {"code": "property_contract", "label_zh": CONTRACT["zh"],
                              "label_en": CONTRACT["en"]} == done["refusal"]
    # the reporter is told the words stored on the case, even after the admin rewords it
    reworded = refusals.parse_reason({**CONTRACT, "en": "something else", "active": False})
    await refusals.put_reason(db, reason=reworded, now=clock.now(), by="admin")
    assert refusals.words_of(done["refusal"], "property_contract", "en") == CONTRACT["en"]
    assert refusals.words_of(done["refusal"], "property_contract", "zh-CN") == CONTRACT["zh"]
    # a case refused before the words were stored: the default list's words
    assert refusals.words_of({"code": "prank"}, "prank", "en") == REFUSAL_REASONS["prank"][1]
    other = await new_case(description="Another pothole")
    with pytest.raises(BadCaseInput, match="'property_contract' is retired") as caught:
        await lifecycle.refuse(db, case_ref=other["_id"], actor=CENTER, now=clock.now(),
                               action="refuse", reason_code="property_contract")
    assert "not_in_jurisdiction" in caught.value.message  # names the valid codes
    stored = await db.cases.find_one({"_id": other["_id"]})
    assert stored is not None and stored["state"] == "reported"


async def test_the_routes_list_and_change_reasons_for_admins_only(
        client: Client, tokens: Tokens, new_case: NewCase) -> None:
    url = f"{V1}/refusal-reasons"
    body = {"zh": CONTRACT["zh"], "en": CONTRACT["en"], "active": True}
    assert (await client.put(f"{url}/property_contract", json=body,
                             headers=bearer(tokens["center"]))).status == 403
    assert (await client.get(url)).status == 401
    for bad, field in (({**body, "zh": ""}, "zh"), ({"zh": "甲"}, "en"),
                       ({**body, "why": 1}, "why")):
        resp = await client.put(f"{url}/property_contract", json=bad, headers=bearer(tokens["admin"]))
        answer = await resp.json()
        assert resp.status == 400 and answer["error"]["message"].startswith(field), answer
    resp = await client.put(f"{url}/Not-A-Code", json=body, headers=bearer(tokens["admin"]))
    assert resp.status == 400 and "code" in (await resp.json())["error"]["message"]
    resp = await client.put(f"{url}/property_contract", json=body, headers=bearer(tokens["admin"]))
    assert resp.status == 200 and (await resp.json())["reason"] == {**CONTRACT, "active": True}
    listed = await (await client.get(url, headers=bearer(tokens["center"]))).json()
    assert [r["code"] for r in listed["reasons"]] == sorted([*REFUSAL_REASONS, "property_contract"])
    # the center refuses with it; once retired it is a clear 400 naming the valid codes
    case = await new_case()
    resp = await client.post(f"{V1}/cases/{case['_id']}/refuse",
                             json={"reason_code": "property_contract"},
                             headers=bearer(tokens["center"]))
    refused = (await resp.json())["case"]
    assert resp.status == 200 and refused["refusal"]["label_en"] == CONTRACT["en"]
    await client.put(f"{url}/property_contract", json={**body, "active": False},
                     headers=bearer(tokens["admin"]))
    other = await new_case(description="Another pothole")
    resp = await client.post(f"{V1}/cases/{other['_id']}/refuse",
                             json={"reason_code": "property_contract"},
                             headers=bearer(tokens["center"]))
    error = (await resp.json())["error"]
    assert resp.status == 400 and "retired" in error["message"] and "prank" in error["message"]


async def test_the_reporter_is_told_the_added_reasons_words_in_their_language(
        district: Database, cfg: NotifyConfig, clock: FakeClock) -> None:  # noqa: F811
    """Through the notifier into the reporter's outbox: the words stored when the case was
    refused, even after the admin rewords the reason."""
    from cases.intake import intake
    from cases.model import CasePolicy
    from notify import notifier
    from notify.repository import OUTBOX_SHARDS
    from tests.notify.conftest import BLOCK, DISTRICT, STATION, STREET

    db = district
    await refusals.put_reason(db, reason=refusals.parse_reason(CONTRACT), now=clock.now(), by="a")
    policy = CasePolicy(district=DISTRICT, serial_prefix="A", timezone="Asia/Shanghai")
    placement = {"community_block": BLOCK, "street_block": None, "workstation": STATION,
                 "street": STREET, "patrol_zone": None, "district": DISTRICT, "snapped": False,
                 "distance_m": 0.0}
    center = CENTER.__class__(role="dispatcher", unit=STREET, name="Center Li")
    serials = {}
    for chat, locale in ((5401, "en"), (5402, "zh-CN")):
        opened = await intake(db, policy=policy, now=clock.now(), channel="citizen_bot",
                              kind="complaint", category="group_renting", description="七楼群租",
                              actor={"role": "citizen", "user_id": chat, "chat_id": chat},
                              reporter={"user_id": chat, "chat_id": chat, "locale": locale},
                              location={"lon": 121.48, "lat": 31.23}, placement=placement)
        await lifecycle.refuse(db, case_ref=opened.case["_id"], actor=center, now=clock.now(),
                               action="refuse", reason_code="property_contract")
        serials[chat] = opened.case["serial"]
    reworded = refusals.parse_reason({**CONTRACT, "en": "reworded later", "zh": "之后改写"})
    await refusals.put_reason(db, reason=reworded, now=clock.now(), by="a")
    while await notifier.process_batch(db, cfg, now=clock.now(), worker="w1"):
        pass

    async def told(chat: int) -> str:
        found = await db[f"outbox_{chat % OUTBOX_SHARDS:02d}"].find({"chat_id": chat}).to_list(None)
        [text] = [m["text"] for m in found if serials[chat] in (m.get("text") or "")]
        return str(text)

    assert CONTRACT["en"] in await told(5401)
    assert CONTRACT["zh"] in await told(5402)
