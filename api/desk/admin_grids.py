"""The admin's grid import on the desk: upload a GeoJSON grid, see every problem (nothing is
written) or a preview of what it changes — units added, removed, renamed or moved, and the
chat bindings, imported people and open cases on the units it removes — then install exactly
the previewed file (kept by grids.staging) as the active version, as `gridlink grids import`
does."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from aiohttp import web

from api.desk.admin import audit_change
from api.desk.i18n import t
from api.desk.session import locale, need, read_form
from api.desk.views import page, render
from api.keys import CLOCK, DB, SETTINGS
from bot import roster
from cases import lists
from gridlink.errors import InvalidInput
from grids import repository as grids_repo
from grids import staging
from grids.diff import compare
from grids.errors import GridImportError
from grids.importer import ImportedGrid, parse_grid

SHOWN = 100  # units listed per kind; the counts cover all
CRS = ("wgs84", "gcj02")


def _parse(data: bytes, crs: str, max_gap_m2: float, district: str) -> ImportedGrid:
    try:
        doc = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise GridImportError([{"code": None, "feature": None, "problem": "not_json",
                                "message": "the file is not UTF-8 JSON"}]) from None
    return parse_grid(doc, source_crs="gcj02" if crs == "gcj02" else "wgs84",
                      max_gap_m2=max_gap_m2, district_code=district)


async def _parsed(request: web.Request, data: bytes, crs: str) -> ImportedGrid:
    settings = request.app[SETTINGS]
    # Validating a district's polygons takes seconds of CPU: off the event loop.
    return await asyncio.to_thread(_parse, data, crs, settings.grid_max_gap_m2,
                                   settings.district_code)


async def _context(request: web.Request) -> dict[str, Any]:
    return {"active": await staging.active_meta(request.app[DB]), "crs_options": CRS,
            "problems": [], "preview": None}


@page
async def grids_page(request: web.Request) -> web.StreamResponse:
    await need(request, "admin")
    ctx = await _context(request)
    if request.query.get("installed"):
        ctx["notice"] = t("grid.installed", locale(request), version=request.query["installed"])
    return await render(request, "admin_grids.html", ctx)


@page
async def grids_preview(request: web.Request) -> web.StreamResponse:
    session = await need(request, "admin")
    form = await read_form(request, session)
    upload = form.get("file")
    crs = str(form.get("crs") or "wgs84")
    ctx = await _context(request)
    if not isinstance(upload, web.FileField) or crs not in CRS:
        ctx["problem"] = t("grid.no_file", locale(request))
        return await render(request, "admin_grids.html", ctx, status=400)
    data = await asyncio.to_thread(upload.file.read)
    try:
        grid = await _parsed(request, data, crs)
    except GridImportError as exc:
        ctx.update(problem=t("grid.invalid", locale(request), n=len(exc.problems)),
                   problems=exc.problems[:SHOWN * 2])
        return await render(request, "admin_grids.html", ctx, status=400)
    db = request.app[DB]
    _, active = await grids_repo.load_units(db, geometry=False)
    diff = compare(active, grid.units)
    removed = [u["code"] for u in diff.removed]
    bound = await roster.bound_in(db, units=removed)
    imported = await roster.imported_in(db, units=removed)
    open_cases: list[dict[str, Any]] = []
    for code in removed:
        for case in await lists.assigned_open(db, unit=code, limit=50):
            open_cases.append({"unit": code, "id": case["_id"], "serial": case.get("serial", "")})
    upload_id = await staging.stage(db, data=data, filename=upload.filename or "", crs=crs,
                                    by=session.account.username, now=request.app[CLOCK].now())
    ctx["preview"] = {
        "upload_id": upload_id, "filename": upload.filename or "", "crs": crs,
        "counts": grid.counts(), "diff": diff, "shown": SHOWN, "bound": bound,
        "imported": imported, "open_cases": open_cases}
    return await render(request, "admin_grids.html", ctx)


@page
async def grids_install(request: web.Request) -> web.StreamResponse:
    session = await need(request, "admin")
    form = await read_form(request, session)
    upload_id = str(form.get("upload_id") or "")
    if not upload_id.isalnum():
        raise InvalidInput("upload_id is missing")
    db = request.app[DB]
    data, meta = await staging.staged(db, upload_id=upload_id)
    grid = await _parsed(request, data, meta["crs"])
    version = await grids_repo.install_grid(
        db, grid=grid, source=f"{meta['filename']} ({meta['crs']}, desk)",
        now=request.app[CLOCK].now())
    await staging.drop(db, upload_id=upload_id)
    await audit_change(request, session, "grid.install", f"v{version}", file=meta["filename"],
                       crs=meta["crs"], sha256=meta["sha256"][:16],
                       **{k: str(v) for k, v in grid.counts().items()})
    raise web.HTTPSeeOther(location=f"/desk/admin/grids?installed={version}")


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/desk/admin/grids", grids_page)
    app.router.add_post("/desk/admin/grids/preview", grids_preview)
    app.router.add_post("/desk/admin/grids/install", grids_install)
