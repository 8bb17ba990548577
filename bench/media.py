"""Photo pipeline speed: the whole pipeline beside the draft-decode floor and a naive pipeline.

Run: .venv/bin/python bench/media.py [--runs N]

A photo-like 12-megapixel JPEG (4000×3000, quality 92, EXIF orientation 6 and GPS,
sensor-like noise so that it weighs 4–6 MB as a phone's does) is generated, then timed:

- floor: decode at the reduced draft() scale and nothing else;
- pipeline: `media.pipeline.process` (checks, EXIF, draft decode, derivatives, pHash, sha256);
- naive: full decode, rotate, resize to web and thumb, encode both.

Each figure is the median over runs interleaved round-robin, so load from other processes
hits all three alike; CPU time (all threads) is printed beside wall time because it barely
moves with the machine's load, and the minimum is the closest to an idle machine. Peak memory is the growth of peak RSS over one call, each in a fresh
process. GridFS storage (web + thumb + the photo document) is timed separately against the
embedded database.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gridlink.db import make_client
from gridlink.embedded import temporary_server
from gridlink.settings import load_settings
from media import pipeline, repository, service


def photo_like_jpeg(seed: int = 7) -> bytes:
    """4000×3000 q92 JPEG with smooth scene content, luminance + chroma noise, orientation 6, GPS."""
    rng = np.random.default_rng(seed)
    h, w = 3000, 4000
    y, x = np.mgrid[0:h, 0:w].astype(np.float32)
    scene = np.stack([
        120 + 60 * np.sin(x / 310) + 20 * np.cos(y / 97),
        110 + 50 * np.cos(y / 250) + 15 * np.sin((x - y) / 133),
        100 + 40 * np.sin((x + y) / 410),
    ], axis=-1)
    luma = rng.normal(0, 9.0, (h, w, 1)).astype(np.float32)
    chroma = rng.normal(0, 4.0, (h, w, 3)).astype(np.float32)
    pixels = np.clip(scene + luma + chroma, 0, 255).astype(np.uint8)
    img = Image.fromarray(pixels, "RGB")
    exif = Image.Exif()
    exif[0x0112] = 6
    exif[0x010F] = "BenchPhone"
    gps = exif.get_ifd(0x8825)
    gps.update({1: "N", 2: (31.0, 13.0, 52.8), 3: "E", 4: (121.0, 28.0, 30.6)})
    sub = exif.get_ifd(0x8769)
    sub[0x9003] = "2026:11:27 09:41:07"
    out = io.BytesIO()
    img.save(out, "JPEG", quality=92, exif=exif.tobytes())
    return out.getvalue()


def floor(data: bytes) -> None:
    """Decode at the draft scale the pipeline uses, and nothing else."""
    with Image.open(io.BytesIO(data)) as img:
        w, h = img.size
        scale = pipeline.WEB_LONG_SIDE / max(w, h)
        img.draft("RGB", (int(w * scale + 0.999), int(h * scale + 0.999)))
        img.load()


def naive(data: bytes) -> None:
    """What one writes first: decode everything, rotate the big image, resize twice, encode."""
    with Image.open(io.BytesIO(data)) as img:
        img.load()
        upright = img.transpose(Image.Transpose.ROTATE_270)
    web = upright.copy()
    web.thumbnail((pipeline.WEB_LONG_SIDE, pipeline.WEB_LONG_SIDE), Image.Resampling.LANCZOS,
                  reducing_gap=None)
    thumb = upright.copy()
    thumb.thumbnail((pipeline.THUMB_LONG_SIDE, pipeline.THUMB_LONG_SIDE),
                    Image.Resampling.LANCZOS, reducing_gap=None)
    for im in (web, thumb):
        im.save(io.BytesIO(), "JPEG", quality=pipeline.WEB_QUALITY)


def whole(data: bytes) -> None:
    pipeline.process(data, claimed_type="image/jpeg", filename="IMG_0001.jpg",
                     limits=pipeline.Limits(), tz=UTC)


def peak_rss_mb(name: str, photo: Path) -> float:
    """Extra peak RSS of one call, measured in a fresh process (Pillow's pixel buffers are
    malloc'd outside Python's allocator, so tracemalloc would not see them)."""
    out = subprocess.run([sys.executable, __file__, "--peak-of", name, "--photo", str(photo)],
                         capture_output=True, text=True, check=True)
    return float(out.stdout.strip())


def _peak_child(name: str, photo: Path) -> None:
    data = photo.read_bytes()
    fn = FUNCTIONS[name]
    # Warm imports and codecs on a tiny image so the baseline includes them.
    tiny = io.BytesIO()
    Image.new("RGB", (64, 48)).save(tiny, "JPEG")
    pipeline.process(tiny.getvalue(), claimed_type=None, filename=None,
                     limits=pipeline.Limits(), tz=UTC)
    before = _high_water_kib()
    fn(data)
    print(f"{(_high_water_kib() - before) / 1024:.1f}")


def _high_water_kib() -> int:
    """Peak RSS of this process image. (Not ru_maxrss: after fork+exec it starts from the
    parent's RSS, which here is the big photo generator's.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError("no VmHWM in /proc/self/status (Linux only)")


def store_ms(data: bytes, runs: int) -> float:
    """Median ms of `media.service.store`: web + thumb into GridFS and the photo document,
    on the embedded database (what `ingest` adds to the pipeline besides one lookup)."""

    async def run(uri: str) -> float:
        settings = load_settings(mongodb_uri=uri, mongodb_db="bench_media")
        client = make_client(uri, settings)
        db = client[settings.mongodb_db]
        await repository.ensure_indexes(db)
        processed = await asyncio.to_thread(whole_result, data)
        times = []
        try:
            for i in range(runs):
                t0 = time.perf_counter()
                await service.store(db, processed=processed, data=data, uploader="bench",
                                    case_id=None, keep_original=False,
                                    now=datetime.now(UTC), photo_id=f"bench{i}")
                times.append((time.perf_counter() - t0) * 1000)
                await db.photos.delete_many({})
        finally:
            await client.drop_database(settings.mongodb_db)
            await client.close()
        return statistics.median(times)

    with temporary_server() as uri:
        return asyncio.run(run(uri))


def whole_result(data: bytes) -> pipeline.Processed:
    return pipeline.process(data, claimed_type="image/jpeg", filename=None,
                            limits=pipeline.Limits(), tz=UTC)


FUNCTIONS: dict[str, Callable[[bytes], None]] = {"floor": floor, "pipeline": whole,
                                                 "naive": naive}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--no-store", action="store_true", help="skip the GridFS timing")
    parser.add_argument("--peak-of", choices=list(FUNCTIONS), help=argparse.SUPPRESS)
    parser.add_argument("--photo", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.peak_of:
        _peak_child(args.peak_of, args.photo)
        return

    data = photo_like_jpeg()
    print(f"photo: 4000×3000 JPEG q92, orientation 6, GPS, {len(data) / 1e6:.2f} MB")
    fns = FUNCTIONS
    for fn in fns.values():  # warm up decoders, profiles and caches
        fn(data)
    wall: dict[str, list[float]] = {name: [] for name in fns}
    cpu: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(args.runs):
        for name, fn in fns.items():
            c0, t0 = time.process_time(), time.perf_counter()
            fn(data)
            wall[name].append((time.perf_counter() - t0) * 1000)
            cpu[name].append((time.process_time() - c0) * 1000)  # all threads of the process
    med = {name: statistics.median(values) for name, values in wall.items()}
    cpu_med = {name: statistics.median(values) for name, values in cpu.items()}
    with tempfile.TemporaryDirectory() as tmp:
        photo = Path(tmp) / "photo.jpg"
        photo.write_bytes(data)
        peaks = {name: peak_rss_mb(name, photo) for name in fns}
    load = os.getloadavg()[0]
    print(f"{args.runs} runs each, interleaved; 1-min load average {load:.1f} on "
          f"{os.cpu_count()} CPUs")
    for name in fns:
        print(f"{name:>9}: median {med[name]:7.1f} ms wall (min {min(wall[name]):6.1f}), "
              f"{cpu_med[name]:7.1f} ms CPU   peak +{peaks[name]:6.1f} MB RSS")
    print(f"wall: pipeline / floor = {med['pipeline'] / med['floor']:.2f}× (target ≤ 1.5), "
          f"naive / pipeline = {med['naive'] / med['pipeline']:.2f}× (target ≥ 3)")
    print(f"min:  pipeline / floor = {min(wall['pipeline']) / min(wall['floor']):.2f}×, "
          f"naive / pipeline = {min(wall['naive']) / min(wall['pipeline']):.2f}×")
    print(f"CPU:  pipeline / floor = {cpu_med['pipeline'] / cpu_med['floor']:.2f}×, "
          f"naive / pipeline = {cpu_med['naive'] / cpu_med['pipeline']:.2f}×")
    if not args.no_store:
        ms = store_ms(data, runs=max(5, args.runs // 2))
        print(f"GridFS store (web + thumb + photo document, embedded DB): median {ms:.1f} ms")


if __name__ == "__main__":
    main()
