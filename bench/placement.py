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

    gc.disable()
    clock = time.perf_counter_ns
    single: list[int] = []
    place = index.place
    for i in range(args.single):
        t = clock()
        place(lons[i], lats[i])
        single.append(clock() - t)
    naive_ns: list[int] = []
    for i in range(args.naive):
        t = clock()
        naive.place(lons[i], lats[i])
        naive_ns.append(clock() - t)
    bulk_runs = []
    for _ in range(3):
        t = clock()
        result = index.place_many(xs[:args.points], ys[:args.points])
        bulk_runs.append(clock() - t)
    gc.enable()
    assert not result.outside.any() and (result.community_block != None).all()  # noqa: E711

    p50, p99, mean = percentiles(single)
    n50, n99, nmean = percentiles(naive_ns)
    bulk_pps = args.points / (min(bulk_runs) / 1e9)
    naive_pps = 1e6 / nmean
    print(f"demo district: {len(index.blocks.codes)} blocks "
          f"({index.blocks.n_community} community + {index.blocks.n_street} street); "
          f"shapely {shapely.__version__}, GEOS {shapely.geos_version_string}, "
          f"Python {platform.python_version()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}")
    print(f"{'':34}{'p50 µs':>10}{'p99 µs':>10}{'mean µs':>10}")
    print(f"{'place() both layers + parents':34}{p50:10.1f}{p99:10.1f}{mean:10.1f}   ({args.single:,} points)")
    print(f"{'naive loop, same answers':34}{n50:10.1f}{n99:10.1f}{nmean:10.1f}   ({args.naive:,} points)")
    print(f"single-point speed-up (mean): {nmean / mean:,.0f}×   p99 target ≤ 50 µs: "
          f"{'met' if p99 <= 50 else 'NOT met'}")
    print(f"bulk place_many(): {bulk_pps:,.0f} points/s (best of 3 × {args.points:,}); "
          f"naive: {naive_pps:,.0f} points/s; speed-up {bulk_pps / naive_pps:,.0f}×   "
          f"target ≥ 700,000/s: {'met' if bulk_pps >= 700_000 else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
