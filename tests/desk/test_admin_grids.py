"""Grid import on the desk (issue 23): a bad file shows its problems and changes nothing; a
good one is previewed (units removed and renamed, the bindings and imported people on the
removed block) before anything changes, and installing makes exactly that file active."""

from __future__ import annotations

import json
import re

from aiohttp import ClientSession, FormData

from bot import roster
from grids import repository as grids_repo
from tests.desk.conftest import Desk, csrf_of
from tests.desk.test_http import post_form
from tests.grids.conftest import tiny_fc

GONE = "310101001002002"  # the south-east corner block (no street block over it)


async def preview(c: ClientSession, data: bytes) -> tuple[int, str]:
    page = await c.get("/desk/admin/grids")
    form = FormData()
    form.add_field("csrf", csrf_of(await page.text()))
    form.add_field("crs", "wgs84")
    form.add_field("file", data, filename="grid.geojson", content_type="application/geo+json")
    resp = await c.post("/desk/admin/grids/preview", data=form)
    return resp.status, await resp.text()


async def test_a_grid_is_previewed_then_installed_and_a_bad_one_changes_nothing(desk: Desk) -> None:
    db, now = desk.db, desk.clock.now()
    await grids_repo.bind(db, user_id=77, chat_id=77, role="leader", unit=GONE, name="刘块长",
                          locale="zh-CN", now=now)
    rows = roster.read_rows(f"name,phone,role,unit\n周巡,13900000009,coordinator,{GONE}\n".encode(), "r.csv")
    await roster.import_rows(db, rows, filename="r.csv", by="admin", now=now)
    version = await grids_repo.active_version(db)
    admin = await desk.signed_in("admin")

    status, page = await preview(admin, b"{not json")
    assert status == 400 and "not_json" in page
    fc = tiny_fc()
    bad = json.loads(json.dumps(fc))
    bad["features"][4]["properties"]["parent"] = "nowhere"
    status, page = await preview(admin, json.dumps(bad).encode())
    assert status == 400 and 'id="grid-problems"' in page

    fc["features"] = [f for f in fc["features"] if f["properties"]["code"] != GONE]
    fc["features"][4]["properties"]["name_en"] = "Renamed block"
    status, page = await preview(admin, json.dumps(fc).encode())
    assert status == 200, page
    assert "0 units added, 1 removed, 1 renamed or moved" in page
    assert "Chat users bound to removed units: 1" in page and "刘块长" in page
    assert "Imported people of removed units: 1" in page
    assert await grids_repo.active_version(db) == version  # nothing changed yet

    upload_id = re.search(r'name="upload_id" value="([^"]+)"', page).group(1)  # type: ignore[union-attr]
    center = await desk.signed_in("center")
    status, _ = await post_form(center, "/desk/queues/new", "/desk/admin/grids/install",
                                upload_id=upload_id)
    assert status == 403
    resp = await admin.post("/desk/admin/grids/install", data={"upload_id": upload_id})
    assert resp.status == 403  # no CSRF token
    status, page = await post_form(admin, "/desk/admin/grids", "/desk/admin/grids/install",
                                   upload_id=upload_id)
    assert status == 200 and f"Grid version {version + 1} is now active" in page  # type: ignore[operator]
    assert await grids_repo.find_unit(db, code=GONE) is None
    renamed = await grids_repo.find_unit(db, code=fc["features"][4]["properties"]["code"])
    assert renamed is not None and renamed["name_en"] == "Renamed block"
    [entry] = await db.audit_log.find({"action": "grid.install"}).to_list(None)
    assert entry["by"] == "admin" and entry["target"] == f"v{version + 1}"  # type: ignore[operator]
    # the upload is used once
    status, _ = await post_form(admin, "/desk/admin/grids", "/desk/admin/grids/install",
                                upload_id=upload_id)
    assert status == 404
