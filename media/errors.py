"""Why a photo was refused or cannot be found; each error has a stable `code` for bot/ and api/."""

from __future__ import annotations

from gridlink.errors import InvalidInput, NotFound


class PhotoRejected(InvalidInput):
    """The upload is not a photo we accept; nothing was stored."""

    code = "photo_rejected"


class EmptyPhoto(PhotoRejected):
    code = "photo_empty"


class PhotoTooLarge(PhotoRejected):
    code = "photo_too_large"


class UnsupportedPhotoType(PhotoRejected):
    code = "photo_unsupported_type"


class PhotoTypeMismatch(PhotoRejected):
    """The bytes are one format, the content type or file name claims another."""

    code = "photo_type_mismatch"


class TooManyPixels(PhotoRejected):
    """Too many pixels: a decompression bomb or an absurdly large picture."""

    code = "photo_too_many_pixels"


class TooManyFrames(PhotoRejected):
    code = "photo_too_many_frames"


class CorruptPhoto(PhotoRejected):
    """The header looked right but the image cannot be decoded (truncated, damaged)."""

    code = "photo_corrupt"


class PhotoNotFound(NotFound):
    code = "photo_not_found"


class VariantNotStored(NotFound):
    """The photo exists but not in the requested size (originals are kept only when configured)."""

    code = "photo_variant_not_stored"
