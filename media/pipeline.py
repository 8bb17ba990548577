"""The CPU side of the photo pipeline: checks, metadata, derivatives and hashes.

Everything here is synchronous and pure (bytes in, values out); `media.service` runs it on a
worker thread. One call holds at most one decoded image, and for JPEG only at the reduced
`draft()` scale, which is what makes the pipeline cheap.
"""

from __future__ import annotations

import hashlib
import io
import math
import struct
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone, tzinfo
from typing import Any, Literal

import imagehash
import pillow_heif
from PIL import Image, ImageCms, ImageFile, JpegImagePlugin

from media.errors import (
    CorruptPhoto,
    EmptyPhoto,
    PhotoTooLarge,
    PhotoTypeMismatch,
    TooManyFrames,
    TooManyPixels,
    UnsupportedPhotoType,
)

# Thumbnails, depth maps and auxiliary images inside a HEIC are never used: don't index them.
pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)

# The hard ceiling, whatever the settings say: Pillow warns above it and refuses above twice it.
# Per-call limits (`Limits.max_pixels`) are checked separately and are usually far lower.
PIXEL_CEILING = 200_000_000
Image.MAX_IMAGE_PIXELS = PIXEL_CEILING
# A truncated file is a rejected file, never a half-grey photo.
ImageFile.LOAD_TRUNCATED_IMAGES = False
# warnings.catch_warnings swaps process-wide state; two threads interleaving it could leave
# a filter behind for good. The guarded sections (header parse, EXIF) are short.
_WARNINGS = threading.Lock()

WEB_LONG_SIDE = 1280
THUMB_LONG_SIDE = 320
WEB_QUALITY = 82
THUMB_QUALITY = 78
DERIVATIVE_MIME = "image/jpeg"

Kind = Literal["jpeg", "png", "webp", "heif"]

MIME: dict[Kind, str] = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp",
                         "heif": "image/heic"}
PILLOW_FORMAT: dict[Kind, str] = {"jpeg": "JPEG", "png": "PNG", "webp": "WEBP", "heif": "HEIF"}
LABEL: dict[str, str] = {"jpeg": "JPEG", "png": "PNG", "webp": "WebP", "heif": "HEIC/HEIF",
                         "gif": "GIF", "bmp": "BMP", "tiff": "TIFF", "avif": "AVIF",
                         "pdf": "PDF"}

CLAIMED_MIME: dict[str, Kind] = {
    "image/jpeg": "jpeg", "image/jpg": "jpeg", "image/pjpeg": "jpeg",
    "image/png": "png", "image/x-png": "png",
    "image/webp": "webp",
    "image/heic": "heif", "image/heif": "heif", "image/heic-sequence": "heif",
    "image/heif-sequence": "heif",
}
# Said by clients that do not know the type: no claim at all.
NO_CLAIM = {"", "application/octet-stream", "binary/octet-stream"}
EXTENSIONS: dict[str, Kind] = {
    "jpg": "jpeg", "jpeg": "jpeg", "jpe": "jpeg", "jfif": "jpeg",
    "png": "png", "webp": "webp", "heic": "heif", "heif": "heif", "hif": "heif",
}
OTHER_IMAGE_EXTENSIONS = {"gif", "bmp", "tif", "tiff", "avif", "svg", "ico", "pdf"}

# ISO-BMFF major/compatible brands of HEIF still images and sequences (not AVIF).
HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs",
               b"mif1", b"msf1"}

# EXIF tags (numbers rather than names: the numbers are the standard).
ORIENTATION = 0x0112
DATETIME = 0x0132
EXIF_IFD = 0x8769
GPS_IFD = 0x8825
DATETIME_ORIGINAL = 0x9003
DATETIME_DIGITIZED = 0x9004
OFFSET_TIME_ORIGINAL = 0x9011
GPS_LAT_REF, GPS_LAT, GPS_LON_REF, GPS_LON = 1, 2, 3, 4
GPS_TIMESTAMP, GPS_DATESTAMP = 7, 29

# Orientation tag → the transpose that makes the stored pixels upright (EXIF 2.32, 4.6.4).
UPRIGHT: dict[int, Image.Transpose] = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

SRGB = ImageCms.createProfile("sRGB")

# What Pillow's decoders raise on damaged input (struct.error from short EXIF/TIFF blocks).
DecodeErrors = (OSError, SyntaxError, ValueError, EOFError, IndexError, KeyError, TypeError,
                struct.error)


@dataclass(frozen=True)
class Limits:
    max_bytes: int = 20 * 1024 * 1024
    max_pixels: int = 64_000_000
    max_frames: int = 8


@dataclass(frozen=True)
class GeoPoint:
    """A WGS-84 position, as EXIF GPS records it."""

    lon: float
    lat: float

    def to_dict(self) -> dict[str, float]:
        return {"lon": self.lon, "lat": self.lat}


@dataclass(frozen=True)
class Inspection:
    """What the original says about itself, read without decoding its pixels."""

    kind: Kind
    mime: str
    width: int  # upright, after the EXIF orientation is applied
    height: int
    frames: int
    orientation: int
    gps: GeoPoint | None
    taken_at: datetime | None  # aware; naive EXIF times are read in the caller's zone


@dataclass(frozen=True)
class Derivative:
    """A stored, metadata-free JPEG rendition."""

    data: bytes
    width: int
    height: int
    sha256: str

    @property
    def etag(self) -> str:
        return f'"{self.sha256[:32]}"'


@dataclass(frozen=True)
class Processed:
    inspection: Inspection
    web: Derivative
    thumb: Derivative
    phash: str
    sha256: str  # of the original bytes


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sniff(data: bytes) -> str | None:
    """The format the bytes are in, from their magic numbers (never from what the sender says)."""
    head = data[:32]
    if head.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    if head[4:8] == b"ftyp":
        box = int.from_bytes(head[:4], "big")
        brands = {data[i:i + 4] for i in range(16, min(box, 64), 4)} | {head[8:12]}
        if b"avif" in brands or b"avis" in brands:
            return "avif"
        if brands & HEIF_BRANDS:
            return "heif"
        return None
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "gif"
    if head[:2] == b"BM":
        return "bmp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "tiff"
    if head[:5] == b"%PDF-":
        return "pdf"
    return None


def check_type(data: bytes, *, claimed_type: str | None, filename: str | None,
               limits: Limits) -> Kind:
    """Size and type checks that need no decoding; the format the bytes really are."""
    if not data:
        raise EmptyPhoto("the file is empty (0 bytes)")
    if len(data) > limits.max_bytes:
        raise PhotoTooLarge(
            f"the file is {len(data) / 1048576:.1f} MB; the limit is "
            f"{limits.max_bytes / 1048576:.0f} MB", bytes=len(data), limit=limits.max_bytes)
    found = sniff(data)
    if found not in PILLOW_FORMAT:
        what = f"a {LABEL[found]} file" if found else "not an image we recognise"
        raise UnsupportedPhotoType(f"this is {what}; send a JPEG, PNG, WebP or HEIC photo",
                                   detected=found)
    kind: Kind = found  # type: ignore[assignment]
    claim = (claimed_type or "").split(";")[0].strip().lower()
    if claim not in NO_CLAIM:
        claimed = CLAIMED_MIME.get(claim)
        if claimed is None:
            raise UnsupportedPhotoType(f"content type {claim!r} is not accepted; send a JPEG, "
                                       f"PNG, WebP or HEIC photo", claimed=claim)
        if claimed != kind:
            raise PhotoTypeMismatch(f"the file is a {LABEL[kind]} image but was sent as {claim}",
                                    detected=kind, claimed=claim)
    ext = filename.rsplit(".", 1)[-1].lower() if filename and "." in filename else ""
    if (ext in EXTENSIONS and EXTENSIONS[ext] != kind) or ext in OTHER_IMAGE_EXTENSIONS:
        raise PhotoTypeMismatch(f"the file is a {LABEL[kind]} image but is named {filename!r}",
                                detected=kind, filename=filename)
    return kind


def _open(data: bytes, kind: Kind, limits: Limits) -> ImageFile.ImageFile:
    """Open (header only) and check pixels and frames before anything is decoded."""
    try:
        # Pillow's bomb guard warns between the ceiling and twice it: that is a refusal here.
        # Its other warnings at open (a malformed MPO index, damaged EXIF) are no reason to
        # refuse a photo, and must not surface as errors where warnings are errors.
        with _WARNINGS, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(io.BytesIO(data), formats=[PILLOW_FORMAT[kind]])
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise TooManyPixels(f"the image has too many pixels ({exc})") from None
    except DecodeErrors as exc:
        raise CorruptPhoto(f"the {LABEL[kind]} file cannot be read: {exc}") from None
    width, height = img.size
    if width <= 0 or height <= 0:
        raise CorruptPhoto("the image has no pixels")
    if width * height > limits.max_pixels:
        raise TooManyPixels(
            f"the image is {width}×{height} = {width * height / 1e6:.0f} megapixels; the limit "
            f"is {limits.max_pixels / 1e6:.0f}", width=width, height=height)
    try:
        frames = int(getattr(img, "n_frames", 1))
    except DecodeErrors as exc:
        raise CorruptPhoto(f"the {LABEL[kind]} file cannot be read: {exc}") from None
    if frames > limits.max_frames:
        raise TooManyFrames(f"the image has {frames} frames; at most {limits.max_frames} "
                            f"are accepted (send a still photo)", frames=frames)
    return img


def inspect(data: bytes, *, claimed_type: str | None, filename: str | None, limits: Limits,
            tz: tzinfo) -> Inspection:
    """Every check that needs no pixel decoding, and the metadata the caller gets back."""
    kind = check_type(data, claimed_type=claimed_type, filename=filename, limits=limits)
    with _open(data, kind, limits) as img:
        return _inspection(img, kind, tz)


def _inspection(img: ImageFile.ImageFile, kind: Kind, tz: tzinfo) -> Inspection:
    exif = _exif(img)
    orientation = exif.get(ORIENTATION, 1) if exif is not None else 1
    if not isinstance(orientation, int) or orientation not in range(1, 9):
        orientation = 1
    width, height = img.size
    if orientation >= 5:
        width, height = height, width
    return Inspection(
        kind=kind, mime=MIME[kind], width=width, height=height,
        frames=int(getattr(img, "n_frames", 1)), orientation=orientation,
        gps=_gps(exif), taken_at=_taken_at(exif, tz))


def process(data: bytes, *, claimed_type: str | None, filename: str | None, limits: Limits,
            tz: tzinfo) -> Processed:
    """The whole pipeline: check, read metadata, decode small, make derivatives, hash.

    Hashing the original and encoding the web copy run on a helper thread beside the decode and
    the thumbnail (hashlib and Pillow's codecs release the GIL), which hides their cost.
    """
    kind = check_type(data, claimed_type=claimed_type, filename=filename, limits=limits)
    digest = _helpers().submit(content_hash, data)
    try:
        with _open(data, kind, limits) as img:
            facts = _inspection(img, kind, tz)
            web_img = _web_image(img, facts.orientation)
        web = _helpers().submit(_encode, web_img, WEB_QUALITY)
        thumb_img = _fit(web_img, THUMB_LONG_SIDE)
        thumb = _encode(thumb_img, THUMB_QUALITY)
        phash = str(imagehash.phash(thumb_img))
        return Processed(inspection=facts, web=web.result(), thumb=thumb, phash=phash,
                         sha256=digest.result())
    finally:
        digest.cancel()


_helper_pool: ThreadPoolExecutor | None = None
_helper_lock = threading.Lock()


def _helpers() -> ThreadPoolExecutor:
    """Threads for the side tasks of `process` (created on first use, shared by all calls)."""
    global _helper_pool
    with _helper_lock:
        if _helper_pool is None:
            _helper_pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="media-helper")
        return _helper_pool


def _web_image(img: ImageFile.ImageFile, orientation: int) -> Image.Image:
    """Decode (JPEG: at the smallest draft scale still ≥ the web size), shrink, colour, rotate."""
    width, height = img.size
    scale = min(1.0, WEB_LONG_SIDE / max(width, height))
    if isinstance(img, JpegImagePlugin.JpegImageFile) and scale < 1.0:  # JPEG and MPO
        # draft() picks a DCT scale (1/2, 1/4, 1/8) so both sides stay ≥ the requested box.
        img.draft("RGB", (math.ceil(width * scale), math.ceil(height * scale)))
    icc = img.info.get("icc_profile")
    try:
        img.load()
        small = _fit(_resizable(img), WEB_LONG_SIDE)
    except Image.DecompressionBombError as exc:
        raise TooManyPixels(f"the image has too many pixels ({exc})") from None
    except DecodeErrors as exc:
        raise CorruptPhoto(f"the {img.format or 'image'} data is damaged or truncated: {exc}") \
            from None
    small = _to_srgb(small, icc)
    if orientation in UPRIGHT:
        # Rotate the small image: a 1280 px transpose costs a fraction of a 12 MP one.
        small = small.transpose(UPRIGHT[orientation])
    return small


def _resizable(img: Image.Image) -> Image.Image:
    """A mode Pillow can resample well: palettes and bilevel become RGB(A), 16-bit becomes 8."""
    if img.mode in ("RGB", "RGBA", "L", "LA", "CMYK"):
        return img
    if img.mode in ("P", "PA", "1"):
        has_alpha = img.mode == "PA" or "transparency" in img.info
        return img.convert("RGBA" if has_alpha else "RGB")
    if img.mode.startswith("I;16") or img.mode in ("I", "F"):
        return img.convert("I").point(lambda v: v * (1 / 256)).convert("L")
    return img.convert("RGB")


def _fit(img: Image.Image, long_side: int) -> Image.Image:
    """Shrink so the longer side is `long_side` (never enlarge)."""
    width, height = img.size
    scale = long_side / max(width, height)
    if scale >= 1.0:
        return img
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # BOX is area averaging: the right filter for shrinking, and 3-4× cheaper than LANCZOS (the
    # draft decode has already low-passed JPEGs). reducing_gap=1 takes whole-number factors with
    # reduce(), which is cheaper still (1280 → 320 is exactly ÷4).
    return img.resize(size, Image.Resampling.BOX, reducing_gap=1.0)


def _to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """Pixels in sRGB RGB, alpha flattened on white; the embedded profile is not carried on."""
    if icc and not _is_srgb(icc):
        try:
            src = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            out_mode = "RGBA" if img.mode in ("RGBA", "LA") else "RGB"
            if img.mode == "LA":
                img = img.convert("RGBA")
            converted = ImageCms.profileToProfile(img, src, SRGB, outputMode=out_mode)
            if converted is not None:
                img = converted
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # an unusable profile: fall back to treating the pixels as sRGB
    if img.mode in ("RGBA", "LA"):
        rgba = img.convert("RGBA")
        flat = Image.new("RGB", rgba.size, (255, 255, 255))
        flat.paste(rgba, mask=rgba.getchannel("A"))
        return flat
    return img if img.mode == "RGB" else img.convert("RGB")


def _is_srgb(icc: bytes) -> bool:
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        description = ImageCms.getProfileDescription(profile)
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return True  # unreadable: nothing to convert from
    return "srgb" in description.lower()


def _encode(img: Image.Image, quality: int) -> Derivative:
    """A baseline JPEG with no metadata: a fresh image object, so no `info` is carried over."""
    clean = img if img.mode == "RGB" else img.convert("RGB")
    clean.info = {}
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=quality)
    data = out.getvalue()
    return Derivative(data=data, width=clean.width, height=clean.height,
                      sha256=hashlib.sha256(data).hexdigest())


def _exif(img: Image.Image) -> Image.Exif | None:
    # Damaged EXIF is no reason to refuse a photo: it just has no (or less) metadata. Pillow
    # warns about it; those warnings are silenced rather than raised where warnings are errors.
    try:
        with _WARNINGS, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            exif = img.getexif()
    except DecodeErrors:
        return None
    return exif if len(exif) else None


def _ifd(exif: Image.Exif, tag: int) -> dict[int, Any]:
    try:
        with _WARNINGS, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return dict(exif.get_ifd(tag))
    except DecodeErrors:
        return {}


def _gps(exif: Image.Exif | None) -> GeoPoint | None:
    if exif is None:
        return None
    gps = _ifd(exif, GPS_IFD)
    lat = _degrees(gps.get(GPS_LAT), gps.get(GPS_LAT_REF), "S")
    lon = _degrees(gps.get(GPS_LON), gps.get(GPS_LON_REF), "W")
    if lat is None or lon is None or not (-90 <= lat <= 90) or not (-180 <= lon <= 180):
        return None
    if lat == 0 and lon == 0:
        return None  # what cameras write when they had no fix
    return GeoPoint(lon=round(lon, 7), lat=round(lat, 7))


def _degrees(value: Any, ref: Any, negative: str) -> float | None:
    try:
        if isinstance(value, tuple | list):
            parts = [float(v) for v in value] + [0.0, 0.0]
            degrees = parts[0] + parts[1] / 60 + parts[2] / 3600
        else:
            degrees = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not math.isfinite(degrees):
        return None
    if isinstance(ref, bytes):
        ref = ref.decode("ascii", "replace")
    if isinstance(ref, str) and ref.strip().upper().startswith(negative):
        degrees = -degrees
    return degrees


def _taken_at(exif: Image.Exif | None, tz: tzinfo) -> datetime | None:
    """Capture time: DateTimeOriginal (with its offset when given), else GPS UTC, else DateTime."""
    if exif is None:
        return None
    sub = _ifd(exif, EXIF_IFD)
    local = _exif_time(sub.get(DATETIME_ORIGINAL)) or _exif_time(sub.get(DATETIME_DIGITIZED))
    if local is not None:
        offset = _offset(sub.get(OFFSET_TIME_ORIGINAL))
        return local.replace(tzinfo=offset or tz).astimezone(UTC)
    gps_time = _gps_time(_ifd(exif, GPS_IFD))
    if gps_time is not None:
        return gps_time
    fallback = _exif_time(exif.get(DATETIME))
    return fallback.replace(tzinfo=tz).astimezone(UTC) if fallback else None


def _exif_time(value: Any) -> datetime | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    try:
        return datetime.strptime(value.strip("\x00 ")[:19], "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None  # blank ("    :  :  ") or zero dates mean "unknown"


def _offset(value: Any) -> timezone | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    text = value.strip("\x00 ")
    if len(text) != 6 or text[0] not in "+-" or text[3] != ":":
        return None
    try:
        minutes = int(text[1:3]) * 60 + int(text[4:6])
    except ValueError:
        return None
    if minutes > 14 * 60:
        return None
    return timezone(timedelta(minutes=minutes if text[0] == "+" else -minutes))


def _gps_time(gps: dict[int, Any]) -> datetime | None:
    date, hms = gps.get(GPS_DATESTAMP), gps.get(GPS_TIMESTAMP)
    day = _exif_time(f"{date} 00:00:00") if isinstance(date, str) else None
    if day is None or not isinstance(hms, tuple | list) or len(hms) != 3:
        return None
    try:
        seconds = float(hms[0]) * 3600 + float(hms[1]) * 60 + float(hms[2])
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    if not math.isfinite(seconds) or not 0 <= seconds < 86_400:
        return None
    return (day + timedelta(seconds=seconds)).replace(tzinfo=UTC)
