"""Trend JSON cost at 10,000 vs 1,000,000 cases (five years each): the trend documents of N
synthetic cases (the history generator's spread — Pareto block and category weights, the
seed's channels — sampled with numpy rather than built case by case) are written to an
embedded FerretDB, then a year's daily trend with both comparisons is read through
`stats.trends.trends`: cold (parsed-document cache and version cache empty) and warm.

    .venv/bin/python bench/trends.py [--sizes 10000 1000000] [--requests 60]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import date, timedelta
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cases.categories import DEFAULT_CATEGORIES
from gridlink.db import make_client
from gridlink.embedded import EmbeddedServer
from gridlink.settings import load_settings
from stats import repository as repo
from stats import trends as tr
from stats.facts import TREND_SEP, doc_id
from stats.history import APPEAL_CHANNELS, SEED_MIX, demo_blocks
from stats.units import demo_directory

TODAY = date(2026, 11, 27)


def trend_docs(n: int, seed: int = 1) -> dict[str, dict[str, dict[str, int]]]:
    rng = np.random.default_rng(seed)
    blocks = demo_blocks("310101")
    cats = list(DEFAULT_CATEGORIES)
    wb = rng.pareto(1.6, len(blocks)) + 1
    wc = rng.pareto(1.3, len(cats)) + 1
    b = rng.choice(len(blocks), n, p=wb / wb.sum())
    c = rng.choice(len(cats), n, p=wc / wc.sum())
    appeal = rng.random(n) < SEED_MIX["appeal"] / sum(SEED_MIX.values())
    chans = [ch for ch, _ in APPEAL_CHANNELS]
    cw = np.array([w for _, w in APPEAL_CHANNELS])
    ch = np.where(appeal, rng.choice(len(chans), n, p=cw / cw.sum()), -1)
    day = rng.integers(0, 5 * 365, n)
    keys: Counter[tuple[int, int, int, int]] = Counter(zip(b.tolist(), c.tolist(), ch.tolist(), day.tolist(), strict=True))
    out: dict[str, dict[str, dict[str, int]]] = {}
    for (bi, ci, hi, d), k in keys.items():
        blk, cat = blocks[bi], cats[ci]
        on = TODAY - timedelta(days=d)
        month, dd = "M" + on.strftime("%Y-%m"), on.strftime("%d")
        dept = cat.department if cat.level == "line" and cat.department else "-"
        tail = TREND_SEP.join((cat.code, chans[hi] if hi >= 0 else "patrol_bot", dept))
        coarse = TREND_SEP.join((cat.code, "*", "*"))
        for doc, value in ((doc_id(month, "T", "*"), blk.street + TREND_SEP + tail),
                           (doc_id(month, "T", "st=" + blk.street), blk.code + TREND_SEP + tail),
                           (doc_id(month, "Tc", "*"), blk.street + TREND_SEP + coarse),
                           (doc_id(month, "Tc", "st=" + blk.street), blk.code + TREND_SEP + coarse)):
            cell = out.setdefault(doc, {}).setdefault(value, {})
            cell[dd] = cell.get(dd, 0) + k
    return out


async def run(uri: str, n: int, requests: int) -> dict[str, object]:
    settings = load_settings(mongodb_uri=uri, mongodb_db=f"trend_{n}", mongodb_timeout_ms=60_000)
    client = make_client(uri, settings)
    db = client[f"trend_{n}"]
    t0 = time.perf_counter()
    docs = trend_docs(n)
    built = time.perf_counter() - t0
    await repo.replace_all(db, rollups=docs, open_lists={})
    d = demo_directory()
    star = [len(repo.packed(k, v)["z"]) for k, v in docs.items() if k.endswith("|T|*")]
    street = [len(repo.packed(k, v)["z"]) for k, v in docs.items() if "|T|st=" in k]
    star_c = [len(repo.packed(k, v)["z"]) for k, v in docs.items() if k.endswith("|Tc|*")]
    queries = {
        "district, by category": tr.Query(TODAY - timedelta(days=364), TODAY, "day", "category", tr.Filters()),
        "2 streets × 2 categories": tr.Query(TODAY - timedelta(days=364), TODAY, "day", "category", tr.Filters(
            streets=frozenset({"310101001", "310101004"}),
            categories=frozenset({"exposed_garbage", "street_light"}))),
        "district, by channel (full months)": tr.Query(TODAY - timedelta(days=364), TODAY, "day", "channel",
                                                       tr.Filters()),
        "one workstation, by block, weekly": tr.Query(TODAY - timedelta(days=364), TODAY, "week", "block",
                                                      tr.Filters(stations=frozenset({d.of_level("workstation")[0]}))),
    }
    out: dict[str, object] = {"cases": n, "trend_docs": len(docs), "build_s": round(built, 1),
                              "district_doc_kB_mean": round(statistics.mean(star) / 1000, 1),
                              "district_doc_kB_max": round(max(star) / 1000, 1),
                              "street_doc_kB_mean": round(statistics.mean(street) / 1000, 1),
                              "street_doc_kB_max": round(max(street) / 1000, 1),
                              "district_place_category_kB_max": round(max(star_c) / 1000, 1)}
    for name, q in queries.items():
        cold, warm = [], []
        for i in range(requests):
            if i % 2 == 0:  # a process start: every cache of the read empty
                tr._parsed.clear()
                repo._cache.clear()
                tr._buckets.cache_clear()
                tr._month_map.cache_clear()
            t = time.perf_counter()
            body = await tr.trends(db, q, directory=d)
            (cold if i % 2 == 0 else warm).append((time.perf_counter() - t) * 1000)
        out[name] = {"documents": body["documents"], "sum": body["sum"],
                     "cold_p50": round(statistics.median(cold), 1),
                     "cold_p95": round(sorted(cold)[int(len(cold) * 0.95) - 1], 1),
                     "warm_p50": round(statistics.median(warm), 1),
                     "warm_p95": round(sorted(warm)[int(len(warm) * 0.95) - 1], 1)}
    await client.drop_database(f"trend_{n}")
    await client.close()
    return out


async def main(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedServer(Path(tmp))
        server.start()
        try:
            for n in args.sizes:
                print(await run(server.uri, n, args.requests), flush=True)
        finally:
            server.stop()


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", type=int, nargs="+", default=[10_000, 1_000_000])
    ap.add_argument("--requests", type=int, default=60)
    asyncio.run(main(ap.parse_args()))
