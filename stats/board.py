"""The colour board (分色预警): per unit, live blue/yellow/red counts of open cases and the
oldest red one, beside green (closed) counts for the month; drill-down district → street →
workstation → block → case list.

Costs one `_id` lookup per unit shown plus one rollup document, whatever the number of cases.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gridlink.db import Database
from gridlink.errors import InvalidInput, NotFound
from stats import repository as repo
from stats.facts import colour_at
from stats.units import directory

SEVERITY = {"red": 0, "yellow": 1, "blue": 2}
# Registry level and rollup (by, filter) of the children shown under each kind of unit.
CHILD = {"street": ("workstation", "block"), "workstation": ("block", None)}


def summarise(entries: dict[str, list[Any]], now_ts: float) -> dict[str, Any]:
    counts = {"blue": 0, "yellow": 0, "red": 0}
    oldest: tuple[float, str, str] | None = None
    for case_id, entry in entries.items():
        colour = colour_at(entry, now_ts)
        counts[colour] += 1
        if colour == "red" and (oldest is None or entry[2] < oldest[0]):
            oldest = (entry[2], entry[0], case_id)
    out: dict[str, Any] = {**counts, "open": sum(counts.values()), "oldest_red": None}
    if oldest:
        out["oldest_red"] = {"serial": oldest[1], "case_id": oldest[2],
                             "due_at": datetime.fromtimestamp(oldest[0]).astimezone().isoformat(),
                             "overdue_hours": round((now_ts - oldest[0]) / 3600, 1)}
    return out


async def _rows(db: Database, *, level: str, codes: list[str], names: dict[str, str],
                green_doc: str, now: datetime) -> list[dict[str, Any]]:
    opens = await repo.open_docs(db, ids=[f"{level}:{c}" for c in codes])
    greens = (await repo.rollup_docs(db, ids=[green_doc])).get(green_doc, {})
    rows = []
    for code in codes:
        row = {"unit": code, "name": names.get(code, code), "level": level,
               "green": int((greens.get(code) or {}).get("closed", 0)),
               **summarise(opens[f"{level}:{code}"], now.timestamp())}
        rows.append(row)
    rows.sort(key=lambda r: (-r["red"], -r["yellow"], -r["open"], r["unit"]))
    return rows


async def board(db: Database, *, unit: str | None, now: datetime, tz: ZoneInfo,
                district: str) -> dict[str, Any]:
    """The board for `unit` (default: the district): its children's rows, or its case list."""
    d = await directory(db, district=district)
    unit = unit or district
    level = d.level.get(unit)
    if level is None:
        raise NotFound(f"no unit {unit!r}", unit=unit)
    month = "M" + now.astimezone(tz).strftime("%Y-%m")
    out: dict[str, Any] = {"unit": unit, "name": d.name.get(unit, unit), "level": level,
                           "parent": d.parent.get(unit), "at": now.isoformat(), "month": month[1:]}
    if level == "district":
        out["sections"] = {
            "streets": await _rows(db, level="street", codes=d.of_level("street"), names=d.name,
                                   green_doc=f"{month}|street|*", now=now),
            "departments": await _rows(db, level="department", codes=d.of_level("department"),
                                       names=d.name, green_doc=f"{month}|department|*", now=now),
        }
    elif level in CHILD:
        child_level = CHILD[level][0]
        street = unit if level == "street" else d.street_of(unit)
        codes = sorted(c for c in d.children.get(unit, []) if d.level.get(c) == (
            "workstation" if level == "street" else "community_block"))
        out["sections"] = {child_level + "s": await _rows(
            db, level=child_level, codes=codes, names=d.name,
            green_doc=f"{month}|{child_level}|st={street}", now=now)}
    elif level in ("community_block", "street_block", "department"):
        reg = {"community_block": "block", "street_block": "sblock", "department": "department"}[level]
        out["cases"] = await case_list(db, registry=f"{reg}:{unit}", now=now)
    else:
        raise InvalidInput(f"no board for a {level}", unit=unit)
    out["totals"] = summarise((await repo.open_docs(db, ids=[_registry(level, unit)]))[
        _registry(level, unit)], now.timestamp())
    return out


def _registry(level: str, unit: str) -> str:
    return {"district": "district", "street": "street", "workstation": "workstation",
            "community_block": "block", "street_block": "sblock",
            "department": "department"}.get(level, level) + ":" + unit


async def case_list(db: Database, *, registry: str, now: datetime) -> list[dict[str, Any]]:
    entries = (await repo.open_docs(db, ids=[registry]))[registry]
    ts = now.timestamp()
    rows = [{"case_id": cid, "serial": e[0], "colour": colour_at(e, ts), "category": e[3],
             "block": e[4],
             "due_at": datetime.fromtimestamp(e[2]).astimezone().isoformat() if e[2] else None}
            for cid, e in entries.items()]
    rows.sort(key=lambda r: (SEVERITY[r["colour"]], r["due_at"] or ""))
    return rows
