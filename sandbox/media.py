"""Photo handling as Telegram does it: a compressed photo becomes several re-encoded JPEG sizes.

Telegram re-encodes compressed photos (which drops EXIF, GPS included) and offers them in
a few sizes; a photo sent "as a file" is a document kept byte for byte.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

try:  # phones send HEIC; Telegram clients convert it, so the sandbox accepts it too
    from pillow_heif import register_heif_opener

    register_heif_opener()
except ImportError:  # pragma: no cover - pillow-heif is a project dependency
    pass

# Longest side of each size Telegram keeps (s, m, x, y), capped at the original's size.
PHOTO_SIDES = (90, 320, 800, 1280)


class ImageError(Exception):
    """Bytes that are not an image Pillow can decode."""


@dataclass(frozen=True)
class PhotoVariant:
    data: bytes
    width: int
    height: int


def photo_variants(data: bytes) -> list[PhotoVariant]:
    """Re-encoded JPEG sizes of an image, smallest first (the last one is the biggest)."""
    try:
        with Image.open(io.BytesIO(data)) as original:
            original.draft("RGB", (PHOTO_SIDES[-1], PHOTO_SIDES[-1]))
            image = ImageOps.exif_transpose(original).convert("RGB")
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as exc:
        raise ImageError(str(exc)) from exc
    variants: list[PhotoVariant] = []
    longest = max(image.size)
    for side in PHOTO_SIDES:
        scaled = image.copy()
        scaled.thumbnail((min(side, longest), min(side, longest)))
        buffer = io.BytesIO()
        scaled.save(buffer, "JPEG", quality=87)
        variants.append(PhotoVariant(buffer.getvalue(), scaled.width, scaled.height))
        if side >= longest:
            break
    return variants


def image_size(data: bytes) -> tuple[int, int] | None:
    """Width and height of an image, or None when the bytes are not one."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (UnidentifiedImageError, OSError, ValueError):
        return None
