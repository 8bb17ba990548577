"""The admin's calendar pages: which years are entered, and entering or replacing one year's
holidays and adjusted workdays, with a preview of the running deadlines it would move.

Saving goes through `cases.lifecycle.enter_calendar_year`, as the API does: it validates the
year (dates inside it, none both holiday and workday), stores it and recomputes the
provisional deadlines, whose assignees notify then tells.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import date, datetime
from typing import Any

from aiohttp import web

from api.desk.i18n import t
from api.desk.session import locale, need, read_form
from api.desk.views import page, render
from api.keys import CLOCK, DB, SETTINGS
from cases import lifecycle
from cases import repository as cases_repo
from cases.calendar import check_year, deadline_for, package_days
from cases.errors import BadCaseInput
from cases.model import CasePolicy
from gridlink.db import Database
from staff import audit

FIRST_YEAR, LAST_YEAR = 2000, 2100
LINE_RE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\s+(.*))?$")


def _today(request: web.Request) -> date:
    return request.app[CLOCK].now().astimezone(request.app[SETTINGS].tz).date()


def _year(request: web.Request) -> int:
    raw = request.match_info["year"]
    if not raw.isdigit() or not FIRST_YEAR <= int(raw) <= LAST_YEAR:
        raise BadCaseInput(t("cal.bad_year", locale(request)), field="year")
    return int(raw)


def parse_lines(text: str, loc: str) -> dict[date, str]:
    """`YYYY-MM-DD name` lines (blank lines skipped) → {date: name}; a bad line names itself."""
    out: dict[date, str] = {}
    for n, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        match = LINE_RE.match(line)
        try:
            day = date.fromisoformat(match.group(1)) if match else None
        except ValueError:
            day = None
        if match is None or day is None:
            raise BadCaseInput(t("cal.bad_line", loc, n=n, line=line[:40]), field="date")
        out[day] = (match.group(2) or "").strip()[:60]
    return out


def _lines(days: dict[date, str] | list[dict[str, Any]]) -> str:
    if isinstance(days, dict):
        return "\n".join(f"{d.isoformat()} {n}".strip() for d, n in sorted(days.items()))
    return "\n".join(f"{d['date']} {d.get('name', '')}".strip() for d in days)


async def preview(db: Database, *, year: int, holidays: dict[date, str],
                  workdays: dict[date, str], policy: CasePolicy) -> list[dict[str, Any]]:
    """The running provisional deadlines that entering this year would change, and to what."""
    rows = []
    for case in await cases_repo.provisional_deadline_cases(db, states=lifecycle.DEADLINE_STATES):
        basis = case.get("deadline_basis") or {}
        if not basis:
            continue
        start: datetime = basis["start"]
        first = start.astimezone(policy.tz).year
        calendar = await cases_repo.load_calendar(db, years=range(first, first + 2))
        if year in calendar.provisional_years or year in calendar.covered_years:
            others_h = {d for d in calendar.holidays if d.year != year}
            others_w = {d for d in calendar.workdays if d.year != year}
            calendar = replace(calendar, covered_years=calendar.covered_years | {year},
                               provisional_years=calendar.provisional_years - {year},
                               holidays=frozenset(others_h | set(holidays)),
                               workdays=frozenset(others_w | set(workdays)))
        due = deadline_for(dict(basis["limit"]), start, tz=policy.tz, calendar=calendar)
        still = calendar.is_provisional(start.astimezone(policy.tz).date(),
                                        due.astimezone(policy.tz).date())
        if due != case["deadline"] or not still:
            rows.append({"id": case["_id"], "serial": case["serial"], "deadline": case["deadline"],
                         "new": due, "provisional": still,
                         "assignee": (case.get("assignee") or {}).get("name", "")})
    return rows


@page
async def years_page(request: web.Request) -> web.StreamResponse:
    await need(request, "admin")
    db = request.app[DB]
    today = _today(request)
    entered = {doc["_id"]: doc for doc in await cases_repo.list_calendar_years(db)}
    years = sorted(set(entered) | {today.year, today.year + 1})
    rows = [{"year": y, "entered": entered.get(y)} for y in years if y >= today.year - 1]
    ctx: dict[str, Any] = {"years": rows}
    saved = request.query.get("saved")
    if saved and saved.isdigit():
        ctx["notice"] = t("cal.saved", locale(request), year=saved,
                          n=int(request.query.get("changed") or 0))
    return await render(request, "calendar.html", ctx)


async def _year_context(request: web.Request, year: int) -> dict[str, Any]:
    doc = await cases_repo.calendar_year(request.app[DB], year=year)
    if doc is not None:
        return {"year": year, "entered": doc, "holidays_text": _lines(doc["holidays"]),
                "workdays_text": _lines(doc["workdays"])}
    days = package_days(year)
    return {"year": year, "entered": None,
            "holidays_text": _lines([{"date": d["_id"], "name": d["name"]} for d in days
                                     if d["kind"] == "holiday"]),
            "workdays_text": ""}


@page
async def year_page(request: web.Request) -> web.StreamResponse:
    await need(request, "admin")
    return await render(request, "calendar_year.html", await _year_context(request, _year(request)))


@page
async def year_post(request: web.Request) -> web.StreamResponse:
    session = await need(request, "admin")
    form = await read_form(request, session)
    year = _year(request)
    loc = locale(request)
    ctx = {**await _year_context(request, year),
           "holidays_text": str(form.get("holidays") or ""),
           "workdays_text": str(form.get("workdays") or "")}
    policy = CasePolicy.from_settings(request.app[SETTINGS])
    db = request.app[DB]
    try:
        holidays = parse_lines(ctx["holidays_text"], loc)
        workdays = parse_lines(ctx["workdays_text"], loc)
        check_year(year, holidays, workdays)
        if form.get("op") != "save":
            ctx["preview"] = await preview(db, year=year, holidays=holidays,
                                           workdays=workdays, policy=policy)
            return await render(request, "calendar_year.html", ctx)
        changed = await lifecycle.enter_calendar_year(
            db, year=year, holidays=holidays, workdays=workdays,
            now=request.app[CLOCK].now(), by=session.account.username, policy=policy)
    except BadCaseInput as exc:
        ctx["problem"] = exc.message
        return await render(request, "calendar_year.html", ctx, status=400)
    await audit.record(db, by=session.account.username, action="calendar.enter", target=str(year),
                       now=request.app[CLOCK].now(), tz=request.app[SETTINGS].tz,
                       detail={"holidays": len(holidays), "workdays": len(workdays),
                               "deadlines_moved": len(changed)})
    raise web.HTTPSeeOther(location=f"/desk/admin/calendar?saved={year}&changed={len(changed)}")
