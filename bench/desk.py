"""The web desk's pages beside the JSON API they sit next to, and the cost of a sign-in.

Run: .venv/bin/python bench/desk.py [--cases N] [--rounds R]

Against one embedded server with the demo district and N cases (a third waiting for dispatch),
measured side by side in one run, requests interleaved round by round:

- queue: `GET /desk/queues/new` (HTML, 50 rows, each with its proposed deadline computed by
  cases' calendar) vs `GET /api/v1/cases?status=reported&limit=50` (JSON, bearer token).
- intake: `GET /desk/intake` with the district map (1,299 blocks as SVG, built once per grid
  version and cached) vs `GET /desk/signin` (a template with no data), and the first,
  uncached map build.
- placement: `GET /desk/place.json` vs `GET /api/v1/grids/place` (both GridIndex.place).
- sign-in: Argon2id hash and verify at the production parameters (19 MiB, t=2, p=1).
Median milliseconds and ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestServer

from api.desk import views
from cases import lifecycle
from cases.intake import intake
from cases.model import Actor, CasePolicy
from gridlink import auth
from gridlink.app import create_app
from gridlink.clock import FakeClock
from gridlink.db import make_client
from gridlink.embedded import EmbeddedServer
from gridlink.schema import ensure_indexes
from gridlink.settings import load_settings
from grids import repository as grids_repo
from grids.demo import demo_feature_collection
from grids.importer import parse_grid
from staff import passwords, service

POLICY = CasePolicy()
CENTER = Actor(role="dispatcher", unit=POLICY.district, name="bench")
PASSWORD = "bench password 123"


async def timed(fn: Callable[[], Awaitable[Any]]) -> float:
    t0 = time.perf_counter()
    await fn()
    return (time.perf_counter() - t0) * 1000


async def main(n: int, rounds: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedServer(Path(tmp))
        server.start()
        try:
            settings = load_settings(mongodb_uri=server.uri, mongodb_db="bench_desk",
                                     data_dir=Path(tmp), telegram_bot_token=None)
            client = make_client(server.uri, settings)
            db = client[settings.mongodb_db]
            await ensure_indexes(db)
            clock = FakeClock()
            fc = demo_feature_collection()
            await grids_repo.install_grid(db, grid=parse_grid(fc, district_code="310101"),
                                          source="bench", now=clock.now())
            await service.create_account(db, username="center", password=PASSWORD,
                                         role="dispatcher", unit="310101", name="bench",
                                         district="310101", now=clock.now())
            token = await auth.create_token(db, role="dispatcher", unit="310101",
                                            district="310101", name="bench", now=clock.now())
            for i in range(n):
                case = (await intake(db, policy=POLICY, now=clock.now(), channel="hotline_12345",
                                     kind="complaint", category="road_damage",
                                     description=f"pothole {i}", actor=CENTER,
                                     location={"lon": 121.41 + (i % 50) * 0.002,
                                               "lat": 31.17 + (i // 50) * 0.002})).case
                if i % 3:
                    await lifecycle.dispatch(db, case_ref=case["_id"], actor=CENTER,
                                             now=clock.now(), policy=POLICY)
            app = create_app(settings, mongo_uri=server.uri, clock=clock)
            web = TestServer(app)
            await web.start_server()
            base = str(web.make_url("")).rstrip("/")
            async with ClientSession(base_url=base, cookie_jar=CookieJar(unsafe=True)) as http:
                page = await (await http.get("/desk/signin")).text()
                csrf = re.search(r'name="csrf" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
                await http.post("/desk/signin", data={"csrf": csrf, "username": "center",
                                                      "password": PASSWORD})
                bearer = {"Authorization": f"Bearer {token}"}

                async def get(path: str, **kw: Any) -> None:
                    resp = await http.get(path, **kw)
                    await resp.read()
                    assert resp.status == 200, (path, resp.status)

                views._MAPS.clear()
                cold_map = await timed(lambda: get("/desk/intake"))
                pairs = {
                    "queue": (lambda: get("/desk/queues/new"),
                              lambda: get("/api/v1/cases?status=reported&limit=50", headers=bearer)),
                    "intake": (lambda: get("/desk/intake"), lambda: get("/desk/signin")),
                    "placement": (lambda: get("/desk/place.json?lon=121.45&lat=31.2"),
                                  lambda: get("/api/v1/grids/place?lon=121.45&lat=31.2")),
                }
                results: dict[str, tuple[list[float], list[float]]] = {k: ([], []) for k in pairs}
                for _ in range(rounds):
                    for name, (desk_call, other_call) in pairs.items():
                        results[name][0].append(await timed(desk_call))
                        results[name][1].append(await timed(other_call))
                size = len(await (await http.get("/desk/intake")).read())
            await web.close()
            await client.close()
        finally:
            server.stop()
    hashes = []
    verifies = []
    for _ in range(5):
        t0 = time.perf_counter()
        stored = passwords.hash_password(PASSWORD)
        hashes.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        assert passwords.verify_password(stored, PASSWORD)
        verifies.append((time.perf_counter() - t0) * 1000)
    print(f"desk bench: {n} cases ({n - 2 * n // 3} waiting for dispatch), {rounds} rounds, "
          "median ms")
    labels = {"queue": ("/desk/queues/new (HTML, 50 rows)", "/api/v1/cases?status=reported (JSON)"),
              "intake": ("/desk/intake (map cached)", "/desk/signin (no data)"),
              "placement": ("/desk/place.json", "/api/v1/grids/place")}
    for name, (a, b) in results.items():
        ma, mb = statistics.median(a), statistics.median(b)
        print(f"  {labels[name][0]:<38} {ma:8.1f}   {labels[name][1]:<38} {mb:8.1f}   ratio {ma / mb:5.2f}")
    print(f"  first /desk/intake (map built from {len(fc['features'])} features): {cold_map:.0f} ms; "
          f"page {size / 1024:.0f} KiB")
    print(f"  Argon2id (19 MiB, t=2, p=1): hash {statistics.median(hashes):.0f} ms, "
          f"verify {statistics.median(verifies):.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.cases, args.rounds))
