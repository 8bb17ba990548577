"""The category taxonomy as data (DESIGN.md §5, CJ/T 214 and the seed's social matters).

Each category names its grid layer, its handling level (块 `block`: the street center and its
blocks; 条 `line`: a line department), the department for 条 categories, its time limit (clock
hours for urgent matters, working days otherwise), the dispatch limit and the verification
limit. Defaults are seeded into the `categories` collection when it is empty; admins change
them through the API. A case copies the limits it was given, so later edits never move an
existing deadline.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from cases.errors import BadCaseInput


class TimeLimit(BaseModel):
    """Exactly one of `hours` (clock hours, round the clock) or `working_days`."""

    model_config = ConfigDict(extra="forbid")
    hours: float | None = Field(None, gt=0, le=24 * 30)
    working_days: int | None = Field(None, gt=0, le=120)

    @model_validator(mode="after")
    def _exactly_one(self) -> TimeLimit:
        if (self.hours is None) == (self.working_days is None):
            raise ValueError("give exactly one of hours or working_days")
        return self

    def to_dict(self) -> dict[str, float | int]:
        return {"hours": self.hours} if self.hours is not None else {"working_days": self.working_days or 0}


class Offset(BaseModel):
    """How far before or after a step's limit a notice goes: clock minutes (urgent matters)
    or working days (normal ones), exactly one of them."""

    model_config = ConfigDict(extra="forbid")
    minutes: int | None = Field(default=None, ge=0, le=14 * 24 * 60)
    working_days: int | None = Field(default=None, ge=0, le=30)

    @model_validator(mode="after")
    def _exactly_one(self) -> Offset:
        if (self.minutes is None) == (self.working_days is None):
            raise ValueError("give exactly one of minutes or working_days")
        return self


class StepNotices(BaseModel):
    """One step's reminder (before its limit, to its owner) and escalation chain (after it,
    one offset per level above the owner, nearest first)."""

    model_config = ConfigDict(extra="forbid")
    remind_before: Offset
    escalate_after: list[Offset] = Field(min_length=1, max_length=4)


# The steps of a case and who owns each: the center dispatches, decides extensions, verifies
# and re-dispatches a returned case; the assignee handles.
STEPS: tuple[str, ...] = ("dispatch", "handling", "extension", "verification", "redispatch")

_M = Offset(minutes=0)
DEFAULT_NOTICES: dict[str, StepNotices] = {
    # urgent: minutes and hours — 30 min before, then at the limit, +1 h, +4 h up the chain
    "urgent": StepNotices(remind_before=Offset(minutes=30),
                          escalate_after=[_M, Offset(minutes=60), Offset(minutes=240)]),
    # normal: working days — a working day before, then at the limit, +1, +3 working days
    "normal": StepNotices(remind_before=Offset(working_days=1),
                          escalate_after=[Offset(working_days=0), Offset(working_days=1),
                                          Offset(working_days=3)]),
}
DEFAULT_EXTENSION_HOURS = {"urgent": 1.0, "normal": 8.0}


# Where an automatic dispatch sends a case: the routing's proposal (only when it is a block
# or a department), or the leader of the community block / street block it was placed in.
AUTO_TARGETS = ("proposed", "community_block", "street_block")


class AutoDispatch(BaseModel):
    """An opt-in rule: dispatch at intake, with no dispatcher, when the case's placement is
    certain and the target unit has an active member on the roster (cases.autodispatch)."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = False
    to: Literal["proposed", "community_block", "street_block"] = "proposed"


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=r"^[a-z][a-z0-9_]{1,40}$")
    name_zh: str = Field(min_length=1, max_length=40)
    name_en: str = Field(min_length=1, max_length=80)
    layer: Literal["community", "street_surface"]
    level: Literal["block", "line"]
    department: str | None = Field(None, pattern=r"^D\d{2}$")
    limit: TimeLimit
    urgency: Literal["urgent", "normal"] = "normal"
    dispatch_minutes: int = Field(30, gt=0, le=24 * 60)
    verify_hours: float = Field(24, gt=0, le=24 * 14)
    # How long the center has to decide an extension request (None: by urgency).
    extension_hours: float | None = Field(default=None, gt=0, le=24 * 14)
    # Per step (STEPS) reminder and escalation offsets; a step left out follows its urgency's
    # defaults, so categories stored before these fields keep working.
    notices: dict[str, StepNotices] = Field(default_factory=dict)
    # Off unless an admin turns it on; categories stored before it read as off.
    auto_dispatch: AutoDispatch = Field(default_factory=AutoDispatch)
    active: bool = True

    @model_validator(mode="after")
    def _line_needs_department(self) -> Category:
        if self.level == "line" and not self.department:
            raise ValueError("a 条 (line) category needs a department code")
        return self

    @model_validator(mode="after")
    def _known_steps(self) -> Category:
        unknown = sorted(set(self.notices) - set(STEPS))
        if unknown:
            raise ValueError(f"unknown step {unknown[0]!r}; steps are {', '.join(STEPS)}")
        return self

    def to_doc(self) -> dict[str, Any]:
        doc = self.model_dump()
        doc["_id"] = doc.pop("code")
        doc["limit"] = self.limit.to_dict()
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Category:
        data = {k: v for k, v in doc.items() if k not in ("_id", "updated_at", "updated_by")}
        return cls(code=doc["_id"], **data)


def step_notices(doc: Mapping[str, Any] | None, step: str) -> StepNotices:
    """A stored category's notices for one step (its urgency's defaults where it sets none,
    or where a stored value no longer validates)."""
    urgency = str((doc or {}).get("urgency") or "normal")
    stored = ((doc or {}).get("notices") or {}).get(step)
    if stored:
        try:
            return StepNotices.model_validate(stored)
        except ValidationError:
            pass
    return DEFAULT_NOTICES.get(urgency, DEFAULT_NOTICES["normal"])


def extension_limit(doc: Mapping[str, Any] | None) -> timedelta:
    """How long the center has to decide an extension request of a case of this category."""
    hours = (doc or {}).get("extension_hours")
    if not hours:
        hours = DEFAULT_EXTENSION_HOURS.get(str((doc or {}).get("urgency") or "normal"), 8.0)
    return timedelta(hours=float(hours))


def parse_category(data: dict[str, Any]) -> Category:
    try:
        return Category(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "category"
        raise BadCaseInput(f"{where}: {first['msg']}", errors=[
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]) from None


def _c(code: str, zh: str, en: str, layer: str, level: str, dept: str | None,
       *, hours: float | None = None, days: int | None = None, urgent: bool = False,
       verify_hours: float | None = None) -> Category:
    return Category(
        code=code, name_zh=zh, name_en=en, layer=layer, level=level, department=dept,  # type: ignore[arg-type]
        limit=TimeLimit(hours=hours, working_days=days), urgency="urgent" if urgent else "normal",
        dispatch_minutes=10 if urgent else 30, verify_hours=verify_hours or (2 if urgent else 24),
    )


# Time limits follow DESIGN.md §8 practice: urgent hazards in hours (a missing manhole cover
# within 6 h), 12345 inquiries in 3 and complaints in 13 working days.
DEFAULT_CATEGORIES: tuple[Category, ...] = (
    # 部件 components / urgent hazards
    _c("manhole_cover", "窨井盖缺失", "Missing or broken manhole cover", "street_surface", "line", "D15", hours=6, urgent=True),
    _c("water_leak", "供水管道漏水", "Water main leak", "street_surface", "line", "D15", hours=12, urgent=True),
    _c("gas_leak", "燃气泄漏隐患", "Gas leak hazard", "community", "line", "D23", hours=2, urgent=True),
    _c("fire_hazard", "消防安全隐患", "Fire safety hazard", "community", "line", "D09", hours=24, urgent=True),
    _c("traffic_safety", "交通安全隐患", "Traffic safety hazard", "street_surface", "line", "D08", hours=24, urgent=True),
    _c("emergency", "突发事件", "Emergency incident", "street_surface", "line", "D16", hours=2, urgent=True),
    _c("public_security", "治安隐患", "Public security problem", "community", "line", "D01", hours=24, urgent=True),
    _c("street_light", "路灯故障", "Street light out", "street_surface", "line", "D22", days=3),
    _c("road_damage", "道路破损", "Damaged road or pavement", "street_surface", "line", "D07", days=5),
    _c("municipal_facilities", "市政设施损坏", "Damaged municipal facilities", "street_surface", "line", "D07", days=5),
    _c("greenery_damage", "绿化损坏", "Damaged greenery", "street_surface", "line", "D05", days=5),
    # 事件 events: city appearance, street order, construction
    _c("exposed_garbage", "暴露垃圾", "Exposed garbage", "street_surface", "block", None, days=1),
    _c("street_vending", "无序设摊", "Unlicensed street vending", "street_surface", "block", None, days=1),
    _c("illegal_ads", "乱张贴乱涂写", "Illegal posters and graffiti", "street_surface", "block", None, days=2),
    _c("illegal_parking", "乱停车", "Illegal parking", "street_surface", "line", "D08", days=2),
    _c("construction_site", "施工管理", "Construction site management", "street_surface", "line", "D07", days=5),
    _c("construction_noise", "施工噪声扰民", "Construction noise", "community", "line", "D06", days=3),
    _c("pollution", "环境污染", "Environmental pollution", "community", "line", "D06", days=5),
    _c("illegal_construction", "违法建筑", "Illegal construction", "community", "line", "D02", days=15),
    # the seed's social-governance matters
    _c("group_renting", "群租", "Group renting", "community", "block", None, days=10),
    _c("six_small_venues", "无证六小场所", "Unlicensed \"six small\" venues", "community", "line", "D03", days=10),
    _c("population", "人口管理", "Population registration", "community", "block", None, days=5),
    _c("social_security", "社会保障", "Social security", "community", "line", "D13", days=13),
    _c("food_hygiene", "食品卫生", "Food hygiene", "community", "line", "D03", days=5),
    _c("property_repair", "物业维修", "Property repair", "community", "block", None, days=13),
    _c("community_sanitation", "小区环境卫生", "Residential area sanitation", "community", "block", None, days=2),
    _c("neighbour_dispute", "邻里纠纷", "Neighbour dispute", "community", "block", None, days=13),
    _c("hardship_help", "困难求助", "Help for people in hardship", "community", "line", "D12", days=5),
    _c("school_enrolment", "入学咨询", "School enrolment", "community", "line", "D11", days=3),
    _c("policy_consultation", "政策咨询", "Policy consultation", "community", "block", None, days=3),
    _c("other", "其他", "Other", "community", "block", None, days=13),
)
