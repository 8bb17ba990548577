"""The CPU side of the photo pipeline, on photos generated here (no database)."""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from PIL import Image, ImageOps

from media import errors, pipeline
from media.pipeline import Limits
from tests.media import images as I

SHANGHAI = ZoneInfo("Asia/Shanghai")


def run(data: bytes, *, claimed: str | None = None, filename: str | None = None,
        limits: Limits | None = None) -> pipeline.Processed:
    return pipeline.process(data, claimed_type=claimed, filename=filename,
                            limits=limits or Limits(), tz=SHANGHAI)


def assert_clean(data: bytes) -> None:
    """A derivative that is a plain JPEG without any metadata block."""
    assert data.startswith(b"\xff\xd8\xff")
    assert b"Exif" not in data
    assert b"http://ns.adobe.com/xap" not in data
    assert b"ICC_PROFILE" not in data
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG"
        assert len(img.getexif()) == 0
        assert "icc_profile" not in img.info and "xmp" not in img.info and "exif" not in img.info


@pytest.mark.parametrize(("fmt", "mime", "filename"), [
    ("JPEG", "image/jpeg", "IMG_0001.JPG"),
    ("PNG", "image/png", "screen.png"),
    ("WEBP", "image/webp", "photo.webp"),
    ("HEIF", "image/heic", "IMG_0002.HEIC"),
])
def test_each_format_accepted(fmt: str, mime: str, filename: str) -> None:
    pixels = I.scene(400, 300)
    data = I.encode(pixels, fmt, **({"quality": 90} if fmt == "HEIF" else {}))
    result = run(data, claimed=mime, filename=filename)
    facts = result.inspection
    assert facts.mime == mime and (facts.width, facts.height) == (400, 300)
    assert (result.web.width, result.web.height) == (400, 300)  # never enlarged
    assert (result.thumb.width, result.thumb.height) == (320, 240)
    assert_clean(result.web.data)
    assert_clean(result.thumb.data)
    # The derivative shows the same picture (colour at a few points within JPEG tolerance).
    with Image.open(io.BytesIO(result.web.data)) as web:
        got = np.asarray(web.convert("RGB"), dtype=int)
    assert np.abs(got - pixels.astype(int)).mean() < 8


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("size", [(96, 64), (2600, 1800)], ids=["small", "draft-decoded"])
def test_exif_orientation_comes_out_upright(orientation: int, size: tuple[int, int]) -> None:
    upright = I.quadrants(*size)
    stored = I.stored_for(upright, orientation)
    data = I.encode(stored, "JPEG", exif=I.exif_block(orientation=orientation).tobytes())
    # The test's own model of the tag agrees with Pillow's reference transpose.
    reference = I.quadrant_colours(ImageOps.exif_transpose(Image.open(io.BytesIO(data))))
    expected = (I.TOP_LEFT, I.TOP_RIGHT, I.BOTTOM_LEFT, I.BOTTOM_RIGHT)
    assert all(I.close(c, e) for c, e in zip(reference, expected, strict=True))

    result = run(data, claimed="image/jpeg")

    long_side = min(max(size), pipeline.WEB_LONG_SIDE)
    assert (result.inspection.width, result.inspection.height) == size
    assert max(result.web.width, result.web.height) == long_side
    assert result.web.width > result.web.height  # landscape again
    for derivative in (result.web, result.thumb):
        with Image.open(io.BytesIO(derivative.data)) as img:
            colours = I.quadrant_colours(img)
        assert all(I.close(c, e) for c, e in zip(colours, expected, strict=True)), colours
        assert_clean(derivative.data)


@pytest.mark.parametrize("fmt", ["PNG", "WEBP"])
@pytest.mark.parametrize("orientation", [3, 6, 8])
def test_orientation_of_png_and_webp_applied(fmt: str, orientation: int) -> None:
    upright = I.quadrants(120, 80)
    data = I.encode(I.stored_for(upright, orientation), fmt,
                    exif=I.exif_block(orientation=orientation).tobytes())
    result = run(data)
    with Image.open(io.BytesIO(result.web.data)) as img:
        assert img.size == (120, 80)
        colours = I.quadrant_colours(img)
    assert I.close(colours[0], I.TOP_LEFT) and I.close(colours[3], I.BOTTOM_RIGHT)


def test_gps_and_capture_time_extracted() -> None:
    exif = I.exif_block(lat=31.2313333, lon=121.4751667, taken="2026:11:27 09:41:07",
                        offset="+08:00")
    result = run(I.encode(I.scene(320, 240), "JPEG", exif=exif.tobytes()))
    gps = result.inspection.gps
    assert gps is not None
    assert gps.lat == pytest.approx(31.2313333, abs=1e-6)
    assert gps.lon == pytest.approx(121.4751667, abs=1e-6)
    assert result.inspection.taken_at == datetime(2026, 11, 27, 1, 41, 7, tzinfo=UTC)


def test_southern_western_gps_and_time_without_offset_in_local_zone() -> None:
    exif = I.exif_block(lat=-33.8567, lon=-70.6483, taken="2026:03:01 12:00:00")
    facts = pipeline.inspect(I.encode(I.scene(64, 48), "JPEG", exif=exif.tobytes()),
                             claimed_type=None, filename=None, limits=Limits(),
                             tz=ZoneInfo("America/Santiago"))
    assert facts.gps is not None
    assert (facts.gps.lat, facts.gps.lon) == (pytest.approx(-33.8567, abs=1e-5),
                                              pytest.approx(-70.6483, abs=1e-5))
    # Naive EXIF time read in the given zone (Santiago is UTC-3 in March).
    assert facts.taken_at == datetime(2026, 3, 1, 15, 0, 0, tzinfo=UTC)


def test_gps_extracted_from_heic() -> None:
    exif = I.exif_block(lat=31.2, lon=121.5, taken="2026:11:27 08:00:00", offset="+08:00")
    data = I.encode(I.scene(320, 240), "HEIF", exif=exif.tobytes(), quality=80)
    facts = run(data, claimed="image/heic").inspection
    assert facts.gps is not None and facts.gps.lat == pytest.approx(31.2, abs=1e-5)
    assert facts.taken_at == datetime(2026, 11, 27, 0, 0, 0, tzinfo=UTC)


def test_photo_without_metadata_has_no_gps_or_time() -> None:
    facts = run(I.encode(I.scene(64, 48), "PNG")).inspection
    assert facts.gps is None and facts.taken_at is None and facts.orientation == 1


def test_no_derivative_keeps_exif_gps_xmp_or_icc() -> None:
    exif = I.exif_block(orientation=1, lat=31.2, lon=121.5, taken="2026:11:27 09:41:07")
    original = I.encode(I.scene(700, 500), "JPEG", exif=exif.tobytes(), xmp=I.XMP,
                        icc_profile=I.swapped_rgb_icc())
    assert b"Exif" in original and b"http://ns.adobe.com/xap" in original  # the test's premise
    result = run(original)
    assert result.inspection.gps is not None
    assert_clean(result.web.data)
    assert_clean(result.thumb.data)


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_icc_profile_is_converted_to_srgb_before_it_is_dropped(fmt: str) -> None:
    red = Image.new("RGB", (200, 100), (255, 0, 0))  # red in a profile whose "red" is blue
    result = run(I.encode(red, fmt, icc_profile=I.swapped_rgb_icc()))
    with Image.open(io.BytesIO(result.web.data)) as img:
        r, g, b = img.convert("RGB").getpixel((100, 50))  # type: ignore[misc]
    assert b > 200 and r < 40 and g < 40
    assert_clean(result.web.data)


def test_transparent_png_flattened_on_white() -> None:
    img = Image.new("RGBA", (100, 100), (0, 0, 0, 0))
    img.paste((200, 0, 0, 255), (0, 0, 50, 100))
    result = run(I.encode(img, "PNG"))
    with Image.open(io.BytesIO(result.web.data)) as web:
        assert I.close(web.getpixel((75, 50)), (255, 255, 255))  # type: ignore[arg-type]
        assert I.close(web.getpixel((25, 50)), (200, 0, 0))  # type: ignore[arg-type]


def test_hashes() -> None:
    data = I.encode(I.scene(800, 600), "JPEG")
    result = run(data)
    assert result.sha256 == pipeline.content_hash(data) and len(result.sha256) == 64
    assert len(result.phash) == 16 and int(result.phash, 16) >= 0


# --- rejections ---------------------------------------------------------------------------

def truncated_jpeg() -> bytes:
    data = I.encode(I.scene(800, 600), "JPEG")
    return data[: len(data) // 2]


REJECTIONS: dict[str, Callable[[], tuple[bytes, str | None, str | None, type[Exception]]]] = {
    "zero-byte": lambda: (b"", None, None, errors.EmptyPhoto),
    "40 MB": lambda: (b"\xff\xd8\xff\xe0" + bytes(40 * 1024 * 1024), "image/jpeg", "big.jpg",
              errors.PhotoTooLarge),
    "png renamed jpg": lambda: (I.encode(I.scene(64, 48), "PNG"), "image/jpeg", "photo.jpg",
                        errors.PhotoTypeMismatch),
    "png with jpeg content type": lambda: (I.encode(I.scene(64, 48), "PNG"), "image/jpeg", None,
                                   errors.PhotoTypeMismatch),
    "jpeg named png": lambda: (I.encode(I.scene(64, 48), "JPEG"), None, "x.png",
                       errors.PhotoTypeMismatch),
    "gif, 1000 frames": lambda: (I.animated_gif(1000), "image/gif", "anim.gif",
                         errors.UnsupportedPhotoType),
    "gif claimed jpeg": lambda: (I.animated_gif(3), "image/jpeg", "anim.jpg",
                         errors.UnsupportedPhotoType),
    "animated webp": lambda: (I.animated_webp(20), "image/webp", None, errors.TooManyFrames),
    "pdf": lambda: (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<<>>\nendobj\n", "application/pdf", None,
            errors.UnsupportedPhotoType),
    "text claimed jpeg": lambda: (b"hello, this is not a photo", "image/jpeg", None,
                          errors.UnsupportedPhotoType),
    "truncated jpeg": lambda: (truncated_jpeg(), "image/jpeg", None, errors.CorruptPhoto),
    "jpeg header only": lambda: (b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01", None, None,
                         errors.CorruptPhoto),
    "bomb > 2x ceiling": lambda: (I.png_bomb(25_000, 20_000), "image/png", None, errors.TooManyPixels),
    "bomb in warning band": lambda: (I.png_bomb(15_000, 15_000), "image/png", None,
                             errors.TooManyPixels),
    "over the configured limit": lambda: (I.png_bomb(9_000, 9_000), None, None, errors.TooManyPixels),
}


@pytest.mark.parametrize("case", list(REJECTIONS), ids=list(REJECTIONS))
def test_rejected_with_a_reason(case: str) -> None:
    data, claimed, filename, error = REJECTIONS[case]()
    with pytest.raises(error) as caught:
        run(data, claimed=claimed, filename=filename)
    exc = caught.value
    assert isinstance(exc, errors.PhotoRejected)
    assert exc.code.startswith("photo_") and exc.code != "photo_rejected"
    assert len(exc.message) > 10


def test_bomb_warning_is_a_rejection_even_where_warnings_are_ignored() -> None:
    """Outside pytest, Pillow's DecompressionBombWarning is only printed; the pipeline must
    still refuse the image."""
    assert 15_000 ** 2 > Image.MAX_IMAGE_PIXELS  # in Pillow's warning band
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(errors.TooManyPixels):
            run(I.png_bomb(15_000, 15_000), limits=Limits(max_pixels=pipeline.PIXEL_CEILING))


def test_limits_are_configurable() -> None:
    data = I.encode(I.scene(400, 300), "JPEG")
    with pytest.raises(errors.TooManyPixels):
        run(data, limits=Limits(max_pixels=100_000))
    with pytest.raises(errors.PhotoTooLarge):
        run(data, limits=Limits(max_bytes=len(data) - 1))
    with pytest.raises(errors.TooManyFrames):
        run(I.animated_webp(3), limits=Limits(max_frames=2))
    assert run(I.animated_webp(3), limits=Limits(max_frames=3)).web.width == 32


def test_unknown_content_type_is_no_claim() -> None:
    data = I.encode(I.scene(64, 48), "WEBP")
    assert run(data, claimed="application/octet-stream", filename="upload").inspection.kind \
        == "webp"


def _mpo() -> bytes:
    # Big enough that the draft (reduced-scale) decode applies to the MPO's first image too.
    first = Image.fromarray(I.quadrants(2600, 1800))
    second = Image.fromarray(I.quadrants(800, 600))
    out = io.BytesIO()
    first.save(out, "MPO", save_all=True, append_images=[second])
    return out.getvalue()


@pytest.mark.parametrize("make", [
    lambda: I.encode(Image.new("CMYK", (300, 200), (0, 255, 255, 0)), "JPEG"),
    lambda: I.encode(Image.new("L", (300, 200), 128), "JPEG"),
    lambda: I.encode(Image.new("I;16", (300, 200), 40_000), "PNG"),
    lambda: I.encode(Image.new("RGB", (300, 200), (10, 200, 30)).convert("P"), "PNG"),
    lambda: I.encode(Image.new("LA", (300, 200), (90, 255)), "PNG"),
    _mpo,
], ids=["cmyk-jpeg", "grey-jpeg", "16-bit-png", "palette-png", "grey-alpha-png", "mpo"])
def test_other_pixel_layouts_become_rgb_jpegs(make: Callable[[], bytes]) -> None:
    result = run(make())
    for derivative in (result.web, result.thumb):
        with Image.open(io.BytesIO(derivative.data)) as img:
            assert img.format == "JPEG" and img.mode == "RGB"
        assert_clean(derivative.data)


def test_cmyk_colour_survives() -> None:
    # Cyan ink at 0 and full magenta + yellow: red.
    result = run(I.encode(Image.new("CMYK", (64, 64), (0, 255, 255, 0)), "JPEG"))
    with Image.open(io.BytesIO(result.web.data)) as img:
        r, g, b = img.getpixel((32, 32))  # type: ignore[misc]
    assert r > 200 and g < 60 and b < 60


def test_damaged_exif_is_ignored_not_fatal() -> None:
    """Pillow warns about broken EXIF (an error under pytest); the photo is still accepted."""
    ok = I.exif_block(orientation=6, lat=31.2, lon=121.5, taken="2026:11:27 09:41:07").tobytes()
    damaged = ok[:-40]  # the GPS and Exif sub-IFDs point past the end
    data = I.encode(I.quadrants(96, 64), "JPEG", exif=damaged)
    with Image.open(io.BytesIO(data)) as img, pytest.warns(UserWarning):
        img.getexif().get_ifd(0x8825)  # the premise: Pillow does warn about this block
    result = run(data)
    assert result.inspection.gps is None
    assert_clean(result.web.data)
