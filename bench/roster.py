"""Roster import at a district's size: 30,000 people in one XLSX, 50 of the rows bad.

Run: .venv/bin/python bench/roster.py [--rows 30000] [--bad 50]

Against one embedded server with the demo district (1,299 community blocks, 516
workstations, 189 street blocks), timed apart:

- read: parsing the XLSX into rows (openpyxl, read-only mode);
- import: validating every row (units and taken phones looked up in batches of 1,000) and
  writing the good people, their invites and the bad rows' reasons, then committing the batch;
- desk: the same file uploaded through `POST /desk/admin/roster/import` (multipart, CSRF,
  the audit entry) into a fresh database, end to end;
- re-run: the same file again (every phone is taken now: nothing is written twice).

Checks that the good rows are imported, each bad row is reported with its row number, and
the re-run imports nobody.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import ClientSession, CookieJar, FormData
from aiohttp.test_utils import TestServer
from openpyxl import Workbook

from bot import roster
from gridlink.app import create_app
from gridlink.clock import FakeClock
from gridlink.db import Database, make_client
from gridlink.embedded import EmbeddedServer
from gridlink.schema import ensure_indexes
from gridlink.settings import Settings, load_settings
from grids import repository as grids_repo
from grids.demo import demo_feature_collection
from grids.importer import parse_grid
from staff import service

BAD_KINDS: list[Callable[[int], list[Any]]] = [
    lambda i: ["", f"137{i:08d}", "coordinator", None],        # no name
    lambda i: [f"坏{i}", "12345", "coordinator", None],          # bad phone
    lambda i: [f"坏{i}", f"137{i:08d}", "mayor", None],          # bad role
    lambda i: [f"坏{i}", f"137{i:08d}", "leader", "310101999999999"],  # unknown unit
    lambda i: [f"坏{i}", "13900000001", "coordinator", None],    # duplicate of row 2's phone
]
PASSWORD = "bench password 123"


def make_file(rows: int, bad: int, blocks: list[str], stations: list[str]) -> tuple[bytes, set[int]]:
    """An XLSX of `rows` people (coordinators of blocks, a station head per 50), `bad` of the
    rows broken in one of five ways, spread evenly; also the sheet row numbers of the bad."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet("名册")
    sheet.append(["姓名", "手机号", "角色", "单位代码"])
    step = rows // bad
    bad_rows: set[int] = set()
    for i in range(rows):
        if i % step == step // 2 and len(bad_rows) < bad:
            row = BAD_KINDS[len(bad_rows) % len(BAD_KINDS)](i)
            row[3] = row[3] or blocks[i % len(blocks)]
            bad_rows.add(i + 2)
        elif i % 50 == 0:
            row = [f"站长{i}", f"139{i:08d}", "工作站站长", stations[(i // 50) % len(stations)]]
        else:
            row = [f"巡管员{i}", f"139{i:08d}", "巡管员", blocks[i % len(blocks)]]
        sheet.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue(), bad_rows


async def fresh(uri: str, settings: Settings, clock: FakeClock) -> tuple[Any, Database]:
    client = make_client(uri, settings)
    db = client[settings.mongodb_db]
    await ensure_indexes(db)
    grid = parse_grid(demo_feature_collection(), district_code="310101")
    await grids_repo.install_grid(db, grid=grid, source="bench", now=clock.now())
    return client, db


async def desk_upload(settings: Settings, uri: str, clock: FakeClock, data: bytes) -> tuple[float, str]:
    server = TestServer(create_app(settings, mongo_uri=uri, clock=clock))
    await server.start_server()
    try:
        base = str(server.make_url("")).rstrip("/")
        async with ClientSession(base_url=base, cookie_jar=CookieJar(unsafe=True)) as c:
            page = await (await c.get("/desk/signin")).text()
            csrf = re.search(r'name="csrf" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
            await c.post("/desk/signin", data={"csrf": csrf, "username": "admin", "password": PASSWORD})
            resp = await c.get("/desk/admin/roster")
            page = await resp.text()
            assert resp.status == 200, (resp.status, resp.url, page[:300])
            csrf = re.search(r'name="csrf" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
            form = FormData()
            form.add_field("csrf", csrf)
            form.add_field("file", data, filename="roster.xlsx")
            t0 = time.perf_counter()
            resp = await c.post("/desk/admin/roster/import", data=form)
            text = await resp.text()
            took = time.perf_counter() - t0
            assert resp.status == 200, (resp.status, text[:500])
            summary = re.search(r'id="import-summary">([^<]*)<', text)
            return took, summary.group(1) if summary else text[:200]
    finally:
        await server.close()


async def main(rows: int, bad: int) -> None:
    demo = demo_feature_collection()
    levels = {f["properties"]["code"]: f["properties"]["level"] for f in demo["features"]}
    blocks = sorted(c for c, lv in levels.items() if lv == "community_block")
    stations = sorted(c for c, lv in levels.items() if lv == "workstation")
    data, bad_rows = make_file(rows, bad, blocks, stations)
    print(f"file: {rows} rows ({bad} bad), {len(data) / 1e6:.2f} MB XLSX")
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedServer(Path(tmp) / "db")
        server.start()
        try:
            clock = FakeClock()
            settings = load_settings(mongodb_uri=server.uri, mongodb_db=f"b_{uuid.uuid4().hex[:8]}",
                                     data_dir=Path(tmp), telegram_bot_token=None,
                                     webhook_secret="bench-secret")
            client, db = await fresh(server.uri, settings, clock)
            t0 = time.perf_counter()
            parsed = roster.read_rows(data, "roster.xlsx")
            t_read = time.perf_counter() - t0
            t0 = time.perf_counter()
            outcome = await roster.import_rows(db, parsed, filename="roster.xlsx", by="bench",
                                               now=clock.now())
            t_import = time.perf_counter() - t0
            assert outcome.imported == rows - bad, outcome.imported
            assert {p.row for p in outcome.problems} == bad_rows
            t0 = time.perf_counter()
            again = await roster.import_rows(db, parsed, filename="roster.xlsx", by="bench",
                                             now=clock.now())
            t_again = time.perf_counter() - t0
            assert again.imported == 0
            assert await db.roster_people.count_documents({}) == rows - bad
            t0 = time.perf_counter()
            listed = await roster.people_of(db, unit=blocks[0], now=clock.now())
            t_list = time.perf_counter() - t0
            await client.close()

            desk_settings = settings.model_copy(update={"mongodb_db": f"d_{uuid.uuid4().hex[:8]}"})
            client, db = await fresh(server.uri, desk_settings, clock)
            await service.create_account(db, username="admin", password=PASSWORD, role="admin",
                                         unit="310101", name="bench", district="310101",
                                         now=clock.now())
            await client.close()
            t_desk, summary = await desk_upload(desk_settings, server.uri, clock, data)
        finally:
            server.stop()
    print(f"read XLSX:           {t_read:6.2f} s")
    print(f"validate + write:    {t_import:6.2f} s  ({outcome.imported} imported, "
          f"{len(outcome.problems)} reported)")
    print(f"re-run (all taken):  {t_again:6.2f} s")
    print(f"one block's roster:  {t_list * 1000:6.1f} ms ({len(listed)} people)")
    print(f"desk upload, end to end: {t_desk:6.2f} s  — {summary}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=30_000)
    parser.add_argument("--bad", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.rows, args.bad))
