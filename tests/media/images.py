"""Photos made on the spot for the media tests: nothing is downloaded."""

from __future__ import annotations

import io
import struct
import zlib
from typing import Any

import numpy as np
import pillow_heif
from PIL import Image

pillow_heif.register_heif_opener()

# Quadrant colours of the asymmetric test picture, upright: which corner ends where tells
# every rotation and mirror apart.
TOP_LEFT = (220, 30, 30)
TOP_RIGHT = (30, 200, 30)
BOTTOM_LEFT = (30, 30, 220)
BOTTOM_RIGHT = (240, 240, 240)

XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
       b'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#"><rdf:Description '
       b'xmlns:xmp="http://ns.adobe.com/xap/1.0/" xmp:CreatorTool="PatrolCam"/>'
       b'</rdf:RDF></x:xmpmeta>')


def quadrants(width: int = 96, height: int = 64) -> np.ndarray:
    """An upright picture (rows × cols × RGB) with four differently coloured quadrants."""
    a = np.zeros((height, width, 3), dtype=np.uint8)
    a[: height // 2, : width // 2] = TOP_LEFT
    a[: height // 2, width // 2:] = TOP_RIGHT
    a[height // 2:, : width // 2] = BOTTOM_LEFT
    a[height // 2:, width // 2:] = BOTTOM_RIGHT
    return a


def stored_for(upright: np.ndarray, orientation: int) -> np.ndarray:
    """The pixels a camera stores with `orientation` for this upright scene (EXIF 2.32 §4.6.4:
    the tag says where the stored 0th row and 0th column are in the visual image)."""
    a = upright
    return {
        1: a,
        2: a[:, ::-1],                    # 0th row top, 0th column right
        3: a[::-1, ::-1],                 # bottom, right
        4: a[::-1, :],                    # bottom, left
        5: a.transpose(1, 0, 2),          # left, top
        6: np.rot90(a, 1),                # right, top  (camera turned clockwise)
        7: a[::-1, ::-1].transpose(1, 0, 2),  # right, bottom
        8: np.rot90(a, -1),               # left, bottom
    }[orientation].copy()


def quadrant_colours(img: Image.Image) -> tuple[tuple[int, ...], ...]:
    """The colours at the centres of the four quadrants: TL, TR, BL, BR."""
    rgb = img.convert("RGB")
    w, h = rgb.size
    return tuple(rgb.getpixel((x, y)) for x, y in  # type: ignore[misc]
                 ((w // 4, h // 4), (3 * w // 4, h // 4), (w // 4, 3 * h // 4),
                  (3 * w // 4, 3 * h // 4)))


def close(a: tuple[int, ...], b: tuple[int, ...], tolerance: int = 40) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a, b, strict=True))


def exif_block(*, orientation: int | None = None, lat: float | None = None,
               lon: float | None = None, taken: str | None = None,
               offset: str | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "PatrolCam"
    if orientation is not None:
        exif[0x0112] = orientation
    if lat is not None and lon is not None:
        gps = exif.get_ifd(0x8825)
        gps[1] = "N" if lat >= 0 else "S"
        gps[2] = _dms(abs(lat))
        gps[3] = "E" if lon >= 0 else "W"
        gps[4] = _dms(abs(lon))
    if taken is not None:
        sub = exif.get_ifd(0x8769)
        sub[0x9003] = taken
        if offset is not None:
            sub[0x9011] = offset
    return exif


def _dms(value: float) -> tuple[float, float, float]:
    degrees = int(value)
    minutes = int((value - degrees) * 60)
    seconds = round((value - degrees - minutes / 60) * 3600, 4)
    return (float(degrees), float(minutes), seconds)


def encode(pixels: np.ndarray | Image.Image, fmt: str, **params: Any) -> bytes:
    img = pixels if isinstance(pixels, Image.Image) else Image.fromarray(pixels, "RGB")
    out = io.BytesIO()
    if fmt == "JPEG":
        params.setdefault("quality", 92)
    img.save(out, fmt, **params)
    return out.getvalue()


def scene(width: int, height: int, seed: int = 1) -> np.ndarray:
    """A smooth photo-like scene with a few shapes (good for perceptual hashes)."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    a = np.stack([100 + 80 * np.sin(x / (width / 5) + seed),
                  120 + 70 * np.cos(y / (height / 4) + seed),
                  90 + 60 * np.sin((x + y) / (width / 3))], axis=-1)
    for _ in range(6):
        cx, cy = rng.integers(0, width), rng.integers(0, height)
        r = rng.integers(min(width, height) // 10, min(width, height) // 4)
        a[(x - cx) ** 2 + (y - cy) ** 2 < r * r] = rng.integers(0, 255, 3)
    a += rng.normal(0, 3, a.shape).astype(np.float32)
    return np.clip(a, 0, 255).astype(np.uint8)


def png_bomb(width: int, height: int) -> bytes:
    """A real, complete 1-bit PNG of `width`×`height` blank pixels: a few hundred KB on disk."""
    row = b"\x00" + b"\x00" * ((width + 7) // 8)
    compressor = zlib.compressobj(9)
    body = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", body)
            + chunk(b"IEND", b""))


def animated_gif(frames: int) -> bytes:
    images = [Image.new("P", (16, 16), i % 256) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "GIF", save_all=True, append_images=images[1:], duration=40, loop=0)
    return out.getvalue()


def animated_webp(frames: int) -> bytes:
    images = [Image.new("RGB", (32, 32), (i * 10 % 256, 80, 120)) for i in range(frames)]
    out = io.BytesIO()
    images[0].save(out, "WEBP", save_all=True, append_images=images[1:], duration=40)
    return out.getvalue()


def swapped_rgb_icc() -> bytes:
    """An ICC v2 RGB display profile whose red and blue primaries are swapped.

    Pure red pixels tagged with it *are* blue: converting to sRGB must turn them blue, which
    proves the conversion happened (a dropped profile would leave them red).
    """
    def s15(v: float) -> bytes:
        return struct.pack(">i", round(v * 65536))

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ " + b"\x00" * 4 + s15(x) + s15(y) + s15(z)

    def curve(gamma: float) -> bytes:
        return b"curv" + b"\x00" * 4 + struct.pack(">IH", 1, round(gamma * 256)) + b"\x00\x00"

    text = b"Swapped primaries test\x00"
    desc = (b"desc" + b"\x00" * 4 + struct.pack(">I", len(text)) + text
            + struct.pack(">II", 0, 0) + struct.pack(">HB", 0, 0) + b"\x00" * 67)
    desc += b"\x00" * (-len(desc) % 4)
    # D50-adapted sRGB primaries, with the red and blue columns exchanged.
    red, green, blue = (0.4361, 0.2225, 0.0139), (0.3851, 0.7169, 0.0971), (0.1431, 0.0606, 0.7141)
    tags = [(b"desc", desc), (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
            (b"rXYZ", xyz(*blue)), (b"gXYZ", xyz(*green)), (b"bXYZ", xyz(*red)),
            (b"rTRC", curve(2.2)), (b"gTRC", curve(2.2)), (b"bTRC", curve(2.2))]
    offset = 128 + 4 + 12 * len(tags)
    table, data = b"", b""
    for sig, body in tags:
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (struct.pack(">I", size) + b"\x00" * 4 + struct.pack(">I", 0x02100000)
              + b"mntrRGB XYZ " + b"\x00" * 12 + b"acsp" + b"\x00" * 24
              + struct.pack(">I", 0) + xyz(0.9642, 1.0, 0.8249)[8:] + b"\x00" * 4
              + b"\x00" * 16 + b"\x00" * 28)
    assert len(header) == 128
    return header + struct.pack(">I", len(tags)) + table + data
