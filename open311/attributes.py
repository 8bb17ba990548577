"""Extra data some services ask for (the spec's service definition `attributes`), as data.

Kept beside the Open311 layer, keyed by category code, so the case taxonomy stays the
cases package's own; a category without an entry has no attributes (`metadata: false`).
Values arrive as `attribute[code]=value` (repeated for multivaluelist) and are validated
here before intake; the case keeps them in its intake data as {code: value}.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from open311.errors import BadRequestInput

Datatype = Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]


@dataclass(frozen=True)
class Value:
    key: str
    name_zh: str
    name_en: str


@dataclass(frozen=True)
class Attribute:
    code: str
    datatype: Datatype
    required: bool
    order: int
    description_zh: str
    description_en: str
    variable: bool = True
    datatype_description_zh: str = ""
    datatype_description_en: str = ""
    values: tuple[Value, ...] = field(default_factory=tuple)

    def to_spec(self, locale: str) -> dict[str, object]:
        en = locale == "en"
        return {
            "variable": self.variable,
            "code": self.code,
            "datatype": self.datatype,
            "required": self.required,
            "datatype_description": (self.datatype_description_en if en
                                     else self.datatype_description_zh) or None,
            "order": self.order,
            "description": self.description_en if en else self.description_zh,
            "values": [{"key": v.key, "name": v.name_en if en else v.name_zh} for v in self.values],
        }


def _v(key: str, zh: str, en: str) -> Value:
    return Value(key, zh, en)


ATTRIBUTES: dict[str, tuple[Attribute, ...]] = {
    "manhole_cover": (
        Attribute("cover_state", "singlevaluelist", True, 1, "井盖状况", "State of the cover",
                  values=(_v("missing", "缺失", "missing"), _v("broken", "破损", "broken"),
                          _v("sunken", "下沉/不平", "sunken or uneven"))),
        Attribute("in_carriageway", "singlevaluelist", False, 2, "是否位于机动车道",
                  "Is it in the carriageway?",
                  values=(_v("yes", "是", "yes"), _v("no", "否", "no"))),
    ),
    "street_light": (
        Attribute("pole_number", "string", False, 1, "灯杆编号", "Pole number",
                  datatype_description_zh="灯杆上的编号牌", datatype_description_en="the number plate on the pole"),
        Attribute("lights_out", "number", False, 2, "不亮的灯数", "How many lights are out"),
    ),
    "road_damage": (
        Attribute("size", "singlevaluelist", True, 1, "破损面积", "Size of the damage",
                  values=(_v("small", "小于1平方米", "under 1 m²"), _v("medium", "1–5平方米", "1–5 m²"),
                          _v("large", "大于5平方米", "over 5 m²"))),
    ),
    "illegal_parking": (
        Attribute("plate", "string", False, 1, "车牌号", "Licence plate"),
        Attribute("blocking", "multivaluelist", False, 2, "阻挡了什么", "What it blocks",
                  values=(_v("fire_lane", "消防通道", "fire lane"), _v("sidewalk", "人行道", "sidewalk"),
                          _v("bus_stop", "公交站", "bus stop"), _v("driveway", "出入口", "driveway"))),
    ),
    "group_renting": (
        Attribute("residents", "number", False, 1, "估计居住人数", "Estimated number of residents"),
        Attribute("room", "string", False, 2, "门牌/室号", "Building and room number"),
    ),
    "fire_hazard": (
        Attribute("hazard_type", "singlevaluelist", True, 1, "隐患类型", "Type of hazard",
                  values=(_v("blocked_exit", "堵塞安全出口", "blocked fire exit"),
                          _v("ebike_charging", "电动车违规充电", "e-bike charging indoors"),
                          _v("wiring", "私拉乱接电线", "unsafe wiring"),
                          _v("other", "其他", "other"))),
    ),
    "construction_noise": (
        Attribute("observed_at", "datetime", False, 1, "噪声发生时间", "When the noise was heard",
                  datatype_description_zh="ISO 8601 日期时间", datatype_description_en="ISO 8601 date and time"),
    ),
}


def for_category(code: str) -> tuple[Attribute, ...]:
    return ATTRIBUTES.get(code, ())


def validate(code: str, given: Mapping[str, Sequence[str]]) -> dict[str, str | float | list[str]]:
    """The attribute values for category `code` from the form's `attribute[...]` fields.

    Unknown attributes, missing required ones, numbers that are not numbers and list values
    outside their list are refused with the attribute's code in the message.
    """
    defs = {a.code: a for a in for_category(code)}
    unknown = sorted(set(given) - set(defs))
    if unknown:
        raise BadRequestInput(f"attribute[{unknown[0]}] is not an attribute of service {code}")
    out: dict[str, str | float | list[str]] = {}
    for attr in sorted(defs.values(), key=lambda a: a.order):
        raw = [v.strip() for v in given.get(attr.code, ()) if v.strip()]
        if not raw:
            if attr.required:
                raise BadRequestInput(f"attribute[{attr.code}] is required for service {code}")
            continue
        keys = {v.key for v in attr.values}
        if attr.datatype == "multivaluelist":
            bad = [v for v in raw if v not in keys]
            if bad:
                raise BadRequestInput(f"attribute[{attr.code}]: {bad[0]!r} is not one of {sorted(keys)}")
            out[attr.code] = list(dict.fromkeys(raw))
            continue
        if len(raw) > 1:
            raise BadRequestInput(f"attribute[{attr.code}] takes one value")
        value = raw[0]
        if attr.datatype == "singlevaluelist" and value not in keys:
            raise BadRequestInput(f"attribute[{attr.code}]: {value!r} is not one of {sorted(keys)}")
        if attr.datatype == "number":
            try:
                number = float(value)
            except ValueError:
                raise BadRequestInput(f"attribute[{attr.code}] must be a number") from None
            if number != number or number in (float("inf"), float("-inf")):
                raise BadRequestInput(f"attribute[{attr.code}] must be a finite number")
            out[attr.code] = number
            continue
        if attr.datatype == "datetime":
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
            except ValueError:
                raise BadRequestInput(f"attribute[{attr.code}] must be an ISO 8601 date-time") from None
        if len(value) > 2000:
            raise BadRequestInput(f"attribute[{attr.code}] is too long")
        out[attr.code] = value
    return out
