"""Moderation's costs: blurring a photo, and the block check every report start now makes.

Run: .venv/bin/python bench/moderation.py [--runs N] [--blocks N]

- redact: `media.redaction.redact_bytes` on a photo-like web rendition (1280×960 JPEG, as the
  pipeline stores it) with 1 and with 5 rectangles — decode, mosaic + blur, web and thumb
  encode, pHash; wall and CPU time, runs interleaved round-robin.
- block check: `cases.moderation.active_block` (one indexed lookup by user id) against the
  embedded database holding `--blocks` blocks, for users who are blocked and who are not.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.timing import latency_line, pct
from cases import moderation
from gridlink.db import make_client
from gridlink.embedded import temporary_server
from gridlink.schema import ensure_indexes
from gridlink.settings import load_settings
from media import redaction


def web_rendition(seed: int = 3) -> bytes:
    """1280×960, smooth scene plus sensor noise, JPEG q82 (the pipeline's web rendition)."""
    rng = np.random.default_rng(seed)
    h, w = 960, 1280
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    scene = np.stack([120 + 60 * np.sin(x / 110), 110 + 50 * np.cos(y / 90),
                      100 + 40 * np.sin((x + y) / 150)], axis=-1)
    pixels = np.clip(scene + rng.normal(0, 9, (h, w, 3)), 0, 255).astype(np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=82)
    return out.getvalue()


def bench_redact(runs: int) -> None:
    web = web_rendition()
    one = [(0.40, 0.20, 0.20, 0.25)]
    five = [(0.05 + 0.18 * i, 0.1 + 0.15 * i, 0.12, 0.12) for i in range(5)]
    walls: dict[str, list[float]] = {"1 box": [], "5 boxes": []}
    cpus: dict[str, list[float]] = {"1 box": [], "5 boxes": []}
    for _ in range(runs):
        for name, boxes in (("1 box", one), ("5 boxes", five)):
            w0, c0 = time.perf_counter(), time.process_time()
            redaction.redact_bytes(web, redaction.check_boxes(boxes))
            walls[name].append(time.perf_counter() - w0)
            cpus[name].append(time.process_time() - c0)
    print(f"redact a {len(web) / 1024:.0f} KB 1280×960 web rendition ({runs} runs each):")
    for name in walls:
        print(f"  {latency_line(name, walls[name])}   CPU median "
              f"{statistics.median(cpus[name]) * 1000:7.2f} ms")


async def bench_blocks(blocks: int, lookups: int) -> None:
    with temporary_server() as uri:
        settings = load_settings(mongodb_uri=uri, mongodb_db="bench_moderation")
        client = make_client(uri, settings)
        db = client[settings.mongodb_db]
        await ensure_indexes(db)
        now = datetime.now(UTC)
        docs = [{"_id": f"b{i}", "user_id": 10_000_000 + i, "active": True, "reason": "bench",
                 "until": now + timedelta(days=7), "at": now, "told_at": None}
                for i in range(blocks)]
        for i in range(0, len(docs), 1000):
            await db[moderation.BLOCKS].insert_many(docs[i:i + 1000])
        rows: dict[str, list[float]] = {"blocked user": [], "not blocked": []}
        rng = random.Random(1)
        for _ in range(lookups):
            for name, uid in (("blocked user", 10_000_000 + rng.randrange(blocks)),
                              ("not blocked", 20_000_000 + rng.randrange(blocks))):
                t0 = time.perf_counter()
                found = await moderation.active_block(db, user_id=uid, now=now)
                rows[name].append(time.perf_counter() - t0)
                assert (found is not None) == (name == "blocked user")
        print(f"block check (active_block) with {blocks:,} blocks stored, {lookups} lookups each:")
        for name, samples in rows.items():
            print(f"  {latency_line(name, samples)}   p95 {pct(samples, 0.95):8.2f} ms")
        await client.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--blocks", type=int, default=10_000)
    ap.add_argument("--lookups", type=int, default=300)
    args = ap.parse_args()
    bench_redact(args.runs)
    asyncio.run(bench_blocks(args.blocks, args.lookups))


if __name__ == "__main__":
    main()
