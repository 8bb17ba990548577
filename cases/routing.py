"""Responsibility routing: "discovery and daily management belong to the block (块), law
enforcement to the line (条)" (DESIGN.md §5).

| category level | layer          | proposed assignee                                           |
|----------------|----------------|-------------------------------------------------------------|
| line (条)      | any            | the category's department unit (`D01`…), kind `department` |
| block (块)     | community      | the placed community block (its leader); else its workstation; else the street center |
| block (块)     | street_surface | the street center of the placed street                      |
| block (块)     | unplaced case  | the district center                                         |

The dispatcher may dispatch to any other unit (override).
"""

from __future__ import annotations

from typing import Any

ASSIGNEE_KINDS = ("block", "station", "street", "district", "department")


def propose_assignee(category: dict[str, Any], placement: dict[str, Any] | None,
                     *, district: str) -> dict[str, str]:
    """`{unit, kind}` proposed for a case of `category` placed at `placement`."""
    if category["level"] == "line" and category.get("department"):
        return {"unit": category["department"], "kind": "department"}
    if not placement:
        return {"unit": district, "kind": "district"}
    if category["layer"] == "community":
        if placement.get("community_block"):
            return {"unit": placement["community_block"], "kind": "block"}
        if placement.get("workstation"):
            return {"unit": placement["workstation"], "kind": "station"}
    if placement.get("street"):
        return {"unit": placement["street"], "kind": "street"}
    return {"unit": placement.get("district") or district, "kind": "district"}


def kind_of_unit(unit: str, *, district: str, placement: dict[str, Any] | None = None,
                 level: str | None = None) -> str:
    """Assignee kind of an explicitly chosen unit (a dispatcher's override)."""
    if level in ("community_block", "street_block"):
        return "block"
    if level == "workstation":
        return "station"
    if level == "street":
        return "street"
    if level == "department" or (unit.startswith("D") and unit[1:].isdigit()):
        return "department"
    if unit == district:
        return "district"
    if placement:
        for key, kind in (("community_block", "block"), ("street_block", "block"),
                          ("workstation", "station"), ("street", "street")):
            if placement.get(key) == unit:
                return kind
    return "block"
