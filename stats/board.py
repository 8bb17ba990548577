"""The colour board (分色预警): per unit, live blue/yellow/red counts of open cases and the
oldest red one, beside green (closed) counts for the month; drill-down district → street →
workstation → block → case list, and department → case list.

A board of units reads, in one `$in` lookup, its board group — the open-list summaries of the
unit and of its children (open count, colour counts at the last fold and the next 32 warn/due
times), one packed document — and the month's rollup for the greens: two documents whatever
the number of cases or of children with open cases; a summary whose next times have all passed
costs one more lookup (all its times) until the folder next rewrites it. Only a block's or a
department's case list reads the list itself, a page at a time.

The board states its freshness: `at` is the moment its colours are counted for, exactly;
`as_of` the time up to which logged transitions are counted (`pending`: how many logged since
still wait for the background folder, which runs every 1–10 s — see `stats.rollups.fresh`).
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
from stats.facts import DISTRICT_GROUP, colour_at, is_public
from stats.rollups import View, fresh
from stats.units import directory

SEVERITY = {"red": 0, "yellow": 1, "blue": 2}


def summarise(entries: Iterable[tuple[str, list[Any]]], now_ts: float, tz: ZoneInfo) -> dict[str, Any]:
    counts = {"blue": 0, "yellow": 0, "red": 0}
    oldest: tuple[float, str | None] | None = None
    for _, entry in entries:
        colour = colour_at(entry, now_ts)
        counts[colour] += 1
        if colour == "red" and (oldest is None or entry[2] < oldest[0]):
            oldest = (entry[2], entry[0] if is_public(entry) else None)
    out: dict[str, Any] = {**counts, "open": sum(counts.values()), "oldest_red": None}
    if oldest:
        out["oldest_red"] = _oldest_red(oldest[0], oldest[1] or None, now_ts, tz)
    return out


def _oldest_red(due: float, serial: str | None, now_ts: float, tz: ZoneInfo) -> dict[str, Any]:
    """The board is public: a case that is not public is counted but never named (serial None),
    and no internal case id is shown."""
    return {"serial": serial, "due_at": datetime.fromtimestamp(due, tz).isoformat(),
            "overdue_hours": round((now_ts - due) / 3600, 1)}


def from_summary(summary: dict[str, Any] | None, now_ts: float, tz: ZoneInfo,
                 times: dict[str, Any] | None = None) -> dict[str, Any]:
    """Counts of an open list: red = due < now, yellow = warn ≤ now minus the red (a case's
    warn time is never after its due time), blue = the rest — from the summary's counts and
    next times while they hold (`cut` ≤ now < `until`), otherwise from all the sorted times."""
    if summary is None:
        return {"blue": 0, "yellow": 0, "red": 0, "open": 0, "oldest_red": None}
    if valid(summary, now_ts):
        red = summary["red"] + bisect_left(summary["due"], now_ts)
        warned = summary["warned"] + bisect_right(summary["warn"], now_ts)
    else:
        assert times is not None, "expired summary without its times"
        red = bisect_left(times["due"], now_ts)
        warned = bisect_right(times["warn"], now_ts)
    out: dict[str, Any] = {"blue": summary["n"] - warned, "yellow": warned - red, "red": red,
                           "open": summary["n"], "oldest_red": None}
    oldest = summary["oldest"]
    if oldest and oldest[0] < now_ts:
        # Entries keep no serial for a case that is not public (`stats.facts.open_entry`).
        out["oldest_red"] = _oldest_red(oldest[0], oldest[1] or None, now_ts, tz)
    return out


def valid(summary: dict[str, Any], now_ts: float) -> bool:
    cut = summary.get("cut")
    until = summary.get("until")
    return cut is not None and cut <= now_ts and (until is None or now_ts < until)


async def _with_times(db: Database, sums: dict[str, dict[str, Any]], ts: float,
                      version: str | None) -> dict[str, dict[str, Any]]:
    """The times of the summaries whose counts expired (one more lookup, only when some did)."""
    stale = [k for k, s in sums.items() if not valid(s, ts)]
    return await repo.times(db, ids=stale, version=version) if stale else {}


def case_list(entries: Iterable[tuple[str, list[Any]]], now: datetime, tz: ZoneInfo) -> list[dict[str, Any]]:
    """The public cases of an open list (the board is anonymous: `cases.visibility`'s public
    rule), by serial — never an internal case id."""
    ts = now.timestamp()
    rows = [{"serial": e[0], "colour": colour_at(e, ts), "category": e[3],
             "block": e[4] or e[6],
             "due_at": datetime.fromtimestamp(e[2], tz).isoformat() if e[2] else None}
            for _, e in entries if is_public(e)]
    rows.sort(key=lambda r: (SEVERITY[r["colour"]], r["due_at"] or ""))
    return rows


CHILD_LEVELS = {"street": ("workstation", "ws", "workstation"),
                "workstation": ("community_block", "bk", "block"),
                "patrol_zone": ("street_block", "bk", "sblock")}
OWN_LIST = {"street": "st", "workstation": "ws", "patrol_zone": "ws", "department": "dp",
            "community_block": "bk", "street_block": "bk"}
EMPTY = {"blue": 0, "yellow": 0, "red": 0, "open": 0, "oldest_red": None}


def _summary_rows(level: str, codes: list[str], kind: str, names: dict[str, str],
                  summaries: dict[str, dict[str, Any]], times: dict[str, dict[str, Any]],
                  greens: dict[str, dict[str, int]], ts: float, tz: ZoneInfo) -> list[dict[str, Any]]:
    rows = [{"unit": code, "name": names.get(code, code), "level": level,
             "green": int((greens.get(code) or {}).get("closed", 0)),
             **from_summary(summaries.get(f"{kind}:{code}"), ts, tz, times.get(f"{kind}:{code}"))}
            for code in codes]
    rows.sort(key=lambda r: (-r["red"], -r["yellow"], -r["open"], r["unit"]))
    return rows


async def board(db: Database, *, unit: str | None, now: datetime, tz: ZoneInfo,
                district: str, offset: int = 0, limit: int = 100,
                view: View | None = None) -> dict[str, Any]:
    """The board for `unit` (default: the district): its children's rows from its board group
    (one lookup), or — for a block or a department — its open cases, a page at a time."""
    d = await directory(db, district=district)
    unit = unit or district
    level = d.level.get(unit)
    if level is None:
        raise NotFound(f"no unit {unit!r}", unit=unit)
    view = view or await fresh(db, now=now)
    version = view.version
    month = "M" + now.astimezone(tz).strftime("%Y-%m")
    ts = now.timestamp()
    out: dict[str, Any] = {"unit": unit, "name": d.name.get(unit, unit), "level": level,
                           "parent": d.parent.get(unit), "at": now.isoformat(), "month": month[1:],
                           **view.stamp()}
    if level == "district":
        streets, depts = d.of_level("street"), d.of_level("department")
        green_keys = [f"{month}|street|*", f"{month}|department|*"]
        sums, greens = await repo.groups_and_rollups(
            db, groups=[DISTRICT_GROUP], rollup_ids=green_keys, version=version,
            measures=("closed",))
        times = await _with_times(db, sums, ts, version)
        out["sections"] = {
            "streets": _summary_rows("street", streets, "st", d.name, sums, times,
                                     greens.get(green_keys[0], {}), ts, tz),
            "departments": _summary_rows("department", depts, "dp", d.name, sums, times,
                                         greens.get(green_keys[1], {}), ts, tz)}
        totals = {"blue": 0, "yellow": 0, "red": 0, "open": 0}
        for row in out["sections"]["streets"]:
            for colour in totals:
                totals[colour] += row[colour]
        out["totals"] = totals
        return out
    if level in CHILD_LEVELS:
        child, kind, by = CHILD_LEVELS[level]
        street = unit if level == "street" else d.street_of(unit)
        codes = sorted(c for c in d.children.get(unit, []) if d.level.get(c) == child)
        green_key = f"{month}|{by}|st={street}"
        own = f"{OWN_LIST[level]}:{unit}"
        sums, greens = await repo.groups_and_rollups(
            db, groups=[unit], rollup_ids=[green_key], version=version,
            measures=("closed",))
        times = await _with_times(db, sums, ts, version)
        out["totals"] = from_summary(sums.get(own), ts, tz, times.get(own))
        out["sections"] = {by + "s": _summary_rows(child, codes, kind, d.name, sums, times,
                                                  greens.get(green_key, {}), ts, tz)}
        return out
    own_kind = OWN_LIST.get(level)
    if own_kind is None:
        raise InvalidInput(f"no board for a {level}", unit=unit)
    entries = (await repo.open_docs(db, ids=[f"{own_kind}:{unit}"], version=version))[f"{own_kind}:{unit}"]
    out["totals"] = summarise(entries.items(), ts, tz)
    cases = case_list(entries.items(), now, tz)
    out["cases"] = cases[offset:offset + limit]
    out["page"] = {"offset": offset, "limit": limit, "total": len(cases)}
    return out
