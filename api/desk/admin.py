"""The admin's desk pages: the roster (bulk import with its error report, who is bound where,
unbind, printable invite sheets), staff accounts, Open311 keys and staff API tokens,
categories and their time limits, the refusal reasons, the assessment's weights per level, and the audit log of
all of these.

Every page needs the admin role and every form its CSRF token (api.desk.session), as the
calendar pages do. Each change is made by the domain function the API or CLI uses, then
recorded in the audit log (staff.audit).
"""

from __future__ import annotations

import asyncio
from datetime import date, timedelta
from typing import Any
from urllib.parse import quote

import segno
from aiohttp import web

from api.desk.i18n import t
from api.desk.session import locale, need, read_form
from api.desk.views import page, render
from api.keys import CLOCK, DB, PTB_APP, SETTINGS
from api.telegram import invite_link
from bot import domain as bot_domain
from bot import repository as bot_repo
from bot import roster
from cases import refusals
from cases import repository as cases_repo
from cases.categories import parse_category
from cases.errors import BadCaseInput
from gridlink import auth
from gridlink.errors import InvalidInput, NotFound
from grids import repository as grids_repo
from open311 import repository as open311_repo
from staff import admin as staff_admin
from staff import audit
from staff import repository as staff_repo
from staff import service as staff_service
from staff.errors import BadAccount, UsernameTaken
from staff.model import ROLES as STAFF_ROLES
from staff.model import UNIT_LEVELS, Session
from stats import assessment as assess

SHOWN_PROBLEMS = 200  # rows listed on the result page; the report has them all


async def audit_change(request: web.Request, session: Session, action: str, target: str,
                 **detail: Any) -> None:
    await audit.record(request.app[DB], by=session.account.username, action=action,
                       target=target, now=request.app[CLOCK].now(),
                       tz=request.app[SETTINGS].tz, detail=detail)


def _back(location: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther(location=location)


@page
async def home(request: web.Request) -> web.StreamResponse:
    await need(request, "admin")
    return await render(request, "admin_home.html", {})


# ---------------------------------------------------------------- roster


def _reason(problem: roster.Problem, loc: str) -> str:
    params = dict(problem.params)
    if problem.reason == "unit_level":
        params = {"role": t(f"role.{params['role']}", loc),
                  "level": t(f"level.{params['level']}", loc),
                  "levels": " / ".join(t(f"level.{lv}", loc) for lv in params["levels"])}
    return t(f"reason.{problem.reason}", loc, **params)


def _file_problem(exc: InvalidInput, loc: str) -> str:
    reason = exc.details.get("reason")
    if not reason:
        return exc.message
    params = {k: v for k, v in exc.details.items() if k not in ("reason", "field")}
    return t(f"file.{reason}", loc, **params)


async def _unit_or_none(request: web.Request, code: str) -> Any:
    return await grids_repo.find_unit(request.app[DB], code=code) if code else None


@page
async def roster_page(request: web.Request) -> web.StreamResponse:
    return await _roster_view(request)


async def _roster_view(request: web.Request, *, problem: str = "", status: int = 200
                       ) -> web.StreamResponse:
    await need(request, "admin")
    db = request.app[DB]
    now = request.app[CLOCK].now()
    code = request.query.get("unit", "").strip()[:40]
    ctx: dict[str, Any] = {"unit_code": code, "unit": None, "problem": problem,
                           "recent": await roster.recent_batches(db)}
    if code:
        unit = await _unit_or_none(request, code)
        if unit is None:
            ctx["problem"] = problem or t("roster.no_unit", locale(request), code=code)
        else:
            _, children = await grids_repo.list_units(db, parent=code, limit=200)
            ctx.update(unit=unit, children=children,
                       people=await roster.people_of(db, unit=code, now=now),
                       members=await grids_repo.members(db, unit=code)
                       + await grids_repo.also_members(db, unit=code))
    notice = request.query.get("notice")
    if notice == "unbound":
        ctx["notice"] = t("roster.unbound", locale(request), name=request.query.get("name", ""),
                          n=request.query.get("n", "0"))
    elif notice == "removed":
        ctx["notice"] = t("roster.removed", locale(request), name=request.query.get("name", ""))
    elif notice == "reissued":
        ctx["notice"] = t("roster.reissued", locale(request), n=request.query.get("n", "0"))
    return await render(request, "admin_roster.html", ctx, status=status)


@page
async def roster_import(request: web.Request) -> web.StreamResponse:
    session = await need(request, "admin")
    form = await read_form(request, session)
    loc = locale(request)
    upload = form.get("file")
    if not isinstance(upload, web.FileField):
        return await _roster_view(request, problem=t("roster.no_file", loc), status=400)
    # Reading and parsing 30,000 rows takes seconds of CPU: off the event loop.
    data = await asyncio.to_thread(upload.file.read, roster.MAX_BYTES + 1)
    try:
        rows = await asyncio.to_thread(roster.read_rows, data, upload.filename or "")
    except InvalidInput as exc:
        return await _roster_view(request, problem=_file_problem(exc, loc), status=400)
    outcome = await roster.import_rows(request.app[DB], rows, filename=upload.filename or "",
                                       by=session.account.username,
                                       now=request.app[CLOCK].now())
    await audit_change(request, session, "roster.import", outcome.batch,
                 file=upload.filename or "", rows=outcome.rows, imported=outcome.imported,
                 rejected=len(outcome.problems))
    raise _back(f"/desk/admin/roster/imports/{outcome.batch}")


@page
async def import_page(request: web.Request) -> web.StreamResponse:
    await need(request, "admin")
    db = request.app[DB]
    batch = await roster.get_batch(db, batch=request.match_info["batch"])
    problems = await roster.batch_problems(db, batch=batch["_id"])
    loc = locale(request)
    rows = [{"row": p.row, "column": t(f"roster.col.{p.column}", loc), "value": p.value,
             "reason": _reason(p, loc)} for p in problems[:SHOWN_PROBLEMS]]
    return await render(request, "admin_import.html", {
        "batch": batch, "problems": rows, "total_problems": len(problems),
        "shown": SHOWN_PROBLEMS})


@page
async def import_report(request: web.Request) -> web.StreamResponse:
    """GET …/imports/{batch}/errors.csv|xlsx[?lang=en|zh-CN]: every refused row and why."""
    await need(request, "admin")
    db = request.app[DB]
    batch = await roster.get_batch(db, batch=request.match_info["batch"])
    fmt = request.match_info["fmt"]
    asked = request.query.get("lang", "")
    loc = asked if asked in ("en", "zh-CN") else locale(request)
    header = [t(f"import.col.{c}", loc) for c in ("row", "column", "value", "reason")]
    body = [[p.row, t(f"roster.col.{p.column}", loc), p.value, _reason(p, loc)]
            for p in await roster.batch_problems(db, batch=batch["_id"])]
    if fmt == "csv":
        data = roster.report_csv(header, body)
        ctype = "text/csv; charset=utf-8"
    else:
        data = await asyncio.to_thread(roster.report_xlsx, header, body,
                                       title=t("import.report_title", loc))
        ctype = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    name = f"roster-errors-{batch['_id']}.{fmt}"
    return web.Response(body=data, headers={
        "Content-Type": ctype, "Content-Disposition": f'attachment; filename="{name}"',
        "Cache-Control": "no-store"})


def _link(request: web.Request, token: str) -> str:
    """The bot's deep link; before the bot knows its username, a link naming no bot (the
    token is still the one /start redeems)."""
    application = request.app.get(PTB_APP)
    found = invite_link(application, token) if application is not None else None
    return found or f"https://t.me/?start={token}"


@page
async def sheet_page(request: web.Request) -> web.StreamResponse:
    """A printable page: one QR code per person of the unit still waiting to bind."""
    await need(request, "admin")
    db = request.app[DB]
    code = request.query.get("unit", "").strip()[:40]
    unit = await _unit_or_none(request, code)
    if unit is None:
        raise NotFound(t("roster.no_unit", locale(request), code=code))
    cards = []
    for entry in await roster.people_of(db, unit=code, now=request.app[CLOCK].now()):
        if entry.status != "pending":
            continue
        link = _link(request, entry.token)
        cards.append({"entry": entry, "link": link,
                      "qr": segno.make(link, error="m").svg_data_uri(scale=4, border=2)})
    return await render(request, "admin_sheet.html", {"unit": unit, "cards": cards})


@page
async def roster_unbind(request: web.Request) -> web.StreamResponse:
    session = await need(request, "admin")
    form = await read_form(request, session)
    raw = str(form.get("user_id") or "")
    if not raw.lstrip("-").isdigit():
        raise InvalidInput("user_id must be a Telegram user id (an integer)")
    db = request.app[DB]
    member = await bot_domain.unbind_member(db, user_id=int(raw))
    if member is None:
        raise NotFound(t("roster.not_bound", locale(request)))
    await bot_repo.clear_conversation(db, chat_id=member["chat_id"])
    open_cases = await bot_domain.open_cases_for(db, unit=member["unit"],
                                                 now=request.app[CLOCK].now())
    await audit_change(request, session, "roster.unbind", str(member["user_id"]),
                 role=member["role"], unit=member["unit"], name=member.get("name", ""))
    raise _back(f"/desk/admin/roster?unit={quote(member['unit'])}&notice=unbound"
                f"&name={quote(str(member.get('name', '')))}&n={len(open_cases)}")


@page
async def roster_remove(request: web.Request) -> web.StreamResponse:
    session = await need(request, "admin")
    form = await read_form(request, session)
    doc = await roster.remove_person(request.app[DB], phone=str(form.get("phone") or "")[:20])
    await audit_change(request, session, "roster.remove", doc["phone"], name=doc["name"],
                       role=doc["role"], unit=doc["unit"])
    raise _back(f"/desk/admin/roster?unit={quote(doc['unit'])}&notice=removed"
                f"&name={quote(doc['name'])}")


@page
async def roster_reissue(request: web.Request) -> web.StreamResponse:
    session = await need(request, "admin")
    form = await read_form(request, session)
    code = str(form.get("unit") or "").strip()[:40]
    if await _unit_or_none(request, code) is None:
        raise NotFound(t("roster.no_unit", locale(request), code=code))
    n = await roster.reissue(request.app[DB], unit=code, now=request.app[CLOCK].now(),
                             by=session.account.username)
    await audit_change(request, session, "roster.reissue", code, invites=n)
    raise _back(f"/desk/admin/roster?unit={quote(code)}&notice=reissued&n={n}")


# ---------------------------------------------------------------- staff accounts


async def _staff_context(request: web.Request) -> dict[str, Any]:
    return {"accounts": await staff_repo.list_accounts(request.app[DB]), "roles": STAFF_ROLES,
            "values": {}}


@page
async def staff_page(request: web.Request) -> web.StreamResponse:
    await need(request, "admin")
    ctx = await _staff_context(request)
    loc = locale(request)
    if request.query.get("added"):
        ctx["notice"] = t("staff.added", loc, username=request.query["added"])
    if request.query.get("changed"):
        state = t("staff.disabled" if request.query.get("state") == "disabled" else "staff.active", loc)
        ctx["notice"] = t("staff.changed", loc, username=request.query["changed"], state=state)
    return await render(request, "admin_staff.html", ctx)


@page
async def staff_add(request: web.Request) -> web.StreamResponse:
    session = await need(request, "admin")
    form = await read_form(request, session)
    values = {k: str(form.get(k) or "") for k in ("username", "name", "role", "unit", "locale")}
    try:
        account = await staff_service.create_account(
            request.app[DB], username=values["username"], password=str(form.get("password") or ""),
            role=values["role"], unit=values["unit"].strip(), name=values["name"],
            district=request.app[SETTINGS].district_code, now=request.app[CLOCK].now(),
            locale=values["locale"] or None)
    except (BadAccount, UsernameTaken) as exc:
        ctx = {**await _staff_context(request), "values": values,
               "problem": _account_problem(exc, values, locale(request))}
        return await render(request, "admin_staff.html", ctx, status=400)
    await audit_change(request, session, "staff.add", account.username, role=account.role,
                 unit=account.unit)
    raise _back(f"/desk/admin/staff?added={quote(account.username)}")


def _account_problem(exc: BadAccount | UsernameTaken, values: dict[str, str], loc: str) -> str:
    if isinstance(exc, UsernameTaken):
        return t("staff.taken", loc, username=values["username"].strip().lower())
    field = str(exc.details.get("field") or "")
    if field == "unit":
        role = values["role"] if values["role"] in UNIT_LEVELS else "admin"
        return t("staff.bad.unit", loc, unit=values["unit"], role=t(f"role.{role}", loc),
                 levels=" / ".join(t(f"level.{lv}", loc) for lv in UNIT_LEVELS[role]))
    return t(f"staff.bad.{field}", loc) if field in ("username", "role", "password", "locale") \
        else exc.message


@page
async def staff_state(request: web.Request) -> web.StreamResponse:
    session = await need(request, "admin")
    await read_form(request, session)
    staff_id, op = request.match_info["staff_id"], request.match_info["op"]
    if op == "disable" and staff_id == session.account.id:
        raise InvalidInput(t("staff.self", locale(request)))
    doc = await staff_admin.set_disabled(request.app[DB], staff_id=staff_id,
                                         disabled=op == "disable")
    await audit_change(request, session, f"staff.{op}", doc["username"])
    state = "disabled" if op == "disable" else "active"
    raise _back(f"/desk/admin/staff?changed={quote(doc['username'])}&state={state}")


# ---------------------------------------------------------------- Open311 keys, API tokens


async def _keys_context(request: web.Request) -> dict[str, Any]:
    db = request.app[DB]
    return {"open311_keys": await open311_repo.list_keys(db),
            "tokens": await staff_admin.list_tokens(db), "token_roles": auth.ROLES}


@page
async def keys_page(request: web.Request) -> web.StreamResponse:
    await need(request, "admin")
    ctx = await _keys_context(request)
    if request.query.get("revoked"):
        ctx["notice"] = t("keys.gone", locale(request), name=request.query["revoked"])
    return await render(request, "admin_keys.html", ctx)


@page
async def open311_key_create(request: web.Request) -> web.StreamResponse:
    session = await need(request, "admin")
    form = await read_form(request, session)
    name = str(form.get("name") or "").strip()
    try:
        key = await open311_repo.create_key(request.app[DB], name=name,
                                            now=request.app[CLOCK].now())
    except InvalidInput:
        ctx = {**await _keys_context(request), "problem": t("keys.bad_name", locale(request))}
        return await render(request, "admin_keys.html", ctx, status=400)
    await audit_change(request, session, "open311_key.create", name)
    # Shown in this response only: the key is stored hashed.
    return await render(request, "admin_keys.html", {**await _keys_context(request),
                                                     "secret": key, "secret_for": name})


@page
async def open311_key_revoke(request: web.Request) -> web.StreamResponse:
    session = await need(request, "admin")
    await read_form(request, session)
    key_id = request.match_info["key_id"]
    if not await open311_repo.revoke_key(request.app[DB], key_id=key_id,
                                         now=request.app[CLOCK].now()):
        raise NotFound(f"no active Open311 key {key_id!r}")
    await audit_change(request, session, "open311_key.revoke", key_id)
    raise _back(f"/desk/admin/keys?revoked={quote(key_id)}")


@page
async def token_create(request: web.Request) -> web.StreamResponse:
    session = await need(request, "admin")
    form = await read_form(request, session)
    role, unit = str(form.get("role") or ""), str(form.get("unit") or "").strip()
    name = str(form.get("name") or "").strip()[:100]
    days_raw = str(form.get("days") or "").strip()
    try:
        if days_raw and not (days_raw.isdigit() and 0 < int(days_raw) <= 3650):
            raise InvalidInput(t("keys.bad_days", locale(request)))
        if role != "admin" and await _unit_or_none(request, unit) is None:
            raise InvalidInput(t("roster.no_unit", locale(request), code=unit))
        token = await auth.create_token(
            request.app[DB], role=role, unit=unit or request.app[SETTINGS].district_code,
            district=request.app[SETTINGS].district_code, name=name,
            now=request.app[CLOCK].now(), ttl=timedelta(days=int(days_raw)) if days_raw else None)
    except InvalidInput as exc:
        ctx = {**await _keys_context(request), "problem": exc.message}
        return await render(request, "admin_keys.html", ctx, status=400)
    await audit_change(request, session, "token.create", name or role, role=role, unit=unit)
    return await render(request, "admin_keys.html", {**await _keys_context(request),
                                                     "secret": token, "secret_for": name or role})


@page
async def token_revoke(request: web.Request) -> web.StreamResponse:
    session = await need(request, "admin")
    await read_form(request, session)
    doc = await staff_admin.revoke_token(request.app[DB], token_id=request.match_info["token_id"])
    await audit_change(request, session, "token.revoke", doc["_id"], role=doc["role"],
                 unit=doc["unit"], name=doc.get("name", ""))
    raise _back(f"/desk/admin/keys?revoked={quote(doc.get('name') or doc['_id'])}")


# ---------------------------------------------------------------- categories


@page
async def categories_page(request: web.Request) -> web.StreamResponse:
    return await _categories_view(request)


async def _categories_view(request: web.Request, *, problem: str = "", status: int = 200
                           ) -> web.StreamResponse:
    await need(request, "admin")
    ctx: dict[str, Any] = {"categories": await cases_repo.list_categories(request.app[DB]),
                           "problem": problem}
    if request.query.get("saved"):
        ctx["notice"] = t("catg.saved", locale(request), code=request.query["saved"])
    return await render(request, "admin_categories.html", ctx, status=status)


def _number(raw: Any) -> float | None:
    text = str(raw or "").strip()
    if not text:
        return None
    try:
        return float(text)
    except ValueError:
        raise BadCaseInput(f"{text!r} is not a number") from None


@page
async def category_post(request: web.Request) -> web.StreamResponse:
    """Change a category's limits (the rest of it as stored), through the API's own parser."""
    session = await need(request, "admin")
    form = await read_form(request, session)
    db = request.app[DB]
    code = request.match_info["code"]
    current = await cases_repo.get_category(db, code=code)
    data = {k: v for k, v in current.items() if k not in ("_id", "updated_at", "updated_by")}
    try:
        hours, days = _number(form.get("hours")), _number(form.get("working_days"))
        data["limit"] = {k: v for k, v in (("hours", hours), ("working_days",
                         int(days) if days is not None else None)) if v is not None}
        dispatch, verify = _number(form.get("dispatch_minutes")), _number(form.get("verify_hours"))
        if dispatch is not None:
            data["dispatch_minutes"] = int(dispatch)
        if verify is not None:
            data["verify_hours"] = verify
        data["active"] = form.get("active") == "on"
        data["code"] = code
        category = parse_category(data)
    except BadCaseInput as exc:
        return await _categories_view(request, problem=f"{code}: {exc.message}", status=400)
    before = {"limit": current.get("limit"), "dispatch_minutes": current.get("dispatch_minutes"),
              "verify_hours": current.get("verify_hours"), "active": current.get("active")}
    doc = await cases_repo.put_category(db, category=category, now=request.app[CLOCK].now(),
                                        by=session.account.username)
    after = {k: doc.get(k) for k in before}
    await audit_change(request, session, "category.update", code,
                 **{k: f"{before[k]} → {after[k]}" for k in before if before[k] != after[k]})
    raise _back(f"/desk/admin/categories?saved={quote(code)}")


# ---------------------------------------------------------------- refusal reasons (issue 22)


@page
async def reasons_page(request: web.Request) -> web.StreamResponse:
    return await _reasons_view(request)


async def _reasons_view(request: web.Request, *, problem: str = "", values: dict[str, str] | None = None,
                        status: int = 200) -> web.StreamResponse:
    await need(request, "admin")
    ctx: dict[str, Any] = {"reasons": await refusals.list_reasons(request.app[DB]),
                           "problem": problem, "values": values or {}}
    if request.query.get("saved"):
        ctx["notice"] = t("rsn.saved", locale(request), code=request.query["saved"])
    return await render(request, "admin_reasons.html", ctx, status=status)


async def _save_reason(request: web.Request, session: Session, code: str, form: Any, *,
                       adding: bool) -> web.StreamResponse:
    """Store one reason through the domain's parser and record the change in the audit log."""
    db = request.app[DB]
    stored = {d["_id"]: d for d in await refusals.list_reasons(db)}
    values = {k: str(form.get(k) or "") for k in ("code", "zh", "en")}
    if adding and code in stored:
        return await _reasons_view(request, problem=t("rsn.exists", locale(request), code=code),
                                   values=values, status=409)
    if not adding and code not in stored:
        raise NotFound(f"unknown reason {code!r}")
    try:
        reason = refusals.parse_reason({"code": code, "zh": form.get("zh") or "",
                                        "en": form.get("en") or "",
                                        "active": adding or form.get("active") == "on"})
    except BadCaseInput as exc:
        return await _reasons_view(request, problem=f"{code}: {exc.message}",
                                   values=values if adding else {}, status=400)
    doc = await refusals.put_reason(db, reason=reason, now=request.app[CLOCK].now(),
                                    by=session.account.username)
    await audit_change(request, session, "refusal_reason.add" if adding else "refusal_reason.update",
                       code, **refusals.changes(stored.get(code), doc))
    raise _back(f"/desk/admin/reasons?saved={quote(code)}")


@page
async def reason_add(request: web.Request) -> web.StreamResponse:
    session = await need(request, "admin")
    form = await read_form(request, session)
    return await _save_reason(request, session, str(form.get("code") or "").strip(), form,
                              adding=True)


@page
async def reason_post(request: web.Request) -> web.StreamResponse:
    session = await need(request, "admin")
    form = await read_form(request, session)
    return await _save_reason(request, session, request.match_info["code"], form, adding=False)


# ---------------------------------------------------------------- assessment weights


async def _weights_view(request: web.Request, *, problem: str = "", level: str = "",
                        values: dict[str, str] | None = None, status: int = 200
                        ) -> web.StreamResponse:
    await need(request, "admin")
    loc = locale(request)
    doc = await assess.weights_doc(request.app[DB])
    indicators = [{"key": k, "name": assess.BY_KEY[k].en if loc == "en" else assess.BY_KEY[k].zh}
                  for k in assess.WEIGHTED]
    ctx: dict[str, Any] = {"doc": doc, "levels": assess.LEVELS, "indicators": indicators,
                           "problem": problem, "problem_level": level, "values": values or {}}
    done, saved = request.query.get("done"), request.query.get("level", "")
    if done in ("saved", "restored") and saved in assess.LEVELS:
        ctx["notice"] = t(f"weights.{done}", loc, level=t(f"weights.level.{saved}", loc))
    return await render(request, "admin_weights.html", ctx, status=status)


@page
async def weights_page(request: web.Request) -> web.StreamResponse:
    return await _weights_view(request)


def _weights_problem(exc: InvalidInput, level: str, names: dict[str, str], loc: str) -> str:
    """The domain's refusal (stats.assessment.check_weights) in the desk's words."""
    field = str(exc.details.get("field") or "")
    key = field.split(".", 1)[1] if "." in field else ""
    if "sum" in exc.details or field == level:
        return t("weights.bad_sum", loc, level=t(f"weights.level.{level}", loc),
                 sum=exc.details.get("sum", 0))
    if key and "negative" in exc.message:
        return t("weights.negative", loc, indicator=names.get(key, key))
    if key:  # not finite ("nan", "inf"): not a number a weight can be
        return t("weights.bad_number", loc, indicator=names.get(key, key), value=key)
    return exc.message


@page
async def weights_post(request: web.Request) -> web.StreamResponse:
    """Save one level's weights (or restore its defaults) through stats.assessment.save_weights,
    the function the API's PUT calls; an empty field leaves the indicator out (weight 0)."""
    session = await need(request, "admin")
    form = await read_form(request, session)
    loc = locale(request)
    level = str(form.get("level") or "")
    if level not in assess.LEVELS:
        return await _weights_view(request, problem=t("weights.bad_level", loc), status=400)
    names = {k: (assess.BY_KEY[k].en if loc == "en" else assess.BY_KEY[k].zh) for k in assess.WEIGHTED}
    values = {k: str(form.get(k) or "").strip()[:20] for k in assess.WEIGHTED}
    restore = form.get("op") == "restore"
    given: dict[str, Any] = {level: None}
    if not restore:
        weights: dict[str, float] = {}
        for key, raw in values.items():
            if not raw:
                continue
            try:
                weights[key] = float(raw.replace("，", ".").replace(",", "."))
            except ValueError:
                return await _weights_view(
                    request, problem=t("weights.bad_number", loc, indicator=names[key], value=raw),
                    level=level, values=values, status=400)
        given = {level: weights}
    try:
        await assess.save_weights(request.app[DB], given, by=session.account.username,
                                  now=request.app[CLOCK].now())
    except InvalidInput as exc:
        return await _weights_view(request, problem=_weights_problem(exc, level, names, loc),
                                   level=level, values=values, status=400)
    await audit_change(request, session, "assessment.weights", level, weights=given[level],
                       restored=restore)
    raise _back(f"/desk/admin/weights?done={'restored' if restore else 'saved'}&level={level}")


# ---------------------------------------------------------------- audit log


@page
async def audit_page(request: web.Request) -> web.StreamResponse:
    await need(request, "admin")
    today = request.app[CLOCK].now().astimezone(request.app[SETTINGS].tz).date()
    try:
        day = date.fromisoformat(request.query.get("day", "")) if request.query.get("day") else today
    except ValueError:
        day = today
    entries = await audit.entries_of(request.app[DB], day=day)
    return await render(request, "admin_audit.html", {
        "day": day, "entries": entries, "prev": day - timedelta(days=1),
        "next": day + timedelta(days=1) if day < today else None})


def setup_routes(app: web.Application) -> None:
    from api.desk import admin_grids  # it imports audit_change from here

    r = app.router
    r.add_get("/desk/admin", home)
    r.add_get("/desk/admin/roster", roster_page)
    r.add_post("/desk/admin/roster/import", roster_import)
    r.add_get("/desk/admin/roster/imports/{batch}", import_page)
    r.add_get(r"/desk/admin/roster/imports/{batch}/errors.{fmt:csv|xlsx}", import_report)
    r.add_get("/desk/admin/roster/sheet", sheet_page)
    r.add_post("/desk/admin/roster/unbind", roster_unbind)
    r.add_post("/desk/admin/roster/reissue", roster_reissue)
    r.add_post("/desk/admin/roster/remove", roster_remove)
    r.add_get("/desk/admin/staff", staff_page)
    r.add_post("/desk/admin/staff", staff_add)
    r.add_post("/desk/admin/staff/{staff_id}/{op:disable|enable}", staff_state)
    r.add_get("/desk/admin/keys", keys_page)
    r.add_post("/desk/admin/keys/open311", open311_key_create)
    r.add_post("/desk/admin/keys/open311/{key_id}/revoke", open311_key_revoke)
    r.add_post("/desk/admin/keys/tokens", token_create)
    r.add_post("/desk/admin/keys/tokens/{token_id}/revoke", token_revoke)
    r.add_get("/desk/admin/categories", categories_page)
    r.add_post("/desk/admin/categories/{code}", category_post)
    r.add_get("/desk/admin/reasons", reasons_page)
    r.add_post("/desk/admin/reasons", reason_add)
    r.add_post("/desk/admin/reasons/{code}", reason_post)
    r.add_get("/desk/admin/weights", weights_page)
    r.add_post("/desk/admin/weights", weights_post)
    r.add_get("/desk/admin/audit", audit_page)
    admin_grids.setup_routes(app)
