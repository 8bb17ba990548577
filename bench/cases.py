"""Case intake and transitions on the embedded database, and why serials are claimed.

Run: .venv/bin/python bench/cases.py [--cases N]

Figures, measured side by side in one run against one embedded server:

- counter: 100 concurrent `$inc` on one counter document, bare (what MongoDB makes atomic)
  and through `repository.next_serial_number` (one increment in flight per process; callers
  arriving meanwhile share the next one):
  distinct values out of 100, and time. On FerretDB v1 the bare one loses increments; this
  is why serials are arbitrated by the unique `serial` index and transitions by
  `case_claims` inserts.
- intake: N intakes one after the other, alternating stats' rollup hook (stats/rollups.py)
  on and off, then N intakes 20 at a time (hook off: on FerretDB the hook's concurrent
  upserts time out): cases/s and ratios.
- lifecycle: dispatch → accept → feedback → verify on N cases with stats' rollup hook off,
  alternating case by case between the claim insert on and made a no-op: transitions/s of
  each and the share of the time the claim costs.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pymongo import ReturnDocument

from cases import lifecycle
from cases import repository as repo
from cases.intake import intake
from cases.model import Actor, CasePolicy
from gridlink.db import Database, make_client
from gridlink.embedded import temporary_server
from gridlink.schema import ensure_indexes
from gridlink.settings import load_settings

POLICY = CasePolicy()
CENTER = Actor(role="dispatcher", unit=POLICY.district, name="bench")
ROADS = Actor(role="department", unit="D07", name="bench")
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


async def _intake(db: Database, i: int) -> dict[str, Any]:
    res = await intake(db, policy=POLICY, now=T0 + timedelta(seconds=i), channel="hotline_12345",
                       kind="complaint", category="road_damage", description=f"pothole {i}",
                       actor=CENTER, reporter={"phone": "13800000000"},
                       location={"lon": 121.47 + i * 0.001, "lat": 31.23})
    return res.case


async def counter(db: Database) -> None:
    await db.counters.insert_one({"_id": "bare", "seq": 0})

    async def bare() -> int:
        doc = await db.counters.find_one_and_update({"_id": "bare"}, {"$inc": {"seq": 1}},
                                                    return_document=ReturnDocument.AFTER)
        return int(doc["seq"]) if doc else -1

    t = time.perf_counter()
    got = await asyncio.gather(*(bare() for _ in range(100)))
    bare_s = time.perf_counter() - t
    t = time.perf_counter()
    serials = await asyncio.gather(*(repo.next_serial_number(db, prefix="B", day=date(2026, 11, 27))
                                     for _ in range(100)))
    locked_s = time.perf_counter() - t
    print(f"counter  bare $inc x100 concurrent: {len(set(got)):3d}/100 distinct in {bare_s*1000:7.1f} ms")
    print(f"counter  next_serial_number x100:   {len(set(serials)):3d}/100 distinct in {locked_s*1000:7.1f} ms"
          f"  (x{locked_s / bare_s:.2f} the time)")


async def _no_stats(*a: Any, **k: Any) -> None:
    return None


async def intakes(db: Database, n: int) -> list[dict[str, Any]]:
    """Sequential with stats' hook on and off, interleaved by halves; then 20 in flight (off)."""
    hook = lifecycle.count_transition
    on = off = 0.0
    made: list[dict[str, Any]] = []
    for i in range(n):
        lifecycle.count_transition = hook if i % 2 == 0 else _no_stats  # type: ignore[assignment]
        t = time.perf_counter()
        made.append(await _intake(db, i))
        if i % 2 == 0:
            on += time.perf_counter() - t
        else:
            off += time.perf_counter() - t
    half = n // 2
    lifecycle.count_transition = _no_stats  # type: ignore[assignment]
    t = time.perf_counter()
    sem = asyncio.Semaphore(20)

    async def one(i: int) -> dict[str, Any]:
        async with sem:
            return await _intake(db, n + i)

    made += await asyncio.gather(*(one(i) for i in range(n)))
    con_s = time.perf_counter() - t
    lifecycle.count_transition = hook
    serials = [c["serial"] for c in made]
    assert len(set(serials)) == len(serials)
    print(f"intake   sequential, stats' rollup hook on:  {half / on:7.1f} cases/s ({on / half * 1000:.1f} ms each)")
    print(f"intake   sequential, stats' rollup hook off: {half / off:7.1f} cases/s ({off / half * 1000:.1f} ms each)")
    print(f"intake   20 in flight, hook off:              {n / con_s:7.1f} cases/s  "
          f"(x{(n / con_s) / (half / off):.2f} sequential)")
    return made


async def _four(db: Database, case: dict[str, Any]) -> float:
    now = T0 + timedelta(hours=1)
    t = time.perf_counter()
    await lifecycle.dispatch(db, case_ref=case["_id"], actor=CENTER, now=now, policy=POLICY)
    await lifecycle.accept(db, case_ref=case["_id"], actor=ROADS, now=now)
    await lifecycle.feedback(db, case_ref=case["_id"], actor=ROADS, now=now, policy=POLICY, text="ok")
    await lifecycle.verify(db, case_ref=case["_id"], actor=CENTER, now=now, policy=POLICY, ok=True)
    return time.perf_counter() - t


async def _no_claim(*a: Any, **k: Any) -> bool:
    return True


async def walk(db: Database, cases: list[dict[str, Any]]) -> tuple[float, float]:
    """Cases alternate between claims on and off, so drifting load hits both alike."""
    original = repo.claim_version
    on = off = 0.0
    try:
        for i, case in enumerate(cases):
            repo.claim_version = original if i % 2 == 0 else _no_claim  # type: ignore[assignment]
            took = await _four(db, case)
            if i % 2 == 0:
                on += took
            else:
                off += took
    finally:
        repo.claim_version = original  # type: ignore[assignment]
    return on, off


async def main(n: int) -> None:
    with temporary_server() as uri:
        settings = load_settings(mongodb_uri=uri, mongodb_db="bench_cases", mongodb_timeout_ms=5000)
        client = make_client(uri, settings)
        db = client["bench_cases"]
        await ensure_indexes(db)
        await counter(db)
        made = await intakes(db, n)
        made = made[n:]
        # stats' rollup hook off: this compares cases' own writes.
        lifecycle.count_transition = _no_stats  # type: ignore[assignment]
        with_claim, without = await walk(db, made)
        half = len(made) // 2
        print(f"lifecycle 4 transitions x{half} each: {4 * half / with_claim:7.1f} transitions/s "
              f"with claims, {4 * half / without:7.1f} without (claims cost "
              f"{(with_claim - without) / with_claim * 100:.0f}% of the time)")
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--cases", type=int, default=60)
    asyncio.run(main(parser.parse_args().cases))
