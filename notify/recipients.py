"""Who must hear about a case: the assignee unit's members, the chain of command, the center.

Chain of command (DESIGN.md §4): block leader → station head → street center → district
center; a street-surface block goes through its patrol zone, a line department straight to
the district. Each unit level is served by one roster role. A `Directory` caches units and
members for one batch, so a batch of 200 events does not look the same block up 200 times.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cases.model import Actor
from gridlink.db import Database, Document
from notify import repository as repo

ROLE_FOR_LEVEL: dict[str, str] = {
    "community_block": "leader",
    "street_block": "leader",
    "workstation": "station_head",
    "patrol_zone": "station_head",
    "street": "dispatcher",
    "district": "dispatcher",
    "department": "department",
}
# When a unit document is missing, the assignee's `kind` (CONTRACTS.md) still says who serves it.
ROLE_FOR_KIND: dict[str, str] = {
    "block": "leader", "station": "station_head", "street": "dispatcher",
    "district": "dispatcher", "department": "department",
}
CENTER_LEVELS = ("street", "district")
# A department's own first escalation level: its head (then the district center).
DEPARTMENT_HEAD = "department_head"
# Events whose message goes to one audience with one catalog key (the notifier's table).
EVENT_AUDIENCE: dict[str, tuple[str, str]] = {
    "case.deadline_changed": ("assignee", "notify.deadline_changed"),
}


@dataclass(frozen=True)
class Recipient:
    chat_id: int
    locale: str | None
    unit: str | None
    role: str
    name: str = ""
    user_id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"chat_id": self.chat_id, "user_id": self.user_id, "unit": self.unit,
                "role": self.role, "name": self.name}

    def actor(self) -> Actor:
        """The recipient as the workflow table's actor (which buttons it may press)."""
        return Actor(role=self.role, unit=self.unit, user_id=self.user_id)


def _recipient(member: Document) -> Recipient:
    return Recipient(chat_id=int(member["chat_id"]), locale=member.get("locale"),
                     unit=member.get("unit"), role=str(member.get("role", "")),
                     name=str(member.get("name") or ""), user_id=member.get("user_id"))


class Directory:
    """Units and roster members, looked up once per batch."""

    def __init__(self, db: Database, *, district: str) -> None:
        self.db = db
        self.district = district
        self._units: dict[str, Document | None] = {}
        self._members: dict[tuple[str, str], list[Recipient]] = {}
        self._locales: dict[int, str | None] = {}

    async def unit(self, code: str | None) -> Document | None:
        if not code:
            return None
        if code not in self._units:
            self._units[code] = await repo.get_unit(self.db, code=code)
        return self._units[code]

    async def member_locale(self, user_id: int) -> str | None:
        """The roster language of a user (a reporter whose report stored none)."""
        if user_id not in self._locales:
            self._locales[user_id] = await repo.member_locale(self.db, user_id=user_id)
        return self._locales[user_id]

    async def chain(self, code: str | None) -> list[str]:
        """`code` and every unit above it, up to the district (bounded against cycles)."""
        out: list[str] = []
        while code and code not in out and len(out) < 10:
            out.append(code)
            unit = await self.unit(code)
            code = unit.get("parent") if unit else None
        if self.district not in out and out:
            out.append(self.district)
        return out

    async def members(self, code: str | None, *, kind: str | None = None) -> list[Recipient]:
        """Reachable members of a unit, in the role its level calls for."""
        if not code:
            return []
        unit = await self.unit(code)
        role = ROLE_FOR_LEVEL.get(str(unit.get("level"))) if unit else None
        role = role or ROLE_FOR_KIND.get(kind or "") or (
            "dispatcher" if code == self.district else None)
        if role is None:
            return []
        return await self.in_role(code, role)

    async def first_with_members(self, codes: list[str]) -> list[Recipient]:
        """The members of the first unit in `codes` that has any (so a message reaches someone)."""
        for code in codes:
            found = await self.members(code)
            if found:
                return found
        return []

    async def assignee(self, case: Document) -> list[Recipient]:
        """The assignee unit's members; when it has nobody bound, the next level up."""
        assignee = case.get("assignee") or {}
        unit = assignee.get("unit")
        found = await self.members(unit, kind=assignee.get("kind"))
        if found:
            return found
        return await self.first_with_members((await self.chain(unit))[1:])

    async def center_code(self, *, case: Document | None = None, unit: str | None = None) -> str:
        """The street center over the case (or unit), else the district center."""
        if case is not None:
            street = (case.get("placement") or {}).get("street")
            if street:
                return str(street)
            unit = (case.get("assignee") or {}).get("unit")
        for code in await self.chain(unit):
            found = await self.unit(code)
            if found and found.get("level") == "street":
                return code
        return self.district

    async def center(self, *, case: Document | None = None, unit: str | None = None
                     ) -> list[Recipient]:
        """Dispatchers of the center responsible for the case (or unit); the district's if none."""
        code = await self.center_code(case=case, unit=unit)
        return await self.first_with_members([code, self.district])

    async def escalation_targets(self, case: Document) -> list[str]:
        """The levels above the assignee, nearest first: station head, street center, district."""
        unit = (case.get("assignee") or {}).get("unit")
        chain = await self.chain(unit)
        return chain[1:]

    async def audience(self, who: str, case: Document) -> list[Recipient]:
        """The recipients `EVENT_AUDIENCE` names for a case: its assignee or its center."""
        return await (self.assignee(case) if who == "assignee" else self.center(case=case))

    async def in_role(self, code: str | None, role: str) -> list[Recipient]:
        """Reachable members of a unit in one given role."""
        if not code:
            return []
        key = (code, role)
        if key not in self._members:
            found = await repo.reachable_members(self.db, unit=code, roles=[role])
            self._members[key] = [_recipient(m) for m in found]
        return self._members[key]

    async def escalation_levels(self, case: Document, owner: str) -> list[tuple[str, str]]:
        """The (unit, role) levels above a step's owner, nearest first.

        The assignee's handling: a block goes station head → street center → district center,
        a department to its head, then the district center. The center's own steps (dispatch,
        extension, verification, re-dispatch): the street center's step goes to the district."""
        if owner == "center":
            code = await self.center_code(case=case)
            return [] if code == self.district else [(self.district, "dispatcher")]
        assignee = case.get("assignee") or {}
        unit = assignee.get("unit")
        found = await self.unit(unit)
        if assignee.get("kind") == "department" or (found or {}).get("level") == "department":
            return [(str(unit), DEPARTMENT_HEAD), (self.district, "dispatcher")]
        levels = []
        for code in (await self.chain(unit))[1:]:
            level = await self.unit(code)
            role = ROLE_FOR_LEVEL.get(str((level or {}).get("level"))) or (
                "dispatcher" if code == self.district else None)
            if role:
                levels.append((code, role))
        return levels

    async def reach(self, levels: list[tuple[str, str]]) -> list[Recipient]:
        """The members of the first level that has any (nobody bound there: the next one up)."""
        for code, role in levels:
            found = await self.in_role(code, role)
            if found:
                return found
        return []
