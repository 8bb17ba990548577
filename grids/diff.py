"""What a new grid version changes against the active one, before it becomes active: units
added, removed, and renamed or moved (name, level or parent changed). Geometry is not
compared here: a block redrawn under the same code keeps its code, bindings and cases."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

COMPARED = ("name_zh", "name_en", "level", "parent")


@dataclass
class GridDiff:
    added: list[Mapping[str, Any]] = field(default_factory=list)
    removed: list[Mapping[str, Any]] = field(default_factory=list)
    changed: list[tuple[Mapping[str, Any], Mapping[str, Any], list[str]]] = field(default_factory=list)
    kept: int = 0


def compare(active: Iterable[Mapping[str, Any]], new: Iterable[Mapping[str, Any]]) -> GridDiff:
    """Units by code: in `new` only, in `active` only, and in both with COMPARED fields changed."""
    before = {u["code"]: u for u in active}
    after = {u["code"]: u for u in new}
    out = GridDiff()
    for code in sorted(after):
        if code not in before:
            out.added.append(after[code])
            continue
        fields = [f for f in COMPARED if (before[code].get(f) or None) != (after[code].get(f) or None)]
        if fields:
            out.changed.append((before[code], after[code], fields))
        else:
            out.kept += 1
    out.removed = [before[c] for c in sorted(set(before) - set(after))]
    return out
