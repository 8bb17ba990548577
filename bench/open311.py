"""Cost of the Open311 layer: POST and GET through the real app beside the domain floor.

Run: .venv/bin/python bench/open311.py [--posts N]

Measured side by side in one run, on the embedded database with the demo district's grid:

- POST requests.json: HTTP in, api_key check, attribute validation, placement, cases intake,
  the open311_requests record (token) — beside `cases.intake.intake` called directly with the
  same values (the floor: serial number, duplicate search, insert, event);
- GET requests.json / .xml of every request (up to 1000) — beside `cases.repository.find_cases`
  with the same query (the floor: reading the documents).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.timing import latency_line
from cases import repository as cases_repo
from cases.intake import intake
from cases.model import CasePolicy
from gridlink.app import create_app
from gridlink.clock import SystemClock
from gridlink.db import make_client
from gridlink.embedded import temporary_server
from gridlink.schema import ensure_indexes
from gridlink.settings import load_settings
from grids import repository as grids_repo
from grids.demo import demo_feature_collection
from grids.importer import parse_grid
from grids.placement import GridIndex
from open311 import repository as open311_repo
from open311.service import parse_query


async def main(posts: int, uri: str) -> None:
    settings = load_settings(mongodb_uri=uri, mongodb_db="bench_open311", telegram_bot_token=None)
    client = make_client(uri, settings)
    db = client[settings.mongodb_db]
    await client.drop_database(settings.mongodb_db)
    await ensure_indexes(db)
    clock = SystemClock()
    grid = parse_grid(demo_feature_collection(district=settings.district_code),
                      district_code=settings.district_code)
    await grids_repo.install_grid(db, grid=grid, source="bench", now=clock.now())
    index = GridIndex(grid.units)
    key = await open311_repo.create_key(db, name="bench", now=clock.now())
    blocks = [u for u in grid.units if u["level"] == "community_block"]
    from shapely.geometry import shape
    points = [(c.x, c.y) for c in (shape(b["geometry"]).centroid for b in blocks)]
    policy = CasePolicy.from_settings(settings)

    app = create_app(settings, mongo_uri=uri)
    post_s: list[float] = []
    floor_s: list[float] = []
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as http:
        base = str(server.make_url("")).rstrip("/")
        for i in range(posts):
            lon, lat = points[(i * 37) % len(points)]
            form = {"api_key": key, "service_code": "manhole_cover", "lat": str(lat),
                    "long": str(lon), "attribute[cover_state]": "missing",
                    "description": f"井盖缺失 {i}"}
            started = time.perf_counter()
            async with http.post(f"{base}/open311/v2/requests.json", data=form) as resp:
                assert resp.status == 200, await resp.text()
                await resp.read()
            post_s.append(time.perf_counter() - started)
            lon, lat = points[(i * 53 + 11) % len(points)]
            started = time.perf_counter()
            await intake(db, policy=policy, now=clock.now(), channel="open311", kind="complaint",
                         category="manhole_cover", description=f"井盖缺失 {i}",
                         actor={"role": "citizen"}, location={"lon": lon, "lat": lat},
                         placement=index.place(lon, lat).to_dict())
            floor_s.append(time.perf_counter() - started)

        get_json: list[float] = []
        get_xml: list[float] = []
        get_floor: list[float] = []
        query = parse_query({}, now=clock.now(), tz=settings.tz)
        for _ in range(15):
            for fmt, bucket in (("json", get_json), ("xml", get_xml)):
                started = time.perf_counter()
                async with http.get(f"{base}/open311/v2/requests.{fmt}") as resp:
                    assert resp.status == 200
                    await resp.read()
                bucket.append(time.perf_counter() - started)
            started = time.perf_counter()
            docs = await cases_repo.find_cases(db, query=query.to_mongo(), limit=query.limit)
            get_floor.append(time.perf_counter() - started)
    await client.drop_database(settings.mongodb_db)
    await client.close()

    print(f"Open311 layer on the demo district, {posts} POSTs, GET of {len(docs)} requests")
    print(latency_line("POST requests.json", post_s))
    print(latency_line("floor: cases.intake", floor_s))
    print(f"  POST / floor (p50): {statistics.median(post_s) / statistics.median(floor_s):.2f}x")
    print(latency_line("GET requests.json", get_json))
    print(latency_line("GET requests.xml", get_xml))
    print(latency_line("floor: find_cases", get_floor))
    floor = statistics.median(get_floor)
    print(f"  GET json / floor (p50): {statistics.median(get_json) / floor:.2f}x   "
          f"xml / floor: {statistics.median(get_xml) / floor:.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--posts", type=int, default=60)
    args = parser.parse_args()
    with temporary_server() as uri:
        asyncio.run(main(args.posts, uri))
