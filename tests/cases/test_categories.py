"""Line categories route to the grid's own line departments (one department list: grids.units)."""

from __future__ import annotations

import pytest

from cases.categories import DEFAULT_CATEGORIES
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
