"""Three-level assessment (三级考核) for a month, with the indicators of DESIGN.md §8.

Definitions (written on the page too), per unit, for cases reported in the month:
- received 受理数 = cases reported;
- closed 结案数 = cases closed (handled);
- overdue open 超期未处置数 = still open and past their current deadline now;
- due for closing 应结案数 = closed + overdue open;
- closure rate 结案率 = closed / due for closing;
- on-time closure rate 按期结案率 = closed within the deadline / due for closing;
- overdue 超期数 = closed late + overdue open;
- returns 回退数 = cases returned as not-our-jurisdiction at least once;
- rework rate 返工率 = cases reopened after a failed verification / closed;
- extension rate 延期率 = cases extended / cases dispatched;
- average rating 平均满意度 = mean of the reporters' 1–5 ratings;
- patrol share 巡查发现占比 = found by patrols / received (the rest: reported by citizens).
Composite score = 100 × (0.4 on-time closure rate + 0.3 closure rate + 0.15 (1 − rework rate)
+ 0.15 average rating / 5; a unit without ratings takes 0.15 × 1): grades A ≥ 90, B 75–90,
C 60–75, D 40–60, E < 40.

Levels: the district assesses its line departments and streets; a department its teams; a
street its workstations; a workstation (or patrol zone) its coordinators.
- A department's team 处置人/班组 is whoever in the department took the case up, as recorded on
  the case: the name on the latest accept / feedback / extension request since the last
  dispatch (departments' teams are not modelled as units, so the handler recorded on the case
  is the unit); cases nobody has taken up yet are listed as 未接单.
- A workstation's coordinators 巡管员 are the patrol members who found its cases (patrol
  channel, placed in the workstation's blocks), by the roster name recorded when they reported;
  the roster's coordinators bound to the workstation or its blocks are listed even without
  cases. Names only: no phone numbers or chat ids.
"""

from __future__ import annotations

import csv
import io
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gridlink.db import Database
from gridlink.errors import InvalidInput, NotFound
from stats import repository as repo
from stats.facts import _key, colour_at
from stats.rollups import fresh
from stats.units import directory

COLUMNS: tuple[tuple[str, str], ...] = (
    ("rank", "排名"), ("unit", "单位代码"), ("name", "单位"), ("received", "受理数"),
    ("closed", "结案数"), ("overdue_open", "超期未处置数"), ("due_for_closing", "应结案数"),
    ("closure_rate", "结案率"), ("on_time_rate", "按期结案率"), ("overdue", "超期数"),
    ("returns", "回退数"), ("rework_rate", "返工率"), ("extension_rate", "延期率"),
    ("avg_rating", "平均满意度"), ("patrol_share", "巡查发现占比"), ("citizen_share", "市民上报占比"),
    ("score", "综合得分"), ("grade", "等级"),
)


def grade(score: float) -> str:
    return "A" if score >= 90 else "B" if score >= 75 else "C" if score >= 60 else "D" if score >= 40 else "E"


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def indicators(m: dict[str, int], overdue_open: int) -> dict[str, Any]:
    """The indicators of one unit from its month's measures and its overdue open cases."""
    received, closed = m.get("n", 0), m.get("closed", 0)
    due = closed + overdue_open
    closure = _ratio(closed, due)
    on_time = _ratio(m.get("on_time", 0), due)
    rework = _ratio(m.get("reworked", 0), closed)
    avg = round(m["rating_sum"] / m["rated"], 2) if m.get("rated") else None
    score = 100 * (0.4 * (on_time if on_time is not None else 1.0)
                   + 0.3 * (closure if closure is not None else 1.0)
                   + 0.15 * (1 - (rework or 0.0))
                   + 0.15 * (avg / 5 if avg is not None else 1.0))
    return {
        "received": received, "closed": closed, "overdue_open": overdue_open,
        "due_for_closing": due, "closure_rate": closure, "on_time_rate": on_time,
        "overdue": m.get("late", 0) + overdue_open, "returns": m.get("returned", 0),
        "rework_rate": rework, "extension_rate": _ratio(m.get("extended", 0), m.get("dispatched", 0)),
        "avg_rating": avg, "patrol_share": _ratio(m.get("patrol", 0), received),
        "citizen_share": _ratio(m.get("citizen", 0), received),
        "score": round(score, 1), "grade": grade(score),
    }


def _month_bounds(month: str, tz: ZoneInfo) -> tuple[float, float]:
    try:
        start = datetime.strptime(month + "-01", "%Y-%m-%d").replace(tzinfo=tz)
    except ValueError:
        raise InvalidInput("month must be YYYY-MM", field="month") from None
    end = start.replace(year=start.year + (start.month == 12), month=start.month % 12 + 1)
    return start.timestamp(), end.timestamp()


def _overdue_open(entries: dict[str, list[Any]], pos: int, lo: float, hi: float,
                  now_ts: float) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in entries.values():
        if lo <= (e[9] or 0) < hi and colour_at(e, now_ts) == "red":
            key = _key(e[pos])
            out[key] = out.get(key, 0) + 1
    return out


def _table(codes: list[str], names: dict[str, str], cells: dict[str, dict[str, int]],
           overdue: dict[str, int]) -> list[dict[str, Any]]:
    rows = [{"unit": c, "name": names.get(c, c), **indicators(cells.get(c, {}), overdue.get(c, 0))}
            for c in codes]
    rows.sort(key=lambda r: (-r["score"], -r["received"], r["unit"]))
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    return rows


UNTAKEN = "（未接单 not yet taken up）"


async def assessment(db: Database, *, month: str, unit: str | None, now: datetime, tz: ZoneInfo,
                     district: str) -> dict[str, Any]:
    """Ranked tables for `unit`: the district → departments and streets; a department → its
    teams; a street → its workstations; a workstation or patrol zone → its coordinators."""
    lo, hi = _month_bounds(month, tz)
    d = await directory(db, district=district)
    unit = unit or district
    level = d.level.get(unit)
    if level is None:
        raise NotFound(f"no unit {unit!r}", unit=unit)
    view = await fresh(db, now=now)
    version = view.version
    ts = now.timestamp()
    out: dict[str, Any] = {"month": month, "unit": unit, "name": d.name.get(unit, unit),
                           "level": level, "tables": {}, **view.stamp()}
    if level == "district":
        keys = [f"M{month}|department|*", f"M{month}|street|*"]
        docs = await repo.rollup_docs(db, ids=keys)
        depts, streets = d.of_level("department"), d.of_level("street")
        lists = await repo.open_docs(db, ids=[*(f"dp:{c}" for c in depts), *(f"st:{c}" for c in streets)], version=version)
        by_dept = {cid: e for k, v in lists.items() if k.startswith("dp:") for cid, e in v.items()}
        by_street = {cid: e for k, v in lists.items() if k.startswith("st:") for cid, e in v.items()}
        out["tables"]["departments"] = _table(depts, d.name, docs.get(keys[0], {}),
                                              _overdue_open(by_dept, 8, lo, hi, ts))
        out["tables"]["streets"] = _table(streets, d.name, docs.get(keys[1], {}),
                                          _overdue_open(by_street, 7, lo, hi, ts))
    elif level == "street":
        key = f"M{month}|workstation|st={unit}"
        docs = await repo.rollup_docs(db, ids=[key], version=version)
        entries = (await repo.open_docs(db, ids=[f"st:{unit}"], version=version))[f"st:{unit}"]
        codes = sorted(c for c in d.children.get(unit, []) if d.level.get(c) == "workstation")
        out["tables"]["workstations"] = _table(codes, d.name, docs.get(key, {}),
                                               _overdue_open(entries, 5, lo, hi, ts))
    elif level == "department":
        key = f"M{month}|handler|dp={unit}"
        docs = await repo.rollup_docs(db, ids=[key], version=version)
        entries = (await repo.open_docs(db, ids=[f"dp:{unit}"], version=version))[f"dp:{unit}"]
        cells = docs.get(key, {})
        overdue = _overdue_open(entries, 12, lo, hi, ts)
        teams = sorted(set(cells) | set(overdue))
        rows = _table(teams, {"-": UNTAKEN}, cells, overdue)
        for r in rows:
            r["team"], r["unit"] = r["unit"], unit
        out["tables"]["teams"] = rows
    elif level in ("workstation", "patrol_zone"):
        key = f"M{month}|coordinator|ws={unit}"
        docs = await repo.rollup_docs(db, ids=[key], version=version)
        entries = (await repo.open_docs(db, ids=[f"ws:{unit}"], version=version))[f"ws:{unit}"]
        cells = docs.get(key, {})
        overdue = _overdue_open(entries, 13, lo, hi, ts)
        roster = await repo.coordinators(db, units=[unit, *d.children.get(unit, [])])
        posts = {_key(m["name"]): m["unit"] for m in roster}
        people = sorted(set(cells) | set(overdue) | set(posts))
        rows = _table(people, {}, cells, overdue)
        for r in rows:
            r["coordinator"], r["unit"] = r["unit"], posts.get(r["unit"], "")
        out["tables"]["coordinators"] = rows
    else:
        raise InvalidInput("assessment is by the district, a department, a street or a workstation",
                           field="unit")
    return out


def to_csv(result: dict[str, Any]) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    for name, rows in result["tables"].items():
        writer.writerow([f"{result['month']} {name}"])
        writer.writerow([zh for _, zh in COLUMNS])
        for r in rows:
            writer.writerow(["" if r.get(k) is None else r.get(k) for k, _ in COLUMNS])
        writer.writerow([])
    return buf.getvalue()


def to_xlsx(result: dict[str, Any]) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    for name, rows in result["tables"].items():
        ws = wb.create_sheet(name)
        ws.append([zh for _, zh in COLUMNS])
        for r in rows:
            ws.append([r.get(k) for k, _ in COLUMNS])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
