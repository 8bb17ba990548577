"""The chain of command above a block: who is told, level by level, when a case stalls.

block leader(s) → station head(s) of the workstation (of the patrol zone, for a street
block) → dispatchers of the street/town center → dispatchers of the district center.
Pure: callers pass the units and the roster entries they loaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from grids.errors import UnitNotFound
from grids.units import (
    COMMUNITY_BLOCK,
    DISTRICT,
    PATROL_ZONE,
    STREET,
    STREET_BLOCK,
    WORKSTATION,
)

# (level in the chain, unit level, roster role bound to that unit)
_STEPS: dict[str, tuple[str, str]] = {
    COMMUNITY_BLOCK: ("block", "leader"),
    STREET_BLOCK: ("block", "leader"),
    WORKSTATION: ("station", "station_head"),
    PATROL_ZONE: ("station", "station_head"),
    STREET: ("street", "dispatcher"),
    DISTRICT: ("district", "dispatcher"),
}


@dataclass(frozen=True)
class ChainLevel:
    level: str  # block | station | street | district
    unit: str
    role: str
    members: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, object]:
        return {"level": self.level, "unit": self.unit, "role": self.role,
                "members": [{k: m.get(k) for k in ("user_id", "chat_id", "name", "locale")}
                            for m in self.members]}


def chain_units(block: str, units: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """The codes from the block up to the district."""
    if block not in units:
        raise UnitNotFound(f"no unit {block}")
    if units[block]["level"] not in (COMMUNITY_BLOCK, STREET_BLOCK):
        raise UnitNotFound(f"{block} is a {units[block]['level']}, not a block")
    out = [block]
    parent = units[block].get("parent")
    while parent is not None and parent in units:
        out.append(parent)
        parent = units[parent].get("parent")
    return out


def chain_of_command(block: str, units: Mapping[str, Mapping[str, Any]],
                     roster: Iterable[Mapping[str, Any]]) -> list[ChainLevel]:
    """Each level from the block up, with the roster entries holding that level's role there.
    Levels nobody holds are kept (with no members) so callers can skip to the next one."""
    codes = chain_units(block, units)
    by_unit_role: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for entry in roster:
        by_unit_role.setdefault((entry["unit"], entry["role"]), []).append(dict(entry))
    out = []
    for code in codes:
        step = _STEPS.get(units[code]["level"])
        if step is None:
            continue
        level, role = step
        members = sorted(by_unit_role.get((code, role), []), key=lambda m: (m.get("name") or "", m["user_id"]))
        out.append(ChainLevel(level=level, unit=code, role=role, members=members))
    return out
