"""Assessment cost by period (month, quarter, year) and level (district, street, workstation)
at 10,000 vs 100,000 cases over five years: N synthetic cases (`stats.history.generate`) are
turned into rollups (`stats.rollups.recompute` + `replace_all`, what `gridlink stats rebuild`
writes; the cases themselves are not inserted: the assessment reads the statistics only), then
`stats.assessment.assessment` is called in-process, warm (documents of the current version from
memory) and cold (every document from the database), and the XLSX of a year's district tables
is written.

    .venv/bin/python bench/assessment.py [--sizes 10000 100000] [--requests 30]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from gridlink.db import make_client
from gridlink.embedded import EmbeddedServer
from gridlink.schema import ensure_indexes
from gridlink.settings import load_settings
from stats import assessment as assess
from stats import repository as repo
from stats.history import generate
from stats.rollups import recompute
from stats.units import directory

NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")
DISTRICT = "310101"
PERIODS = ("2026-11", "2026-Q4", "2026")


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def main(args: argparse.Namespace) -> None:
    rows: dict[tuple[int, str, str, str], list[float]] = {}
    xlsx: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = EmbeddedServer(Path(tmp))
        server.start()
        try:
            for n in args.sizes:
                name = f"bench_assess_{n}"
                settings = load_settings(mongodb_uri=server.uri, mongodb_db=name, mongodb_timeout_ms=60_000)
                client = make_client(server.uri, settings)
                db = client[name]
                await ensure_indexes(db)
                t = time.perf_counter()
                rollups, opens = recompute(generate(n, now=NOW))
                await repo.replace_all(db, rollups=rollups, open_lists=opens, cut=NOW.timestamp())
                print(f"{n:,} cases: rollups written in {time.perf_counter() - t:.1f} s", file=sys.stderr)
                d = await directory(db, district=DISTRICT)
                street = d.of_level("street")[0]
                ws = sorted(c for c in d.children.get(street, []) if d.level.get(c) == "workstation")[0]
                levels = {"district": DISTRICT, "street": street, "workstation": ws}
                for temp in ("warm", "cold"):
                    repo.CACHE_S = -1.0 if temp == "cold" else 30.0
                    for level, unit in levels.items():
                        for period in PERIODS:
                            times = rows.setdefault((n, temp, level, period), [])
                            for _ in range(args.requests):
                                t = time.perf_counter()
                                await assess.assessment(db, period=period, unit=unit, now=NOW, tz=TZ,
                                                        district=DISTRICT)
                                times.append((time.perf_counter() - t) * 1000)
                repo.CACHE_S = 30.0
                result = await assess.assessment(db, period="2026", unit=None, now=NOW, tz=TZ, district=DISTRICT)
                t = time.perf_counter()
                assess.to_xlsx(result, "en")
                xlsx[n] = (time.perf_counter() - t) * 1000
                await client.drop_database(name)
                await client.close()
        finally:
            server.stop()
    print(f"\nassessment, {args.requests} calls each, ms (p50 / p95)")
    print(f"{'pass':5} {'level':12} {'period':8} " + " ".join(f"{n:>16,}" for n in args.sizes))
    for temp in ("warm", "cold"):
        for level in ("district", "street", "workstation"):
            for period in PERIODS:
                cells = [rows[(n, temp, level, period)] for n in args.sizes]
                print(f"{temp:5} {level:12} {period:8} " +
                      " ".join(f"{pct(c, 50):7.1f} / {pct(c, 95):6.1f}" for c in cells))
    for n, ms in xlsx.items():
        print(f"XLSX of the year's district tables at {n:,}: {ms:.0f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--requests", type=int, default=30)
    asyncio.run(main(parser.parse_args()))
