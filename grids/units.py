"""The unit hierarchy: levels, layers, which level may be whose parent, and the line departments."""

from __future__ import annotations

from typing import Any, Final

Unit = dict[str, Any]
"""A unit as stored (without `_id`/`version`): code, level, layer, name_zh, name_en, parent,
kind?, geometry? (GeoJSON, WGS-84 lon/lat)."""

DISTRICT: Final = "district"
STREET: Final = "street"
WORKSTATION: Final = "workstation"
COMMUNITY_BLOCK: Final = "community_block"
PATROL_ZONE: Final = "patrol_zone"
STREET_BLOCK: Final = "street_block"
DEPARTMENT: Final = "department"

LEVELS: Final = (DISTRICT, STREET, WORKSTATION, COMMUNITY_BLOCK, PATROL_ZONE, STREET_BLOCK,
                 DEPARTMENT)

# The level each level's parent must have (the district has none).
PARENT_LEVEL: Final[dict[str, str | None]] = {
    DISTRICT: None,
    STREET: DISTRICT,
    WORKSTATION: STREET,
    COMMUNITY_BLOCK: WORKSTATION,
    PATROL_ZONE: STREET,
    STREET_BLOCK: PATROL_ZONE,
    DEPARTMENT: DISTRICT,
}

LAYER: Final[dict[str, str]] = {
    DISTRICT: "admin",
    STREET: "admin",
    DEPARTMENT: "admin",
    WORKSTATION: "community",
    COMMUNITY_BLOCK: "community",
    PATROL_ZONE: "street_surface",
    STREET_BLOCK: "street_surface",
}

# Levels that carry their own polygon; every other level's geometry is the union of its blocks.
BLOCK_LEVELS: Final = (COMMUNITY_BLOCK, STREET_BLOCK)

WORKSTATION_KINDS: Final = ("residential", "village", "enterprise")

# The district's line departments (条线部门), added to an imported grid that lists none.
DEPARTMENTS: Final[tuple[tuple[str, str, str], ...]] = (
    ("D01", "公安分局", "Public Security Bureau (police)"),
    ("D02", "城管执法局", "City Management and Law Enforcement Bureau"),
    ("D03", "市场监督管理局", "Market Regulation Administration"),
    ("D04", "房屋管理局", "Housing Administration Bureau"),
    ("D05", "绿化和市容管理局", "Greening and City Appearance Bureau"),
    ("D06", "生态环境局", "Ecology and Environment Bureau"),
    ("D07", "建设和管理委员会", "Construction and Management Commission"),
    ("D08", "公安分局交警支队", "Traffic Police Detachment"),
    ("D09", "消防救援支队", "Fire and Rescue Detachment"),
    ("D10", "卫生健康委员会", "Health Commission"),
    ("D11", "教育局", "Education Bureau"),
    ("D12", "民政局", "Civil Affairs Bureau"),
    ("D13", "人力资源和社会保障局", "Human Resources and Social Security Bureau"),
    ("D14", "规划和自然资源局", "Planning and Natural Resources Bureau"),
    ("D15", "水务局", "Water Affairs Bureau"),
    ("D16", "应急管理局", "Emergency Management Bureau"),
    ("D17", "文化和旅游局", "Culture and Tourism Bureau"),
    ("D18", "商务委员会", "Commerce Commission"),
    ("D19", "司法局", "Justice Bureau"),
    ("D20", "信访办公室", "Letters and Calls Office"),
    ("D21", "人口管理办公室", "Population Management Office"),
    ("D22", "供电公司", "Power Supply Company"),
    ("D23", "燃气公司", "Gas Supply Company"),
)


def department_units(district: str) -> list[Unit]:
    return [{"code": code, "level": DEPARTMENT, "layer": LAYER[DEPARTMENT], "name_zh": zh,
             "name_en": en, "parent": district} for code, zh, en in DEPARTMENTS]
