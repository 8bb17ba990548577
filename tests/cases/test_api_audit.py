"""Administration through the API is in the same audit log as the desk's (issue 23: who changed
what): categories, refusal reasons (added, then changed) and calendar years entered or deleted,
each with the token's name; refused changes write nothing."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.settings import Settings
from staff import audit
from tests.cases.conftest import Tokens, bearer

Client = TestClient[Any, Any]


async def test_admin_changes_through_the_api_are_audited(client: Client, tokens: Tokens,
                                                          db: Database, clock: FakeClock,
                                                          settings: Settings) -> None:
    admin = bearer(tokens["admin"])
    cats = {c["code"]: c for c in (await (await client.get("/api/v1/categories", headers=admin)).json())["categories"]}
    change = {**{k: v for k, v in cats["road_damage"].items() if k != "code"}, "limit": {"working_days": 1}}
    assert (await client.put("/api/v1/categories/road_damage", json=change,
                             headers=bearer(tokens["center"]))).status == 403
    assert (await client.put("/api/v1/categories/road_damage", json=change, headers=admin)).status == 200
    reason = {"zh": "属于物业服务合同纠纷", "en": "a property-management dispute", "active": True}
    for body in (reason, {**reason, "active": False}):
        assert (await client.put("/api/v1/refusal-reasons/property_contract", json=body,
                                 headers=admin)).status == 200
    year = {"holidays": [{"date": "2027-01-01", "name": "元旦"}], "workdays": []}
    assert (await client.put("/api/v1/calendar/2027", json=year, headers=admin)).status == 200
    assert (await client.delete("/api/v1/calendar/2027", headers=admin)).status == 200
    assert (await client.delete("/api/v1/calendar/2027", headers=admin)).status == 404

    logged = await audit.entries_of(db, day=clock.now().astimezone(settings.tz).date())
    assert [(e["action"], e["target"], e["by"]) for e in reversed(logged)] == [
        ("category.update", "road_damage", "admin"),
        ("refusal_reason.add", "property_contract", "admin"),
        ("refusal_reason.update", "property_contract", "admin"),
        ("calendar.enter", "2027", "admin"),
        ("calendar.delete", "2027", "admin")]
    assert logged[2]["detail"] == {"via": "api", "active": "True → False"}
