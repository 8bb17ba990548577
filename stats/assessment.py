"""Three-level assessment (三级考核) for a month, quarter or year, with the indicators of
DESIGN.md §8 (CJ/T 292 practice); `INDICATORS` holds each one's formula, shown on the page and
in the JSON.

Per unit, for the cases reported in the period (counted now), as DESIGN §8 defines them:
- 超期未处置数 overdue unhandled = open, not yet fed back, past its current deadline now
  (suspended cases 挂账 are not open; a case awaiting verification is handled);
- 应处置数 due for handling = 应结案数 due for closing = handled + overdue unhandled;
- the rates divide by those (see `INDICATORS`); a rate whose denominator is 0 has no value.

Composite score = 100 × Σ wᵢ·vᵢ / Σ wᵢ over the weighted indicators that have a value (返工率 and
延期率 count as 1 − rate), with the weights of the table's level (`DEFAULT_WEIGHTS`, changed by
an admin through the API: `load_weights` / `save_weights`). A unit with no case in the period
has no data: no score, no grade, no rank, listed after every unit with data (a unit with cases
but nothing weighted yet — all open, none due — has no score either). Grades A ≥ 90, B 75–90,
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
import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gridlink.db import Database
from gridlink.errors import InvalidInput, NotFound
from stats import repository as repo
from stats.facts import _key, colour_at, is_handled
from stats.rollups import fresh
from stats.units import directory


@dataclass(frozen=True)
class Indicator:
    key: str
    zh: str
    en: str
    formula_zh: str
    formula_en: str
    kind: str = "count"  # count | rate | average | score | text
    inverse: bool = False  # weighted as 1 − value (lower is better)


INDICATORS: tuple[Indicator, ...] = (
    Indicator("received", "受理数", "Received", "本期上报的案件数", "cases reported in the period"),
    Indicator("handled", "处置数", "Handled",
              "处置单位已反馈（待核查）或已结案的案件数",
              "cases whose handler has fed back (awaiting verification) or that are closed"),
    Indicator("overdue_open", "超期未处置数", "Overdue, not handled",
              "尚未处置（未反馈）且已超过当前时限的案件数（挂账不计）",
              "cases not yet handled (no feedback) and past their current deadline (suspended "
              "cases excluded)"),
    Indicator("due_for_handling", "应处置数", "Due for handling", "处置数 + 超期未处置数",
              "handled + overdue not handled"),
    Indicator("handling_rate", "处置率", "Handling rate", "处置数 ÷ 应处置数",
              "handled ÷ due for handling", "rate"),
    Indicator("on_time_handling_rate", "按期处置率", "On-time handling rate",
              "按期处置数 ÷ 应处置数", "handled within the deadline ÷ due for handling", "rate"),
    Indicator("closed", "结案数", "Closed", "核查通过、已结案的案件数（含当场处置）",
              "cases verified and closed (handled on the spot included)"),
    Indicator("due_for_closing", "应结案数", "Due for closing", "处置数 + 超期未处置数",
              "handled + overdue not handled"),
    Indicator("closure_rate", "结案率", "Closure rate", "结案数 ÷ 应结案数",
              "closed ÷ due for closing", "rate"),
    Indicator("on_time_rate", "按期结案率", "On-time closure rate", "按期结案数 ÷ 应结案数",
              "closed within the deadline ÷ due for closing", "rate"),
    Indicator("overdue", "超期数", "Overdue", "超期结案数 + 超期未处置数",
              "closed late + overdue not handled"),
    Indicator("returns", "回退数", "Returned", "至少回退过一次（非本单位职责）的案件数",
              "cases returned as not-our-jurisdiction at least once"),
    Indicator("rework_rate", "返工率", "Rework rate", "核查不通过而返工的案件数 ÷ 处置数",
              "cases reopened after a failed verification ÷ handled", "rate", inverse=True),
    Indicator("extension_rate", "延期率", "Extension rate", "延期的案件数 ÷ 派遣的案件数",
              "cases given an extension ÷ cases dispatched", "rate", inverse=True),
    Indicator("satisfaction_rate", "群众满意率", "Satisfaction rate",
              "评价为满意或较满意的案件数 ÷ 已评价的案件数",
              "cases rated satisfied or fairly satisfied (5 or 4) ÷ cases rated", "rate"),
    Indicator("avg_rating", "平均满意度", "Average rating", "评价分（1–5）的平均值",
              "mean of the reporters' 1–5 ratings", "average"),
    Indicator("patrol_share", "巡查发现占比", "Found by patrols", "巡查上报数 ÷ 受理数",
              "found by patrols ÷ received", "rate"),
    Indicator("citizen_share", "市民上报占比", "Reported by citizens", "市民上报数 ÷ 受理数",
              "reported by citizens ÷ received", "rate"),
    Indicator("score", "综合得分", "Score",
              "100 × Σ(权重 × 指标值) ÷ Σ有值指标的权重；返工率、延期率按 (1 − 比率) 计",
              "100 × Σ(weight × value) ÷ Σ weights of the indicators with a value; rework and "
              "extension rates count as (1 − rate)", "score"),
    Indicator("grade", "等级", "Grade", "A ≥ 90，B 75–90，C 60–75，D 40–60，E < 40；无案件为“无数据”",
              "A ≥ 90, B 75–90, C 60–75, D 40–60, E < 40; no cases: “no data”", "text"),
)
BY_KEY = {i.key: i for i in INDICATORS}
WEIGHTED = ("on_time_handling_rate", "handling_rate", "on_time_rate", "closure_rate",
            "rework_rate", "extension_rate", "satisfaction_rate")
LEVELS = ("departments", "streets", "workstations", "teams", "coordinators")
_LINE = {"on_time_handling_rate": 0.3, "handling_rate": 0.2, "closure_rate": 0.15,
         "rework_rate": 0.15, "satisfaction_rate": 0.2}
_BLOCK = {"on_time_handling_rate": 0.25, "handling_rate": 0.15, "on_time_rate": 0.15,
          "closure_rate": 0.15, "rework_rate": 0.1, "satisfaction_rate": 0.2}
# Line departments and their teams are judged on handling; streets and workstations on
# handling and closing their blocks' cases; a coordinator on how the cases found came to a close.
DEFAULT_WEIGHTS: dict[str, dict[str, float]] = {
    "departments": _LINE, "teams": _LINE, "streets": _BLOCK, "workstations": _BLOCK,
    "coordinators": {"closure_rate": 0.35, "on_time_rate": 0.35, "rework_rate": 0.15,
                     "satisfaction_rate": 0.15},
}
Weights = dict[str, dict[str, float]]

# (key, zh, en) of the export's columns, in order; the table's own name column is `name`.
COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("rank", "排名", "Rank"), ("unit", "单位代码", "Unit code"), ("name", "单位", "Unit"),
    *((k, BY_KEY[k].zh, BY_KEY[k].en) for k in (
        "received", "handled", "overdue_open", "due_for_handling", "handling_rate",
        "on_time_handling_rate", "closed", "due_for_closing", "closure_rate", "on_time_rate",
        "overdue", "returns", "rework_rate", "extension_rate", "satisfaction_rate", "avg_rating",
        "patrol_share", "citizen_share", "score", "grade")),
)
TABLE_TITLES = {"departments": ("条线部门", "Line departments"), "streets": ("街镇", "Streets"),
                "workstations": ("工作站", "Workstations"), "teams": ("处置班组", "Teams"),
                "coordinators": ("巡管员", "Coordinators")}
NO_DATA = {"zh": "无数据", "en": "no data"}
UNTAKEN = {"zh": "（未接单）", "en": "(not yet taken up)"}


def grade(score: float) -> str:
    return "A" if score >= 90 else "B" if score >= 75 else "C" if score >= 60 else "D" if score >= 40 else "E"


def _ratio(a: int, b: int) -> float | None:
    return round(a / b, 4) if b else None


def composite(values: dict[str, Any], weights: dict[str, float]) -> float | None:
    """The score from the weighted indicators that have a value (None: none has)."""
    total = got = 0.0
    for key, w in weights.items():
        v = values.get(key)
        if v is None or w <= 0:
            continue
        total += w
        got += w * ((1 - v) if BY_KEY[key].inverse else v)
    return round(100 * got / total, 1) if total > 0 else None


def indicators(m: dict[str, int], overdue_open: int, weights: dict[str, float]) -> dict[str, Any]:
    """The indicators of one unit from its period's measures and its overdue open cases."""
    received, closed, handled = m.get("n", 0), m.get("closed", 0), m.get("handled", 0)
    due_closing = due_handling = handled + overdue_open
    out: dict[str, Any] = {
        "received": received, "handled": handled, "overdue_open": overdue_open,
        "due_for_handling": due_handling, "handling_rate": _ratio(handled, due_handling),
        "on_time_handling_rate": _ratio(m.get("handled_on_time", 0), due_handling),
        "closed": closed, "due_for_closing": due_closing,
        "closure_rate": _ratio(closed, due_closing), "on_time_rate": _ratio(m.get("on_time", 0), due_closing),
        "overdue": m.get("late", 0) + overdue_open, "returns": m.get("returned", 0),
        "rework_rate": _ratio(m.get("reworked", 0), handled),
        "extension_rate": _ratio(m.get("extended", 0), m.get("dispatched", 0)),
        "satisfaction_rate": _ratio(m.get("satisfied", 0), m.get("rated", 0)),
        "avg_rating": round(m["rating_sum"] / m["rated"], 2) if m.get("rated") else None,
        "patrol_share": _ratio(m.get("patrol", 0), received),
        "citizen_share": _ratio(m.get("citizen", 0), received),
    }
    out["no_data"] = received == 0 and overdue_open == 0
    score = None if out["no_data"] else composite(out, weights)
    out["score"], out["grade"] = score, (grade(score) if score is not None else None)
    return out


# ------------------------------------------------------------------ periods

@dataclass(frozen=True)
class Period:
    kind: str  # month | quarter | year
    label: str  # 2026-11 | 2026-Q4 | 2026
    months: tuple[str, ...]  # YYYY-MM

    def bounds(self, tz: ZoneInfo) -> tuple[float, float]:
        start = datetime.strptime(self.months[0] + "-01", "%Y-%m-%d").replace(tzinfo=tz)
        last = datetime.strptime(self.months[-1] + "-01", "%Y-%m-%d").replace(tzinfo=tz)
        end = last.replace(year=last.year + (last.month == 12), month=last.month % 12 + 1)
        return start.timestamp(), end.timestamp()


PERIOD_FORMS = "YYYY-MM (month), YYYY-Qn (quarter) or YYYY (year)"
MIN_YEAR, MAX_YEAR = 2000, 2100


def period_of(text: str) -> Period:
    """A month `2026-11`, quarter `2026-Q4` or year `2026`."""
    text = text.strip().upper()
    year_of = re.match(r"\d{4}", text)
    if year_of and not MIN_YEAR <= int(year_of[0]) <= MAX_YEAR:
        raise InvalidInput(f"the year must be within {MIN_YEAR}–{MAX_YEAR}", field="period")
    if m := re.fullmatch(r"(\d{4})-(\d{2})", text):
        year, month = int(m[1]), int(m[2])
        if 1 <= month <= 12:
            return Period("month", text, (text,))
    elif m := re.fullmatch(r"(\d{4})-?Q([1-4])", text):
        year, q = int(m[1]), int(m[2])
        return Period("quarter", f"{year}-Q{q}", tuple(f"{year}-{3 * q - 2 + i:02d}" for i in range(3)))
    elif re.fullmatch(r"\d{4}", text):
        return Period("year", text, tuple(f"{text}-{i:02d}" for i in range(1, 13)))
    raise InvalidInput(f"period must be {PERIOD_FORMS}", field="period")


def period_for(*, period: str | None, month: str | None, quarter: str | None, year: str | None,
               now: datetime, tz: ZoneInfo) -> Period:
    """The period asked for (`period`, or `month` / `quarter` / `year`), else this month."""
    given = [(f, v) for f, v in (("period", period), ("month", month), ("quarter", quarter),
                                  ("year", year)) if v]
    if len(given) > 1:
        raise InvalidInput("give one of period, month, quarter or year", field=given[1][0])
    if not given:
        return period_of(now.astimezone(tz).strftime("%Y-%m"))
    field, value = given[0]
    try:
        p = period_of(value)
    except InvalidInput as exc:
        raise InvalidInput(exc.message.replace("period", field), field=field) from None
    if field != "period" and p.kind != field:
        raise InvalidInput(f"{field} must be a {field}", field=field)
    return p


# ------------------------------------------------------------------ weights (stored config)

CONFIG = "assessment_config"
WEIGHTS_ID = "weights"


def check_weights(given: Any) -> Weights:
    """Weights per level, validated: known levels and indicators, numbers ≥ 0, each level's
    summing to 1 (± 0.001). Raises InvalidInput naming the field."""
    if not isinstance(given, dict) or not given:
        raise InvalidInput("weights: an object of levels, e.g. {\"streets\": {\"handling_rate\": 1}}",
                           field="weights")
    out: Weights = {}
    for level, ws in given.items():
        if level not in LEVELS:
            raise InvalidInput(f"unknown level {level!r}; levels: {', '.join(LEVELS)}",
                               field=str(level), allowed=list(LEVELS))
        if not isinstance(ws, dict) or not ws:
            raise InvalidInput(f"{level}: an object of indicator weights", field=level)
        clean: dict[str, float] = {}
        for key, w in ws.items():
            field = f"{level}.{key}"
            if key not in WEIGHTED:
                raise InvalidInput(f"{field}: not a weighted indicator; one of {', '.join(WEIGHTED)}",
                                   field=field, allowed=list(WEIGHTED))
            if isinstance(w, bool) or not isinstance(w, int | float) or not math.isfinite(w):
                raise InvalidInput(f"{field}: a number", field=field)
            if w < 0:
                raise InvalidInput(f"{field}: must not be negative", field=field)
            clean[key] = float(w)
        total = sum(clean.values())
        if abs(total - 1) > 1e-3:
            raise InvalidInput(f"{level}: weights must sum to 1 (they sum to {round(total, 4)})",
                               field=level, sum=round(total, 4))
        out[level] = clean
    return out


async def load_weights(db: Database) -> Weights:
    """The weights in force: each level's stored weights, else its defaults."""
    doc = await db[CONFIG].find_one({"_id": WEIGHTS_ID}) or {}
    stored = doc.get("levels") or {}
    return {level: dict(stored.get(level) or DEFAULT_WEIGHTS[level]) for level in LEVELS}


async def weights_doc(db: Database) -> dict[str, Any]:
    doc = await db[CONFIG].find_one({"_id": WEIGHTS_ID}) or {}
    return {"weights": await load_weights(db), "defaults": DEFAULT_WEIGHTS,
            "indicators": list(WEIGHTED), "updated_by": doc.get("updated_by"),
            "updated_at": doc.get("updated_at")}


async def save_weights(db: Database, given: Any, *, by: str, now: datetime) -> Weights:
    """Store the levels given (the others keep theirs); `null` for a level restores its
    defaults. Each change is kept in the document's `log` (who, when, what)."""
    restore = [k for k, v in given.items() if v is None] if isinstance(given, dict) else []
    for level in restore:
        if level not in LEVELS:
            raise InvalidInput(f"unknown level {level!r}; levels: {', '.join(LEVELS)}",
                               field=str(level), allowed=list(LEVELS))
    rest = {k: v for k, v in given.items() if v is not None} if isinstance(given, dict) else given
    checked = check_weights(rest) if rest or not restore else {}
    update: dict[str, Any] = {"$set": {"updated_by": by, "updated_at": now,
                                       **{f"levels.{k}": v for k, v in checked.items()}},
                              "$push": {"log": {"by": by, "at": now, "set": checked, "restored": restore}}}
    if restore:
        update["$unset"] = {f"levels.{k}": "" for k in restore}
    await db[CONFIG].update_one({"_id": WEIGHTS_ID}, update, upsert=True)
    return await load_weights(db)


# ------------------------------------------------------------------ the tables

def _overdue_unhandled(entries: dict[str, list[Any]], pos: int, lo: float, hi: float,
                  now_ts: float) -> dict[str, int]:
    out: dict[str, int] = {}
    for e in entries.values():
        if lo <= (e[9] or 0) < hi and colour_at(e, now_ts) == "red" and not is_handled(e):
            key = _key(e[pos])
            out[key] = out.get(key, 0) + 1
    return out


def _rank(rows: list[dict[str, Any]]) -> None:
    """Scored rows by score (then cases, code); then rows with cases but no score; then rows
    without data. Only scored rows get a rank."""
    rows.sort(key=lambda r: (r["no_data"], r["score"] is None, -(r["score"] or 0), -r["received"],
                             str(r["unit"])))
    n = 0
    for r in rows:
        if r["score"] is None:
            r["rank"] = None
        else:
            n += 1
            r["rank"] = n


def _table(codes: list[str], names: dict[str, str], cells: dict[str, dict[str, int]],
           overdue: dict[str, int], weights: dict[str, float]) -> list[dict[str, Any]]:
    rows = [{"unit": c, "name": names.get(c, c), **indicators(cells.get(c, {}), overdue.get(c, 0), weights)}
            for c in codes]
    _rank(rows)
    return rows


def _summed(docs: dict[str, dict[str, dict[str, int]]], keys: list[str]) -> dict[str, dict[str, int]]:
    """The cells of several months' rollups added up."""
    out: dict[str, dict[str, int]] = {}
    for key in keys:
        for value, cell in docs.get(key, {}).items():
            acc = out.setdefault(value, {})
            for m, n in cell.items():
                acc[m] = acc.get(m, 0) + n
    return out


async def assessment(db: Database, *, period: Period | str, unit: str | None, now: datetime,
                     tz: ZoneInfo, district: str, lang: str = "zh",
                     weights: Weights | None = None) -> dict[str, Any]:
    """Ranked tables for `unit`: the district → departments and streets; a department → its
    teams; a street → its workstations; a workstation or patrol zone → its coordinators."""
    p = period_of(period) if isinstance(period, str) else period
    lo, hi = p.bounds(tz)
    weights = weights or await load_weights(db)
    d = await directory(db, district=district)
    names = d.name_en if lang == "en" else d.name
    unit = unit or district
    level = d.level.get(unit)
    if level is None:
        raise NotFound(f"no unit {unit!r}", unit=unit)
    view = await fresh(db, now=now)
    version = view.version
    ts = now.timestamp()
    out: dict[str, Any] = {"period": p.label, "period_kind": p.kind, "months": list(p.months),
                           "unit": unit, "name": names.get(unit, unit), "level": level,
                           "lang": lang, "tables": {}, **view.stamp()}
    if p.kind == "month":
        out["month"] = p.label

    def keys(by: str, filter_: str) -> list[str]:
        return [f"M{m}|{by}|{filter_}" for m in p.months]

    if level == "district":
        dkeys, skeys = keys("department", "*"), keys("street", "*")
        docs = await repo.rollup_docs(db, ids=[*dkeys, *skeys], version=version)
        depts, streets = d.of_level("department"), d.of_level("street")
        lists = await repo.open_docs(db, ids=[*(f"dp:{c}" for c in depts), *(f"st:{c}" for c in streets)],
                                     version=version)
        # by list and case: a joint case is in its lead's and each assisting department's list
        by_dept = {f"{k}#{cid}": e for k, v in lists.items() if k.startswith("dp:") for cid, e in v.items()}
        by_street = {cid: e for k, v in lists.items() if k.startswith("st:") for cid, e in v.items()}
        out["tables"]["departments"] = _table(depts, names, _summed(docs, dkeys),
                                              _overdue_unhandled(by_dept, 8, lo, hi, ts), weights["departments"])
        out["tables"]["streets"] = _table(streets, names, _summed(docs, skeys),
                                          _overdue_unhandled(by_street, 7, lo, hi, ts), weights["streets"])
    elif level == "street":
        wkeys = keys("workstation", f"st={unit}")
        docs = await repo.rollup_docs(db, ids=wkeys, version=version)
        entries = (await repo.open_docs(db, ids=[f"st:{unit}"], version=version))[f"st:{unit}"]
        codes = sorted(c for c in d.children.get(unit, []) if d.level.get(c) == "workstation")
        out["tables"]["workstations"] = _table(codes, names, _summed(docs, wkeys),
                                               _overdue_unhandled(entries, 5, lo, hi, ts), weights["workstations"])
    elif level == "department":
        hkeys = keys("handler", f"dp={unit}")
        docs = await repo.rollup_docs(db, ids=hkeys, version=version)
        entries = (await repo.open_docs(db, ids=[f"dp:{unit}"], version=version))[f"dp:{unit}"]
        cells = _summed(docs, hkeys)
        overdue = _overdue_unhandled(entries, 12, lo, hi, ts)
        teams = sorted(set(cells) | set(overdue))
        rows = _table(teams, {"-": UNTAKEN.get(lang, UNTAKEN["zh"])}, cells, overdue, weights["teams"])
        for r in rows:
            r["team"], r["unit"] = r["unit"], unit
        out["tables"]["teams"] = rows
    elif level in ("workstation", "patrol_zone"):
        ckeys = keys("coordinator", f"ws={unit}")
        docs = await repo.rollup_docs(db, ids=ckeys, version=version)
        entries = (await repo.open_docs(db, ids=[f"ws:{unit}"], version=version))[f"ws:{unit}"]
        cells = _summed(docs, ckeys)
        overdue = _overdue_unhandled(entries, 13, lo, hi, ts)
        roster = await repo.coordinators(db, units=[unit, *d.children.get(unit, [])])
        posts = {_key(m["name"]): m["unit"] for m in roster}
        people = sorted(set(cells) | set(overdue) | set(posts))
        rows = _table(people, {}, cells, overdue, weights["coordinators"])
        for r in rows:
            r["coordinator"], r["unit"] = r["unit"], posts.get(r["unit"], "")
        out["tables"]["coordinators"] = rows
    else:
        raise InvalidInput("assessment is by the district, a department, a street or a workstation",
                           field="unit")
    out["weights"] = {t: weights[t] for t in out["tables"]}
    out["definitions"] = definitions(lang)
    return out


def definitions(lang: str) -> list[dict[str, Any]]:
    """Each indicator's name and formula in `lang` (the page and JSON show them)."""
    en = lang == "en"
    return [{"key": i.key, "name": i.en if en else i.zh, "formula": i.formula_en if en else i.formula_zh,
             "kind": i.kind, "weighted": i.key in WEIGHTED, "inverse": i.inverse}
            for i in INDICATORS]


# ------------------------------------------------------------------ exports

def _headers(lang: str) -> list[str]:
    return [en if lang == "en" else zh for _, zh, en in COLUMNS]


def _cells(r: dict[str, Any], lang: str) -> list[Any]:
    row = [r.get(k) for k, _, _ in COLUMNS]
    if r.get("no_data"):
        row[[k for k, _, _ in COLUMNS].index("grade")] = NO_DATA.get(lang, NO_DATA["zh"])
    return row


def table_title(name: str, lang: str) -> str:
    zh, en = TABLE_TITLES.get(name, (name, name))
    return en if lang == "en" else zh


def to_csv(result: dict[str, Any], lang: str = "zh") -> str:
    buf = io.StringIO()
    writer = csv.writer(buf)
    for name, rows in result["tables"].items():
        writer.writerow([f"{result['period']} {result['name']} · {table_title(name, lang)}"])
        writer.writerow(_headers(lang))
        for r in rows:
            writer.writerow(["" if v is None else v for v in _cells(r, lang)])
        writer.writerow([])
    return buf.getvalue()


def to_xlsx(result: dict[str, Any], lang: str = "zh") -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    wb.remove(wb.active)  # type: ignore[arg-type]
    for name, rows in result["tables"].items():
        ws = wb.create_sheet(table_title(name, lang))
        ws.append(_headers(lang))
        for r in rows:
            ws.append(_cells(r, lang))
    defs = wb.create_sheet("指标定义" if lang != "en" else "Definitions")
    defs.append(["指标", "公式"] if lang != "en" else ["Indicator", "Formula"])
    for item in definitions(lang):
        defs.append([item["name"], item["formula"]])
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
