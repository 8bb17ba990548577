"""Board and hotspot response times at 10,000 and at 1,000,000 cases, side by side.

Run: .venv/bin/python bench/dashboard.py [--sizes 10000 1000000] [--requests 60]

For each size a fresh database on one embedded server gets N synthetic cases
(`stats.history.generate`, the seed's mix over five years), inserted with `insert_many` in
batches of 5,000 (timed; `--cases lean` inserts only the fields statistics read, to keep the
1,000,000 load within minutes on FerretDB), and its rollups written from the same generated documents
(`stats.rollups.recompute` + `replace_all`, i.e. what `gridlink stats rebuild` writes, without
reading the million cases back). Then the real app serves HTTP on loopback and each endpoint
is requested `--requests` times, round-robin across endpoints, sizes measured in the same run:

- board: district board (13 streets + 21 departments, live colours + month's green);
- board/street: one street's workstations (each board reads its board group: one document);
- hotspots: by street, this month; by category, last 12 months; by department filtered by
  channel, last 12 months;
- hotspots.png: the PNG chart.
Targets: p95 ≤ 100 ms at 1,000,000 and p95(1M)/p95(10k) ≤ 1.5.

Two passes: warm (the steady state — each request checks the statistics' version and reads
only what this process does not hold for that version; rendered PNGs are reused while their
bars are the same) and cold (every document read from the database and every PNG rendered:
what the first request after a fold costs; as in production, the rendering thread's figure and
matplotlib's text-metrics cache live on between renders).

Then the write side at each size (`--transitions`, after the reads): that many new cases
(intake) and as many dispatches of them write their change-log event with the statistics'
fields (`stats.rollups.event_fields`, what `cases/` stores on the request path: one timed insert
each) — and `stats.rollups.fold`
moves the log into the statistics (timed, in the background of the web processes).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from cachetools import LRUCache

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import api.stats as api_stats
from api.errors import error_middleware
from api.keys import CLOCK, MONGO_URI, SETTINGS
from api.stats import setup_routes as stats_routes
from gridlink.app import database_ctx
from gridlink.clock import SystemClock
from gridlink.db import make_client
from gridlink.embedded import EmbeddedServer, free_port
from gridlink.schema import ensure_indexes
from gridlink.settings import load_settings
from stats import repository as repo
from stats.history import generate
from stats.rollups import event_fields, fold, recompute

LEAN = ("_id", "serial", "district", "channel", "kind", "category", "state", "created_at",
        "closed_at", "due_at", "warn_at", "placement", "assignee", "intake_key")


class NoCache(LRUCache[tuple[object, ...], bytes]):
    """Stands in for the PNG cache in the cold pass: remembers nothing."""

    def __setitem__(self, key: tuple[object, ...], value: bytes) -> None:  # type: ignore[override]
        pass


async def load(uri: str, name: str, n: int, now: datetime, mode: str) -> dict[str, float]:
    # Long timeouts: bulk loads of the big size take a while per batch on FerretDB.
    settings = load_settings(mongodb_uri=uri, mongodb_db=name, mongodb_timeout_ms=60_000)
    client = make_client(uri, settings)
    db = client[name]
    await ensure_indexes(db)
    t0 = time.perf_counter()
    batch: list[dict] = []
    docs: list[dict] = []
    insert_s = 0.0
    for doc in generate(n, now=now):
        docs.append(doc)
        if mode == "none":
            continue
        batch.append(doc if mode == "full" else {k: doc[k] for k in LEAN})
        if len(batch) == 5000:
            t = time.perf_counter()
            await db.cases.insert_many(batch, ordered=False)
            insert_s += time.perf_counter() - t
            batch = []
            if len(docs) % 100_000 == 0:
                print(f"  {name}: {len(docs):,} cases inserted ({insert_s:.0f} s in insert_many)",
                      file=sys.stderr, flush=True)
    if batch:
        t = time.perf_counter()
        await db.cases.insert_many(batch, ordered=False)
        insert_s += time.perf_counter() - t
    t = time.perf_counter()
    rollups, opens = recompute(docs)
    del docs
    compute_s = time.perf_counter() - t
    t = time.perf_counter()
    await repo.replace_all(db, rollups=rollups, open_lists=opens, cut=now.timestamp())
    write_s = time.perf_counter() - t
    await client.close()
    return {"insert_s": insert_s, "compute_s": compute_s, "write_s": write_s,
            "rollup_docs": len(rollups), "total_s": time.perf_counter() - t0}


def endpoints(now: datetime) -> dict[str, str]:
    month_ago = (now - timedelta(days=365)).date().isoformat()
    return {
        "board": "/api/v1/stats/board",
        "board/street": "/api/v1/stats/board?unit=310101004",
        "hotspots street month": "/api/v1/stats/hotspots?by=street",
        "hotspots category 12mo": f"/api/v1/stats/hotspots?by=category&from={month_ago}",
        "hotspots dept×12345 12mo": f"/api/v1/stats/hotspots?by=department&channel=hotline_12345&from={month_ago}",
        "hotspots.png": "/api/v1/stats/hotspots.png?by=street",
    }


async def serve(uri: str, name: str) -> tuple[web.AppRunner, str]:
    settings = load_settings(mongodb_uri=uri, mongodb_db=name, telegram_bot_token=None)
    # The app's database context, error middleware and the stats routes only: the same handlers
    # `create_app` mounts, without the bot and other parts this bench does not exercise.
    app = web.Application(middlewares=[error_middleware])
    app[SETTINGS], app[MONGO_URI], app[CLOCK] = settings, uri, SystemClock()
    app.cleanup_ctx.append(database_ctx)
    stats_routes(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}"


async def measure(bases: dict[int, str], paths: dict[str, str], requests: int) -> dict:
    times: dict[tuple[int, str], list[float]] = {(n, p): [] for n in bases for p in paths}
    async with aiohttp.ClientSession() as http:
        for base in bases.values():  # warm caches (unit directory, font)
            for path in paths.values():
                async with http.get(base + path) as r:
                    assert r.status == 200, (path, r.status, await r.text())
                    await r.read()
        for _ in range(requests):
            for n, base in bases.items():
                for label, path in paths.items():
                    t = time.perf_counter()
                    async with http.get(base + path) as r:
                        await r.read()
                    times[(n, label)].append((time.perf_counter() - t) * 1000)
    return times


async def transitions(uri: str, name: str, n: int, now: datetime) -> dict[str, float]:
    """`n` intakes and `n` dispatches as change-log events, then one fold; times in ms."""
    settings = load_settings(mongodb_uri=uri, mongodb_db=name, mongodb_timeout_ms=60_000)
    client = make_client(uri, settings)
    db = client[name]
    fresh_cases = [d for d in generate(n * 30, now=now, years=0.01, seed=99) if d["state"] != "closed"][:n]
    hook: list[float] = []
    for i, case in enumerate(fresh_cases):
        case = {**case, "_id": f"w{i:07d}", "version": 1}
        t = time.perf_counter()
        await db.events.insert_one({"_id": f"{case['_id']}:1", **event_fields(None, case)})
        hook.append((time.perf_counter() - t) * 1000)
        later = {**case, "version": 2, "state": "in_progress",
                 "due_at": now + timedelta(days=2), "warn_at": now + timedelta(days=1, hours=12),
                 "assignee": case["assignee"] or {"unit": "D03", "kind": "department"}}
        t = time.perf_counter()
        await db.events.insert_one({"_id": f"{case['_id']}:2", **event_fields(case, later)})
        hook.append((time.perf_counter() - t) * 1000)
    t = time.perf_counter()
    folded = await fold(db, now=now)
    fold_ms = (time.perf_counter() - t) * 1000
    await client.close()
    return {"hook_p50": pct(hook, 50), "hook_p95": pct(hook, 95), "folded": folded,
            "fold_ms": fold_ms, "hooks": len(hook)}


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


async def main(args: argparse.Namespace) -> None:
    now = datetime.now(UTC)
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedServer(Path(tmp))
        server.start()
        try:
            loads = {}
            for n in args.sizes:
                print(f"loading {n:,} cases…", file=sys.stderr, flush=True)
                loads[n] = await load(server.uri, f"bench_{n}", n, now, args.cases)
                print(f"  {loads[n]}", file=sys.stderr, flush=True)
            runners, bases = [], {}
            for n in args.sizes:
                runner, base = await serve(server.uri, f"bench_{n}")
                runners.append(runner)
                bases[n] = base
            paths = endpoints(now)
            times = await measure(bases, paths, args.requests)
            # Cold: every read goes to the database and every PNG is rendered (what a page
            # costs right after the folder wrote; the version check is still made).
            repo.CACHE_S = -1.0
            api_stats.PNG_CACHE = NoCache(maxsize=1)
            cold = await measure(bases, paths, args.requests)
            for runner in runners:
                await runner.cleanup()
            writes = {n: await transitions(server.uri, f"bench_{n}", args.transitions, now)
                      for n in args.sizes} if args.transitions else {}
        finally:
            server.stop()
    small, big = min(args.sizes), max(args.sizes)
    for title, table in (("warm (documents of the current version from memory)", times),
                         ("cold (every document from the database, every PNG rendered)", cold)):
        print(f"\ndashboard latency, {title}, {args.requests} requests each, ms (p50 / p95)")
        print(f"{'endpoint':28} {small:>12,} cases {big:>12,} cases   p95 ratio")
        for label in paths:
            a, b = table[(small, label)], table[(big, label)]
            print(f"{label:28} {pct(a, 50):7.1f} / {pct(a, 95):6.1f}   {pct(b, 50):7.1f} / {pct(b, 95):6.1f}"
                  f"   {pct(b, 95) / pct(a, 95):5.2f}")
    for n, w in writes.items():
        print(f"writes at {n:,}: hook (one log insert) p50 {w['hook_p50']:.1f} / p95 {w['hook_p95']:.1f} ms "
              f"over {w['hooks']} transitions; fold of {w['folded']} changes {w['fold_ms']:.0f} ms "
              f"({w['fold_ms'] / max(w['folded'], 1):.1f} ms per change)")
    print(f"case documents inserted: {args.cases}; rollups written from the generated cases")
    for n, info in loads.items():
        print(f"load {n:,}: insert_many {info['insert_s']:.1f} s, rollups computed "
              f"{info['compute_s']:.1f} s, written {info['write_s']:.1f} s "
              f"({info['rollup_docs']:,} docs), total {info['total_s']:.1f} s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    parser.add_argument("--requests", type=int, default=60)
    parser.add_argument("--transitions", type=int, default=200,
                        help="intakes + dispatches through the hook after the reads (0: none)")
    parser.add_argument("--cases", choices=["full", "lean", "none"], default="lean",
                        help="case documents inserted: full, lean (the fields the statistics "
                             "read; default) or none. Board and hotspot reads never touch them.")
    asyncio.run(main(parser.parse_args()))
