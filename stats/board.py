"""The colour board (分色预警): per unit, live blue/yellow/red counts of open cases and the
oldest red one, beside green (closed) counts for the month; drill-down district → street →
workstation → block → case list, and department → case list.

Reads the open lists (one small document per street and per department) and one rollup
document, whatever the number of cases.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gridlink.db import Database
from gridlink.errors import InvalidInput, NotFound
from stats import repository as repo
from stats.facts import colour_at
from stats.units import directory

SEVERITY = {"red": 0, "yellow": 1, "blue": 2}
# Entry positions (stats.facts.open_entry) of the unit levels an open case sits in.
POS = {"community_block": 4, "workstation": 5, "street_block": 6, "street": 7, "department": 8}


def summarise(entries: Iterable[tuple[str, list[Any]]], now_ts: float, tz: ZoneInfo) -> dict[str, Any]:
    counts = {"blue": 0, "yellow": 0, "red": 0}
    oldest: tuple[float, str, str] | None = None
    for case_id, entry in entries:
        colour = colour_at(entry, now_ts)
        counts[colour] += 1
        if colour == "red" and (oldest is None or entry[2] < oldest[0]):
            oldest = (entry[2], entry[0], case_id)
    out: dict[str, Any] = {**counts, "open": sum(counts.values()), "oldest_red": None}
    if oldest:
        out["oldest_red"] = {"serial": oldest[1], "case_id": oldest[2],
                             "due_at": datetime.fromtimestamp(oldest[0], tz).isoformat(),
                             "overdue_hours": round((now_ts - oldest[0]) / 3600, 1)}
    return out


def from_summary(summary: dict[str, Any] | None, now_ts: float, tz: ZoneInfo) -> dict[str, Any]:
    """Counts from an open list's packed summary: red = due < now, yellow = warn <= now minus
    the red (a case's warn time is never after its due time), blue = the rest."""
    if summary is None:
        return {"blue": 0, "yellow": 0, "red": 0, "open": 0, "oldest_red": None}
    red = bisect_left(summary["due"], now_ts)
    yellow = bisect_right(summary["warn"], now_ts) - red
    out: dict[str, Any] = {"blue": summary["n"] - red - yellow, "yellow": yellow, "red": red,
                           "open": summary["n"], "oldest_red": None}
    oldest = summary["oldest"]
    if oldest and oldest[0] < now_ts:
        out["oldest_red"] = {"serial": oldest[1], "case_id": oldest[2],
                             "due_at": datetime.fromtimestamp(oldest[0], tz).isoformat(),
                             "overdue_hours": round((now_ts - oldest[0]) / 3600, 1)}
    return out


def _group(entries: dict[str, list[Any]], pos: int) -> dict[str, list[tuple[str, list[Any]]]]:
    out: dict[str, list[tuple[str, list[Any]]]] = {}
    for case_id, entry in entries.items():
        out.setdefault(str(entry[pos]), []).append((case_id, entry))
    return out


def _rows(level: str, codes: list[str], names: dict[str, str], grouped: dict[str, list[Any]],
          greens: dict[str, dict[str, int]], now: datetime, tz: ZoneInfo) -> list[dict[str, Any]]:
    rows = [{"unit": code, "name": names.get(code, code), "level": level,
             "green": int((greens.get(code) or {}).get("closed", 0)),
             **summarise(grouped.get(code, []), now.timestamp(), tz)} for code in codes]
    rows.sort(key=lambda r: (-r["red"], -r["yellow"], -r["open"], r["unit"]))
    return rows


def case_list(entries: Iterable[tuple[str, list[Any]]], now: datetime, tz: ZoneInfo) -> list[dict[str, Any]]:
    ts = now.timestamp()
    rows = [{"case_id": cid, "serial": e[0], "colour": colour_at(e, ts), "category": e[3],
             "block": e[4] or e[6],
             "due_at": datetime.fromtimestamp(e[2], tz).isoformat() if e[2] else None}
            for cid, e in entries]
    rows.sort(key=lambda r: (SEVERITY[r["colour"]], r["due_at"] or ""))
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
    ts = now.timestamp()
    out: dict[str, Any] = {"unit": unit, "name": d.name.get(unit, unit), "level": level,
                           "parent": d.parent.get(unit), "at": now.isoformat(), "month": month[1:]}
    if level == "district":
        summaries = await repo.open_summaries(db)
        greens = await repo.rollup_docs(db, ids=[f"{month}|street|*", f"{month}|department|*"])
        sections: dict[str, list[dict[str, Any]]] = {}
        totals = {"blue": 0, "yellow": 0, "red": 0, "open": 0}
        for kind in ("street", "department"):
            month_greens = greens.get(f"{month}|{kind}|*", {})
            rows = [{"unit": code, "name": d.name.get(code, code), "level": kind,
                     "green": int((month_greens.get(code) or {}).get("closed", 0)),
                     **from_summary(summaries.get(f"{kind}:{code}"), ts, tz)}
                    for code in d.of_level(kind)]
            rows.sort(key=lambda r: (-r["red"], -r["yellow"], -r["open"], r["unit"]))
            sections[kind + "s"] = rows
        for key, summary in summaries.items():
            if key.startswith("street:"):
                for colour, n in from_summary(summary, ts, tz).items():
                    if colour in totals:
                        totals[colour] += n
        out["sections"] = sections
        out["totals"] = totals
        return out
    if level == "department":
        entries = (await repo.open_docs(db, ids=[f"department:{unit}"]))[f"department:{unit}"]
        out["cases"] = case_list(entries.items(), now, tz)
        out["totals"] = summarise(entries.items(), ts, tz)
        return out
    street = unit if level == "street" else d.street_of(unit)
    if street is None:
        raise InvalidInput(f"no board for a {level}", unit=unit)
    entries = (await repo.open_docs(db, ids=[f"street:{street}"]))[f"street:{street}"]
    if level != "street":
        pos = POS.get(level)
        if pos is None:
            raise InvalidInput(f"no board for a {level}", unit=unit)
        entries = {cid: e for cid, e in entries.items() if e[pos] == unit}
    out["totals"] = summarise(entries.items(), ts, tz)
    if level in ("street", "workstation"):
        child = "workstation" if level == "street" else "community_block"
        by = "workstation" if level == "street" else "block"
        green_key = f"{month}|{by}|st={street}"
        month_greens = (await repo.rollup_docs(db, ids=[green_key])).get(green_key, {})
        codes = sorted(c for c in d.children.get(unit, []) if d.level.get(c) == child)
        out["sections"] = {by + "s": _rows(child, codes, d.name, _group(entries, POS[child]),
                                           month_greens, now, tz)}
    else:
        out["cases"] = case_list(entries.items(), now, tz)
    return out
