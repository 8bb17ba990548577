"""Placement on the demo district: single-point latency and bulk throughput, each beside a
naive baseline (every block polygon of both layers tested in turn, unprepared, no index)
measured in the same run.

    .venv/bin/python bench/placement.py [--points N] [--single N] [--naive N]

Targets (issue 3): place() for both layers with parents p99 ≤ 50 µs; bulk ≥ 700,000
points/s for both layers on one core; each ≥ 100× the naive loop.
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import shapely
from shapely.geometry import shape

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grids.demo import demo_feature_collection
from grids.importer import parse_grid
from grids.placement import GridIndex


def points_in_district(district: shapely.Geometry, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    minx, miny, maxx, maxy = district.bounds
    rng = np.random.default_rng(seed)
    xs, ys = np.empty(0), np.empty(0)
    while len(xs) < n:
        x, y = rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)
        inside = shapely.contains_xy(district, x, y)
        xs, ys = np.concatenate([xs, x[inside]]), np.concatenate([ys, y[inside]])
    return xs[:n], ys[:n]


class Naive:
    """The baseline: loop over every block polygon (unprepared), lowest code wins, then parents."""

    def __init__(self, units: list[dict]) -> None:
        by_code = {u["code"]: u for u in units}
        self.by_code = by_code
        self.community = sorted((u["code"], shape(u["geometry"])) for u in units
                                if u["level"] == "community_block")
        self.street = sorted((u["code"], shape(u["geometry"])) for u in units
                             if u["level"] == "street_block")

    def place(self, lon: float, lat: float) -> tuple[str | None, ...]:
        point = shapely.Point(lon, lat)
        # Every polygon is tested (a border point touches several; the lowest code wins).
        c = min((code for code, poly in self.community if poly.intersects(point)), default=None)
        s = min((code for code, poly in self.street if poly.intersects(point)), default=None)
        ws = self.by_code[c]["parent"] if c else None
        zone = self.by_code[s]["parent"] if s else None
        return c, s, ws, self.by_code[ws]["parent"] if ws else None, zone


def percentiles(samples_ns: list[int]) -> tuple[float, float, float]:
    a = np.array(samples_ns) / 1000
    return float(np.percentile(a, 50)), float(np.percentile(a, 99)), float(a.mean())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--points", type=int, default=1_000_000, help="bulk batch size")
    parser.add_argument("--single", type=int, default=100_000, help="single-point calls timed")
    parser.add_argument("--naive", type=int, default=2_000, help="naive calls timed")
    args = parser.parse_args()

    grid = parse_grid(demo_feature_collection())
    index = GridIndex(grid.units)
    naive = Naive(grid.units)
    district = shape(next(u for u in grid.units if u["level"] == "district")["geometry"])
    xs, ys = points_in_district(district, max(args.points, args.single), seed=1)
    lons, lats = xs.tolist(), ys.tolist()

    # Same answers before timing anything.
    for i in range(300):
        p = index.place(lons[i], lats[i])
        assert naive.place(lons[i], lats[i]) == (p.community_block, p.street_block, p.workstation,
                                                  p.street, p.patrol_zone)
    index.place_many(xs[:10_000], ys[:10_000])  # warm the prepared polygons

    # Wall time and this thread's CPU time, side by side: on a shared machine the CPU time is
    # what one core spends; the wall time also counts waiting for a core.
    gc.disable()
    wall, cpu = time.perf_counter_ns, time.thread_time_ns
    single_wall, single_cpu = timed(index.place, lons, lats, args.single, wall, cpu)
    naive_wall, naive_cpu = timed(naive.place, lons, lats, args.naive, wall, cpu)
    bulk_wall, bulk_cpu = [], []
    for _ in range(3):
        w, c = wall(), cpu()
        result = index.place_many(xs[:args.points], ys[:args.points])
        bulk_cpu.append(cpu() - c)
        bulk_wall.append(wall() - w)
    gc.enable()
    assert not result.outside.any() and (result.community_block != None).all()  # noqa: E711

    print(f"demo district: {len(index.blocks.codes)} blocks "
          f"({index.blocks.n_community} community + {index.blocks.n_street} street); "
          f"shapely {shapely.__version__}, GEOS {shapely.geos_version_string}, "
          f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
          f"load average {os.getloadavg()[0]:.1f}")
    print(f"{'':36}{'p50 µs':>9}{'p99 µs':>9}{'mean µs':>9}")
    rows = [("place(), both layers + parents", single_wall, single_cpu, args.single),
            ("naive loop over all polygons", naive_wall, naive_cpu, args.naive)]
    stats = {}
    for label, w_ns, c_ns, n in rows:
        for kind, samples in (("wall", w_ns), ("cpu", c_ns)):
            p50, p99, mean = percentiles(samples)
            stats[(label, kind)] = (p50, p99, mean)
            print(f"{label + ' (' + kind + ')':36}{p50:9.1f}{p99:9.1f}{mean:9.1f}   n={n:,}")
    for kind in ("wall", "cpu"):
        p50, p99, mean = stats[(rows[0][0], kind)]
        n50, _, nmean = stats[(rows[1][0], kind)]
        bulk_s = min(bulk_wall if kind == "wall" else bulk_cpu) / 1e9
        pps = args.points / bulk_s
        naive_pps = 1e6 / nmean
        print(f"[{kind}] single: p99 {p99:.1f} µs (target ≤ 50: {'met' if p99 <= 50 else 'NOT met'}), "
              f"p50 {n50 / p50:,.0f}× faster than naive | bulk place_many(): {pps:,.0f} points/s "
              f"(target ≥ 700,000: {'met' if pps >= 700_000 else 'NOT met'}), naive {naive_pps:,.0f} "
              f"points/s, {pps / naive_pps:,.0f}× (target ≥ 100×: {'met' if pps / naive_pps >= 100 else 'NOT met'})")
    return 0


def timed(place: Callable[[float, float], object], lons: list[float], lats: list[float], n: int,
          wall: Callable[[], int], cpu: Callable[[], int]) -> tuple[list[int], list[int]]:
    w_ns: list[int] = []
    c_ns: list[int] = []
    for i in range(n):
        # The (slow, syscall) CPU clock outside the wall-clock window.
        c = cpu()
        w = wall()
        place(lons[i], lats[i])
        w_end = wall()
        c_ns.append(cpu() - c)
        w_ns.append(w_end - w)
    return w_ns, c_ns


if __name__ == "__main__":
    sys.exit(main())
