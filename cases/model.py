"""The case vocabulary: channels, kinds, states, actors and the policy knobs from settings."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Literal
from zoneinfo import ZoneInfo

from cases.errors import BadCaseInput

CHANNELS: tuple[str, ...] = (
    "patrol_bot", "citizen_bot", "hotline_962000", "hotline_12345", "transfer_110",
    "mayor_mailbox", "party_mailbox", "web_portal", "open311",
)
KINDS: tuple[str, ...] = ("hazard", "consultation", "complaint", "help", "suggestion")

State = Literal["reported", "dispatched", "in_progress", "awaiting_verification", "returned",
                "closed", "merged", "suspended", "refused", "voided"]
STATES: tuple[str, ...] = ("reported", "dispatched", "in_progress", "awaiting_verification",
                           "returned", "closed", "merged", "suspended", "refused", "voided")
OPEN_STATES: tuple[str, ...] = ("reported", "dispatched", "in_progress",
                                "awaiting_verification", "returned")
# 挂账: neither open (no step runs, never red) nor final (it comes back at its review date).
SUSPENDED_STATES: tuple[str, ...] = ("suspended",)
# 不予立案 (refused at intake) and 作废 (voided later): ended without being handled.
REFUSED_STATES: tuple[str, ...] = ("refused", "voided")
FINAL_STATES: tuple[str, ...] = ("closed", "merged", *REFUSED_STATES)

# Why a report is not accepted or voided: code → (zh, en). The center picks one; the reporter
# is told its words. These seed the admin-kept list (cases.refusals), which admins extend.
REFUSAL_REASONS: dict[str, tuple[str, str]] = {
    "not_in_jurisdiction": ("不属于本区受理范围", "it is outside our jurisdiction"),
    "duplicate_of_closed": ("与已办结的案件重复", "it repeats a case already closed"),
    "insufficient_information": ("信息不足，无法核实", "there is not enough information to act on"),
    "prank": ("经核实为无效报告", "it was found not to be a genuine report"),
}

# 满意 5, 较满意 4, 一般 3, 较差 2, 差 1 (DESIGN.md §4)
RATINGS: dict[int, tuple[str, str]] = {
    5: ("满意", "satisfied"), 4: ("较满意", "fairly satisfied"), 3: ("一般", "neutral"),
    2: ("较差", "fairly dissatisfied"), 1: ("差", "dissatisfied"),
}

CENTER_ROLES = ("dispatcher", "admin")
HANDLER_ROLES = ("department", "leader", "station_head", "dispatcher", "admin")


@dataclass(frozen=True)
class Actor:
    """Who acts: a staff token's principal, a roster member from the bot, a citizen or the system.

    `role` is one of admin, dispatcher, department, leader, station_head, coordinator,
    citizen, system. Bot passes a dict `{"role", "unit"?, "user_id"?, "chat_id"?, "name"?,
    "locale"?}`; the locale is stored with a reporter so follow-ups speak their language.
    """

    role: str
    unit: str | None = None
    name: str = ""
    user_id: int | None = None
    chat_id: int | None = None
    locale: str | None = None

    @classmethod
    def of(cls, value: Actor | Mapping[str, Any]) -> Actor:
        if isinstance(value, Actor):
            return value
        if not isinstance(value, Mapping) or not value.get("role"):
            raise BadCaseInput("an actor needs at least a role")
        return cls(role=str(value["role"]), unit=value.get("unit"), name=str(value.get("name") or ""),
                   user_id=value.get("user_id"), chat_id=value.get("chat_id"),
                   locale=value.get("locale"))

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v not in (None, "") and k != "locale"}


SYSTEM = Actor(role="system", name="gridlink")


@dataclass(frozen=True)
class CasePolicy:
    """Settings the lifecycle needs, passed in so the domain never reads the environment."""

    district: str = "310101"
    serial_prefix: str = "A"
    timezone: str = "Asia/Shanghai"
    yellow_fraction: float = 0.25

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @classmethod
    def from_settings(cls, settings: Any) -> CasePolicy:
        return cls(district=settings.district_code, serial_prefix=settings.serial_prefix,
                   timezone=settings.timezone,
                   yellow_fraction=getattr(settings, "colour_yellow_fraction", 0.25))
