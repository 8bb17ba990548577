"""Line categories route to the grid's own line departments (one department list: grids.units)."""

from __future__ import annotations

import pytest

from cases.categories import DEFAULT_CATEGORIES
from gridlink.db import Database
from grids.units import DEPARTMENTS

NAMES = {code: zh for code, zh, _en in DEPARTMENTS}


def test_every_line_category_names_a_department_of_the_grid() -> None:
    line = [c for c in DEFAULT_CATEGORIES if c.level == "line"]
    assert line
    assert {c.code: c.department for c in line if c.department not in NAMES} == {}


@pytest.mark.parametrize(("category", "department"), [
    ("water_leak", "水务局"), ("manhole_cover", "水务局"), ("gas_leak", "燃气公司"),
    ("fire_hazard", "消防救援支队"), ("traffic_safety", "公安分局交警支队"),
    ("illegal_parking", "公安分局交警支队"), ("street_light", "供电公司"),
    ("school_enrolment", "教育局"), ("social_security", "人力资源和社会保障局"),
    ("emergency", "应急管理局"), ("road_damage", "建设和管理委员会"),
])
def test_a_report_goes_to_the_department_that_handles_it(category: str, department: str) -> None:
    by_code = {c.code: c for c in DEFAULT_CATEGORIES}
    assert NAMES[str(by_code[category].department)] == department


async def test_a_category_stored_before_the_step_notices_keeps_working(db: Database) -> None:
    """Categories seeded before issue 18 have no `notices` nor `extension_hours`: they read,
    re-save and schedule on their urgency's defaults."""
    from datetime import UTC, datetime, timedelta

    from cases import repository as repo
    from cases.categories import (
        DEFAULT_NOTICES,
        Category,
        extension_limit,
        parse_category,
        step_notices,
    )
    from cases.errors import BadCaseInput

    old = {"_id": "old_noise", "name_zh": "噪声", "name_en": "Noise", "layer": "community",
           "level": "block", "department": None, "limit": {"hours": 4}, "urgency": "urgent",
           "dispatch_minutes": 10, "verify_hours": 2.0, "active": True}
    await db.categories.insert_one(old)
    stored = await repo.get_category(db, code="old_noise")
    category = Category.from_doc(stored)
    assert category.notices == {} and category.extension_hours is None
    assert step_notices(stored, "handling") == DEFAULT_NOTICES["urgent"]
    assert extension_limit(stored) == timedelta(hours=1)
    # An admin sets verification's notices; the other steps keep the defaults.
    data = {**category.model_dump(), "extension_hours": 3,
            "notices": {"verification": {"remind_before": {"minutes": 20},
                                         "escalate_after": [{"minutes": 5}, {"minutes": 50}]}}}
    saved = await repo.put_category(db, category=parse_category(data),
                                    now=datetime(2026, 12, 1, tzinfo=UTC), by="admin")
    assert step_notices(saved, "verification").remind_before.minutes == 20
    assert step_notices(saved, "dispatch") == DEFAULT_NOTICES["urgent"]
    assert extension_limit(saved) == timedelta(hours=3)
    assert Category.from_doc(saved) == parse_category(data)
    with pytest.raises(BadCaseInput, match="unknown step 'lunch'"):
        parse_category({**data, "notices": {"lunch": data["notices"]["verification"]}})
    with pytest.raises(BadCaseInput, match="exactly one of minutes or working_days"):
        parse_category({**data, "notices": {"handling": {
            "remind_before": {"minutes": 5, "working_days": 1}, "escalate_after": [{"minutes": 1}]}}})
