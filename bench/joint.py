"""What a joint case (联勤联动, cases.joint) costs beside a plain one, on the embedded database.

Run: .venv/bin/python bench/joint.py [--cases N]

N cases alternate, one after the other, between a plain case (dispatch → accept → feedback →
verify) and a joint one with two assisting departments (dispatch with them → accept → each
part's accept and feedback → the lead's feedback → verify), with the statistics' change-log
deriver on as in the app. Per transition kind: p50/p95 in ms; per case: the whole cycle's
time and the list keys (`case_keys`) a dispatched case holds.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Awaitable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cases import joint, lifecycle
from cases.intake import intake
from cases.model import Actor, CasePolicy
from gridlink.app import wire_domains
from gridlink.db import Database, make_client
from gridlink.embedded import temporary_server
from gridlink.schema import ensure_indexes
from gridlink.settings import load_settings

POLICY = CasePolicy()
CENTER = Actor(role="dispatcher", unit=POLICY.district, name="bench")
LEAD = Actor(role="department", unit="D07", name="roads")
HELPERS = (Actor(role="department", unit="D02", name="chengguan"),
           Actor(role="department", unit="D05", name="greenery"))
T0 = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


def _ms(samples: list[float]) -> str:
    qs = statistics.quantiles(samples, n=20) if len(samples) >= 2 else samples * 19
    return f"p50 {statistics.median(samples):6.1f}  p95 {qs[18]:6.1f} ms  (n={len(samples)})"


async def _timed(out: dict[str, list[float]], name: str, call: Awaitable[Any]) -> Any:
    t = time.perf_counter()
    result = await call
    out.setdefault(name, []).append((time.perf_counter() - t) * 1000)
    return result


async def _cycle(db: Database, i: int, joint_case: bool, times: dict[str, list[float]],
                 keys: dict[str, list[int]]) -> None:
    now = T0 + timedelta(minutes=i)
    made = await intake(db, policy=POLICY, now=now, channel="hotline_12345", kind="complaint",
                        category="road_damage", description=f"pothole {i}", actor=CENTER,
                        reporter={"phone": "13800000000"},
                        location={"lon": 121.47 + i * 0.0001, "lat": 31.23})
    ref, kind = made.case["_id"], "joint" if joint_case else "plain"
    t = time.perf_counter()
    await _timed(times, f"{kind} dispatch", lifecycle.dispatch(
        db, case_ref=ref, actor=CENTER, now=now, policy=POLICY, unit="D07",
        assisting=[h.unit for h in HELPERS if h.unit] if joint_case else None))
    keys.setdefault(kind, []).append(await db.case_keys.count_documents({"c": ref}))
    await _timed(times, f"{kind} accept", lifecycle.accept(db, case_ref=ref, actor=LEAD, now=now))
    if joint_case:
        for helper in HELPERS:
            await _timed(times, "part accept", joint.part_accept(db, case_ref=ref, actor=helper,
                                                                   now=now))
            await _timed(times, "part feedback", joint.part_feedback(
                db, case_ref=ref, actor=helper, now=now, policy=POLICY, text="done"))
    await _timed(times, f"{kind} feedback", lifecycle.feedback(
        db, case_ref=ref, actor=LEAD, now=now, policy=POLICY, text="patched"))
    await _timed(times, f"{kind} verify", lifecycle.verify(
        db, case_ref=ref, actor=CENTER, now=now, policy=POLICY, ok=True))
    times.setdefault(f"{kind} whole cycle", []).append((time.perf_counter() - t) * 1000)


async def main(n: int) -> None:
    wire_domains()  # the statistics' deriver on every change, as in the app
    with temporary_server() as uri:
        settings = load_settings(mongodb_uri=uri, mongodb_db="bench_joint", mongodb_timeout_ms=5000)
        client = make_client(uri, settings)
        db = client[settings.mongodb_db]
        await ensure_indexes(db)
        times: dict[str, list[float]] = {}
        keys: dict[str, list[int]] = {}
        for i in range(4):  # warm-up, not counted
            await _cycle(db, -10 - i, i % 2 == 1, {}, {})
        for i in range(n):
            await _cycle(db, i, i % 2 == 1, times, keys)
        for name in sorted(times):
            print(f"{name:22s} {_ms(times[name])}")
        for kind, counts in sorted(keys.items()):
            print(f"{kind} case: {statistics.mean(counts):.1f} list keys once dispatched")
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=200)
    asyncio.run(main(parser.parse_args().cases))
