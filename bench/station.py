"""The station head's page (/desk/station) at 10,000 vs 100,000 historical cases.

Run: .venv/bin/python bench/station.py [--sizes 10000,100000] [--rounds 40]

One embedded server, the demo district; each size in its own database, loaded with
`stats.history.generate` (one year, plus a busy month of 1,500 cases in one workstation's
blocks) in `insert_many` batches with the lists' keys, and the
statistics written as `gridlink stats rebuild` writes them (`recompute` + `replace_all`). The
station head belongs to that busy workstation; its blocks get a leader and two coordinators
each in the roster; the leader leads its block with the most open cases. Timed round-robin across the sizes through the real app over
loopback HTTP, signed in: `/desk/station` beside the same station's public board JSON
(`/api/v1/stats/board?unit=`, the rollup read the page starts from) and the block leader's
`/desk/unit`. p50/p95 in ms and p95(largest)/p95(smallest).
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from collections import Counter
from itertools import chain
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher

from cases import lists
from cases.model import OPEN_STATES
from cases.repository import OLDEST_HOUR
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
from stats import repository as stats_repo
from stats.history import demo_blocks, generate
from stats.rollups import recompute

PASSWORD = "bench password 123"
BATCH = 2000
STATION = "310101001001"  # the busy station: a month of its own cases on top of the year's
BUSY = 1500  # its month's cases (a tenth or so still open)


async def load(db: Any, n: int, now: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    docs: list[dict[str, Any]] = []
    every: list[dict[str, Any]] = []
    stations: Counter[str] = Counter()
    blocks: Counter[str] = Counter()
    ours = [b for b in demo_blocks("310101") if b.parent == STATION or b.level == "street_block"]
    busy = generate(BUSY, now=now, years=1 / 12, blocks=ours, tag="s", seed=9, settled_days=10)
    for doc in chain(generate(n, now=now, years=1.0), busy):
        if not every:
            await db.counters.insert_one({"_id": OLDEST_HOUR, "hour": doc["created_hour"]})
        docs.append(doc)
        every.append(doc)
        placement = doc.get("placement") or {}
        if doc["state"] in OPEN_STATES and placement.get("workstation"):
            stations[placement["workstation"]] += 1
        if doc["state"] in OPEN_STATES and (doc.get("assignee") or {}).get("kind") == "block":
            blocks[doc["assignee"]["unit"]] += 1
        if len(docs) >= BATCH:
            await db.cases.insert_many(docs, ordered=False)
            await lists.add_keys(db, docs, now)
            docs = []
    if docs:
        await db.cases.insert_many(docs, ordered=False)
        await lists.add_keys(db, docs, now)
    rollups, opens = recompute(every)
    await stats_repo.replace_all(db, rollups=rollups, open_lists=opens, cut=now.timestamp())
    station, station_open = STATION, stations[STATION]
    block, block_open = max(((b, k) for b, k in blocks.items() if b.startswith(STATION)),
                            key=lambda bk: bk[1])
    return {"load_s": time.perf_counter() - t0, "station": station, "station_open": station_open,
            "block": block, "block_open": block_open}


async def signed_in(base: str, username: str) -> ClientSession:
    c = ClientSession(base_url=base, cookie_jar=CookieJar(unsafe=True))
    page = await (await c.get("/desk/signin")).text()
    csrf = re.search(r'name="csrf" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
    await c.post("/desk/signin", data={"csrf": csrf, "username": username, "password": PASSWORD})
    return c


async def main(sizes: list[int], rounds: int) -> None:
    clock = FakeClock()
    now = clock.now()
    passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedServer(Path(tmp))
        server.start()
        setups: dict[int, tuple[TestServer, dict[str, ClientSession], dict[str, Any]]] = {}
        try:
            for n in sizes:
                settings = load_settings(mongodb_uri=server.uri, mongodb_db=f"station_{n}",
                                         data_dir=Path(tmp), telegram_bot_token=None,
                                         rate_limit_read_requests=1_000_000)
                client = make_client(server.uri, settings.model_copy(update={"mongodb_socket_timeout_ms": 0}))
                db = client[settings.mongodb_db]
                await ensure_indexes(db)
                await grids_repo.install_grid(db, grid=parse_grid(demo_feature_collection(),
                                                                  district_code="310101"),
                                              source="bench", now=now)
                sample = await load(db, n, now)
                print(f"loaded {n:,} cases in {sample['load_s']:.0f} s; station {sample['station']} "
                      f"({sample['station_open']} open), block {sample['block']} "
                      f"({sample['block_open']} open)", flush=True)
                _, blocks = await grids_repo.list_units(db, parent=sample["station"], limit=200)
                uid = 1
                for b in blocks:
                    for role in ("leader", "coordinator", "coordinator"):
                        await grids_repo.bind(db, user_id=uid, chat_id=uid, role=role, unit=b["code"],
                                              name=f"person {uid}", locale="en", now=now)
                        uid += 1
                sample["blocks"] = len(blocks)
                for username, role, unit in (("station", "station_head", sample["station"]),
                                             ("leader", "leader", sample["block"])):
                    await service.create_account(db, username=username, password=PASSWORD, role=role,
                                                 unit=unit, name=username, district="310101", now=now)
                web = TestServer(create_app(settings, mongo_uri=server.uri, clock=clock))
                await web.start_server()
                base = str(web.make_url("")).rstrip("/")
                sessions = {u: await signed_in(base, u) for u in ("station", "leader")}
                setups[n] = (web, sessions, sample)
            results: dict[str, dict[int, list[float]]] = {}
            for _ in range(rounds):
                for n, (_, sessions, sample) in setups.items():
                    for name, who, path in (
                            ("desk station page", "station", "/desk/station"),
                            ("board JSON of the station", "station",
                             f"/api/v1/stats/board?unit={sample['station']}"),
                            ("desk unit page (leader)", "leader", "/desk/unit")):
                        t0 = time.perf_counter()
                        resp = await sessions[who].get(path)
                        body = await resp.read()
                        ms = (time.perf_counter() - t0) * 1000
                        assert resp.status == 200, (path, resp.status, body[:300])
                        results.setdefault(name, {}).setdefault(n, []).append(ms)
            small, large = min(sizes), max(sizes)
            print(f"\n| request | {' | '.join(f'{n:,} p50 / p95' for n in sizes)} | p95 ratio |")
            print(f"|---|{'---:|' * len(sizes)}---:|")
            for name, by_n in results.items():
                p = {n: (statistics.median(v), statistics.quantiles(v, n=20)[18]) for n, v in by_n.items()}
                cells = " | ".join(f"{p[n][0]:.0f} / {p[n][1]:.0f}" for n in sizes)
                print(f"| {name} | {cells} | {p[large][1] / p[small][1]:.2f} |")
            for n, (_, _, sample) in setups.items():
                print(f"{n:,}: station {sample['station']} with {sample['blocks']} blocks, "
                      f"{sample['station_open']} open cases; leader's block {sample['block_open']} open")
        finally:
            for web, sessions, _ in setups.values():
                for c in sessions.values():
                    await c.close()
                await web.close()
            server.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="10000,100000")
    ap.add_argument("--rounds", type=int, default=40)
    args = ap.parse_args()
    asyncio.run(main([int(s) for s in args.sizes.split(",")], args.rounds))
