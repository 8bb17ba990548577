"""The desk's moderation pages (center staff): a case's moderation page (hide/unhide, redact a
photo with the rectangle picker, block its chat reporter) and the moderation overview (blocks in
force, with an end button, and the last days' log).

Like the other desk pages these parse the form, call `cases.moderation` (which checks role,
area and state through the workflow table) and render or redirect; refusals are pages.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.desk import forms
from api.desk.i18n import t
from api.desk.session import actor, locale, need, read_form, safe_next
from api.desk.views import _load_case, _now, page, render
from api.errors import status_for
from api.keys import DB, PHOTO_WORKERS, SETTINGS
from cases import moderation, visibility, workflow
from cases import repository as cases_repo
from cases.errors import StaleCase
from cases.model import CENTER_ROLES
from gridlink.errors import Conflict, InvalidInput, WrongState
from media.redaction import BadBoxes

BOXES_LIMIT = 2000  # characters of the boxes field (20 boxes of four numbers)


def parse_boxes(raw: str | None) -> list[tuple[float, float, float, float]]:
    """`x,y,w,h; x,y,w,h` (fractions of the picture) → boxes; the picker fills it, a keyboard
    user may type it."""
    if not raw:
        raise BadBoxes("draw at least one rectangle on the photo", field="boxes")
    out = []
    for part in raw.replace("\n", ";").split(";"):
        if not part.strip():
            continue
        try:
            x, y, w, h = (float(v) for v in part.split(","))
        except ValueError:
            raise BadBoxes("each rectangle is x,y,w,h (fractions 0–1), separated by ;",
                           field="boxes") from None
        out.append((x, y, w, h))
    return out


def _photos(case: dict[str, Any]) -> list[dict[str, Any]]:
    """The case's photos for the picker: each with its redacted copy, if any, and whether the
    public sees it."""
    copies = visibility.redacted_copies(case)
    public = set(case.get("public_photos") or [])
    return [{"id": p, "redacted": copies.get(p), "public": p in public or copies.get(p) in public}
            for p in visibility.case_photos(case)]


async def _context(request: web.Request, case: dict[str, Any], **extra: Any) -> dict[str, Any]:
    who = actor(await need(request))
    photos = _photos(case)
    chosen = request.query.get("photo") or (photos[0]["id"] if photos else None)
    reporter = case.get("reporter") or {}
    block = None
    if reporter.get("user_id") is not None:
        found = await moderation.active_block(request.app[DB], user_id=int(reporter["user_id"]),
                                              now=_now(request))
        block = moderation.block_view(found, who) if found else None
    return {"case": visibility.staff_view(case, _now(request), seen_as="center"),
            "actions": workflow.allowed_actions(who, case), "photos": photos,
            "chosen": chosen if any(p["id"] == chosen for p in photos) else None,
            "chat_reporter": reporter.get("user_id") is not None, "block": block,
            "boxes": "", "reason": "", **extra}


@page
async def moderate_page(request: web.Request) -> web.StreamResponse:
    await need(request, *CENTER_ROLES)
    session = await need(request)
    case, _ = await _load_case(request, session)
    return await render(request, "moderate.html", await _context(request, case, notice=_done(request)))


def _done(request: web.Request) -> str | None:
    done = request.query.get("done")
    if done in ("hide", "unhide", "redact", "block", "unblock"):
        loc = locale(request)
        return t("done", loc, action=t(f"a.{done}", loc))
    return None


async def _act(request: web.Request, action: str) -> web.StreamResponse:
    session = await need(request)
    form = await read_form(request, session)
    case, _ = await _load_case(request, session)
    who, now, db = actor(session), _now(request), request.app[DB]
    if action in workflow.ACTIONS:
        workflow.check_role(who, case, action)  # 403 before anything is read or stored
    version = forms.integer(form, "version")
    back = f"/desk/cases/{case['_id']}/moderate"
    try:
        if version is not None and version != case["version"]:
            raise StaleCase("changed", state=case["state"], version=case["version"])
        if action == "hide":
            await moderation.hide(db, case_ref=case["_id"], actor=who, now=now,
                                  reason=forms.text(form, "reason", limit=1000), expected_version=version)
        elif action == "unhide":
            await moderation.unhide(db, case_ref=case["_id"], actor=who, now=now,
                                    reason=forms.text(form, "reason", limit=1000), expected_version=version)
        elif action == "redact":
            photo = forms.text(form, "photo", limit=64) or ""
            back = f"{back}?photo={photo}"
            await moderation.redact(db, case_ref=case["_id"], actor=who, now=now, photo=photo,
                                    boxes=parse_boxes(forms.text(form, "boxes", limit=BOXES_LIMIT)),
                                    reason=forms.text(form, "reason", limit=1000),
                                    workers=request.app.get(PHOTO_WORKERS), expected_version=version)
        elif action == "block":
            until = forms.local_time(form, "until", request.app[SETTINGS].tz)
            if until is None:
                raise InvalidInput("choose the date the block ends", field="until")
            await moderation.block_reporter(db, case_ref=case["_id"], actor=who, now=now,
                                            reason=forms.text(form, "reason", limit=500), until=until)
    except (StaleCase, WrongState, Conflict, InvalidInput) as exc:
        current_case = await cases_repo.get_case(db, ref=case["_id"])
        loc = locale(request)
        problem = t("stale", loc, state=t(f"state.{current_case['state']}", loc),
                    version=current_case["version"]) if isinstance(exc, StaleCase) else exc.message
        ctx = await _context(request, current_case, problem=problem,
                             boxes=forms.text(form, "boxes", limit=BOXES_LIMIT) or "",
                             reason=forms.text(form, "reason", limit=1000) or "")
        return await render(request, "moderate.html", ctx, status=status_for(exc))
    target = safe_next(forms.text(form, "next", limit=300), back)
    sep = "&" if "?" in target else "?"
    raise web.HTTPSeeOther(location=f"{target}{sep}done={action}")


@page
async def hide_post(request: web.Request) -> web.StreamResponse:
    return await _act(request, "hide")


@page
async def unhide_post(request: web.Request) -> web.StreamResponse:
    return await _act(request, "unhide")


@page
async def redact_post(request: web.Request) -> web.StreamResponse:
    return await _act(request, "redact")


@page
async def block_post(request: web.Request) -> web.StreamResponse:
    return await _act(request, "block")


@page
async def overview(request: web.Request) -> web.StreamResponse:
    session = await need(request, *CENTER_ROLES)
    who, db, now = actor(session), request.app[DB], _now(request)
    blocks = [moderation.block_view(b, who) for b in await moderation.active_blocks(db, actor=who, now=now)]
    mine = {b["id"] for b in blocks}
    district = request.app[SETTINGS].district_code
    log = [e for e in await moderation.recent_log(db, now=now)
           if who.role == "admin" or who.unit == district or e.get("block_id") in mine
           or (e.get("moderator") or {}).get("unit") == who.unit]
    return await render(request, "moderation.html", {"blocks": blocks, "log": log,
                                                     "notice": _done(request)})


@page
async def unblock_post(request: web.Request) -> web.StreamResponse:
    session = await need(request, *CENTER_ROLES)
    form = await read_form(request, session)
    await moderation.unblock(request.app[DB], block_id=request.match_info["block_id"],
                             actor=actor(session), now=_now(request),
                             reason=forms.text(form, "reason", limit=500))
    target = safe_next(forms.text(form, "next", limit=300), "/desk/moderation")
    sep = "&" if "?" in target else "?"
    raise web.HTTPSeeOther(location=f"{target}{sep}done=unblock")


def setup_routes(app: web.Application) -> None:
    """Registered before the desk's generic `/desk/cases/{ref}/{action}` so these win."""
    r = app.router
    r.add_get("/desk/moderation", overview)
    r.add_post("/desk/moderation/blocks/{block_id}/end", unblock_post)
    r.add_get("/desk/cases/{ref}/moderate", moderate_page)
    r.add_post("/desk/cases/{ref}/hide", hide_post)
    r.add_post("/desk/cases/{ref}/unhide", unhide_post)
    r.add_post("/desk/cases/{ref}/redact", redact_post)
    r.add_post("/desk/cases/{ref}/block", block_post)
