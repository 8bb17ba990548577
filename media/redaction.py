"""Redacting a photo: blur rectangles (a face, a number plate) into a new, separate photo.

The redacted copy is made from the stored web rendition (already upright, sRGB and free of
metadata) and stored like any photo (web and thumb renditions, no original), under its own
random id; the original is never changed, so staff keep it. Which of the two the public sees is
the case's business (`cases.moderation`, `cases.visibility`).

A box is `(x, y, w, h)` in fractions of the image's width and height (0–1), so the desk's
picker can draw on any size of the picture. Each box is pixelated, then blurred: a Gaussian blur
alone of a small radius can be partly undone, a coarse mosaic cannot.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import math
from collections.abc import Sequence
from datetime import datetime

import imagehash
from PIL import Image, ImageFilter

from gridlink.db import Database
from gridlink.errors import InvalidInput
from media import pipeline, repository
from media.errors import PhotoNotFound
from media.pipeline import Inspection, Processed
from media.service import IngestResult, Workers, store

Box = tuple[float, float, float, float]
MAX_BOXES = 20
# Mosaic cells across the box's shorter side, and the blur over them (in cells).
CELLS = 6
BLUR_CELLS = 0.75


class BadBoxes(InvalidInput):
    """The rectangles are not usable (outside the picture, empty, too many): 400."""

    code = "invalid_boxes"


def check_boxes(boxes: Sequence[Sequence[float]]) -> list[Box]:
    """Validated boxes, clipped to the picture; BadBoxes when unusable."""
    if not boxes:
        raise BadBoxes("choose at least one rectangle to blur", field="boxes")
    if len(boxes) > MAX_BOXES:
        raise BadBoxes(f"at most {MAX_BOXES} rectangles", field="boxes")
    out: list[Box] = []
    for box in boxes:
        if not isinstance(box, list | tuple) or len(box) != 4 or not all(isinstance(v, int | float) and math.isfinite(v) for v in box):
            raise BadBoxes("a rectangle is four numbers: x, y, width, height (fractions 0–1)",
                           field="boxes")
        x, y, w, h = (float(v) for v in box)
        x0, y0 = max(0.0, x), max(0.0, y)
        x1, y1 = min(1.0, x + w), min(1.0, y + h)
        if x1 - x0 <= 0.001 or y1 - y0 <= 0.001:
            raise BadBoxes("a rectangle lies outside the picture or has no area", field="boxes")
        out.append((x0, y0, x1 - x0, y1 - y0))
    return out


def _pixel_box(box: Box, size: tuple[int, int]) -> tuple[int, int, int, int]:
    width, height = size
    x, y, w, h = box
    left, top = math.floor(x * width), math.floor(y * height)
    right, bottom = max(left + 1, math.ceil((x + w) * width)), max(top + 1, math.ceil((y + h) * height))
    return left, top, min(width, right), min(height, bottom)


def blur(img: Image.Image, boxes: Sequence[Box]) -> Image.Image:
    """A copy of the image with each box mosaicked and blurred."""
    out = img.convert("RGB").copy()
    for box in boxes:
        left, top, right, bottom = _pixel_box(box, out.size)
        region = out.crop((left, top, right, bottom))
        w, h = region.size
        cell = max(2, math.ceil(min(w, h) / CELLS))
        small = region.resize((max(1, math.ceil(w / cell)), max(1, math.ceil(h / cell))),
                              Image.Resampling.BOX)
        mosaic = small.resize((w, h), Image.Resampling.NEAREST)
        out.paste(mosaic.filter(ImageFilter.GaussianBlur(cell * BLUR_CELLS)), (left, top))
    return out


def redact_bytes(web: bytes, boxes: Sequence[Box]) -> Processed:
    """The redacted copy of a web rendition, as the pipeline's `Processed` (for `store`)."""
    with Image.open(io.BytesIO(web)) as img:
        img.load()
        redacted = blur(img, boxes)
    web_copy = pipeline._encode(redacted, pipeline.WEB_QUALITY)
    thumb_img = pipeline._fit(redacted, pipeline.THUMB_LONG_SIDE)
    thumb = pipeline._encode(thumb_img, pipeline.THUMB_QUALITY)
    facts = Inspection(kind="jpeg", mime=pipeline.DERIVATIVE_MIME, width=redacted.width,
                       height=redacted.height, frames=1, orientation=1, gps=None, taken_at=None)
    return Processed(inspection=facts, web=web_copy, thumb=thumb,
                     phash=str(imagehash.phash(thumb_img)),
                     sha256=hashlib.sha256(web_copy.data).hexdigest())


async def redact(db: Database, *, photo_id: str, boxes: Sequence[Sequence[float]], uploader: str,
                 now: datetime, workers: Workers | None = None) -> IngestResult:
    """Store the redacted copy of a stored photo; returns the copy (its own id). The same boxes
    on the same photo give the same copy (stored once)."""
    clean = check_boxes(boxes)
    photo = await repository.get(db, photo_id=photo_id)
    if "web" not in (photo.get("variants") or {}):
        raise PhotoNotFound(f"photo {photo_id!r} has no picture to redact", photo_id=photo_id)
    web = await repository.read(db, photo=photo, variant="web")
    processed = await (workers.run(redact_bytes, web, clean) if workers is not None
                       else asyncio.to_thread(redact_bytes, web, clean))
    return await store(db, processed=processed, data=processed.web.data, uploader=uploader,
                       case_id=None, keep_original=False, now=now)

