"""`gridlink grids demo|import`: load the synthetic district or a real grid file."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from gridlink.settings import Settings

if TYPE_CHECKING:
    from grids.importer import ImportedGrid


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="grids_command", required=True)
    demo = sub.add_parser("demo", help="load the synthetic A district as the active grid")
    demo.add_argument("--seed", type=int, default=None, help="same seed, same district")
    demo.add_argument("--geojson", metavar="FILE", type=Path,
                      help="write the demo district to FILE (importable) instead of loading it")
    imp = sub.add_parser("import", help="validate a GeoJSON grid file and make it the active grid")
    imp.add_argument("file", type=Path, help="FeatureCollection; properties code, name, level, parent")
    imp.add_argument("--crs", choices=("wgs84", "gcj02"), default="wgs84",
                     help="coordinate system of the file (stored as WGS-84)")
    imp.add_argument("--max-gap-m2", type=float, default=None,
                     help="largest gap between community blocks accepted (default GRID_MAX_GAP_M2)")


def run(args: argparse.Namespace, settings: Settings) -> int:
    from grids.demo import DEFAULT_SEED, demo_feature_collection

    if args.grids_command == "demo" and args.geojson:
        fc = demo_feature_collection(district=settings.district_code, seed=args.seed or DEFAULT_SEED)
        args.geojson.write_text(json.dumps(fc, ensure_ascii=False))
        print(f"wrote {len(fc['features'])} features to {args.geojson}")
        return 0

    from gridlink.runtime import database_uri

    if args.grids_command == "demo":
        with database_uri(settings) as uri:
            return asyncio.run(load_demo(settings, uri, seed=args.seed, only_if_empty=False))
    # Everything is validated before the database is even opened: a bad file writes nothing.
    grid = read_grid_file(args.file, source_crs=args.crs, settings=settings,
                          max_gap_m2=args.max_gap_m2)
    if grid is None:
        return 1
    with database_uri(settings) as uri:
        version = asyncio.run(install(settings, uri, grid, source=f"{args.file.name} ({args.crs})"))
    print(f"{args.file} imported as grid version {version}: {_counts(grid.counts())}")
    return 0


async def load_demo(settings: Settings, uri: str, *, seed: int | None = None,
                    only_if_empty: bool = False) -> int:
    from gridlink.schema import open_database
    from grids import repository
    from grids.demo import DEFAULT_SEED, demo_feature_collection
    from grids.importer import parse_grid

    async with open_database(uri, settings) as db:
        if only_if_empty and await repository.active_version(db) is not None:
            return 0
    seed = seed or DEFAULT_SEED
    grid = parse_grid(demo_feature_collection(district=settings.district_code, seed=seed),
                      district_code=settings.district_code)
    version = await install(settings, uri, grid, source=f"demo seed {seed}")
    print(f"demo district loaded as grid version {version}: {_counts(grid.counts())}")
    return 0


def read_grid_file(path: Path, *, source_crs: str, settings: Settings,
                   max_gap_m2: float | None) -> ImportedGrid | None:
    """The validated grid, or None after printing every problem to stderr."""
    from grids.errors import GridImportError
    from grids.importer import parse_grid

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:  # JSONDecodeError is a ValueError
        print(f"gridlink: cannot read {path}: {exc}", file=sys.stderr)
        return None
    except RecursionError:
        print(f"gridlink: cannot read {path}: JSON nested too deeply", file=sys.stderr)
        return None
    try:
        return parse_grid(data, source_crs="gcj02" if source_crs == "gcj02" else "wgs84",
                          max_gap_m2=settings.grid_max_gap_m2 if max_gap_m2 is None else max_gap_m2,
                          district_code=settings.district_code)
    except GridImportError as exc:
        print(f"gridlink: {path}: {exc.message}", file=sys.stderr)
        for p in exc.problems:
            where = p["code"] or (f"feature #{p['feature']}" if p["feature"] is not None else "file")
            print(f"  {where}: {p['problem']}: {p['message']}", file=sys.stderr)
        return None


async def install(settings: Settings, uri: str, grid: ImportedGrid, *, source: str) -> int:
    from gridlink.clock import SystemClock
    from gridlink.schema import open_database
    from grids import repository

    async with open_database(uri, settings) as db:
        return await repository.install_grid(db, grid=grid, source=source, now=SystemClock().now())


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{n} {level}" for level, n in counts.items())


def demo_step(settings: Settings, uri: str) -> None:
    """`gridlink demo`: load the demo district unless a grid is already active."""
    asyncio.run(load_demo(settings, uri, only_if_empty=True))
