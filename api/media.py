"""Photo upload and download: `POST /api/v1/media`, `GET /api/v1/media/{id}?size=web|thumb`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from api.auth import require
from api.keys import CLOCK, DB, PHOTO_WORKERS, SETTINGS
from gridlink.errors import InvalidInput
from media import service
from media.errors import PhotoTooLarge

# Photos behind a public case may be cached anywhere for an hour (a case can be unpublished);
# staff-only ones only in the caller's own cache. The bytes behind an ETag never change.
PUBLIC_CACHE = "public, max-age=3600"
PRIVATE_CACHE = "private, max-age=3600"


async def photo_workers_ctx(app: web.Application) -> AsyncIterator[None]:
    """The bounded thread pool that decodes photos, for the app's lifetime."""
    workers = service.Workers(app[SETTINGS].photo_workers)
    app[PHOTO_WORKERS] = workers
    yield
    workers.close()


def _etag_matches(header: str, etag: str) -> bool:
    candidates = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in candidates or etag in candidates


async def get_photo(request: web.Request) -> web.StreamResponse:
    db = request.app[DB]
    photo_id = request.match_info["photo_id"]
    size = service.parse_size(request.query.get("size"))
    # Access first, so strangers learn nothing about what exists. Originals carry the
    # reporter's GPS: staff only, whatever the case says.
    public = size != "original" and await service.is_public(db, photo_id=photo_id)
    if not public:
        await require(request)
    rendition = await service.rendition(db, photo_id=photo_id, size=size)
    headers = {
        "ETag": rendition.etag,
        "Cache-Control": PUBLIC_CACHE if public else PRIVATE_CACHE,
        "Vary": "Authorization",
        "X-Content-Type-Options": "nosniff",
    }
    if _etag_matches(request.headers.get("If-None-Match", ""), rendition.etag):
        return web.Response(status=304, headers=headers)
    body = await rendition.read(db)
    return web.Response(body=body, content_type=rendition.content_type, headers=headers)


async def _read_limited(part: BodyPartReader, limit: int) -> bytes:
    """The part's bytes, refusing as soon as they pass `limit` (never buffering a huge upload)."""
    chunks = bytearray()
    while chunk := await part.read_chunk(256 * 1024):
        chunks += chunk
        if len(chunks) > limit:
            raise PhotoTooLarge(f"the file is larger than the limit of {limit / 1048576:.0f} MB",
                                limit=limit)
    return bytes(chunks)


async def _next_part(reader: MultipartReader) -> Any:
    """The next part; broken part headers are a 400, not aiohttp's bare text answer."""
    try:
        return await reader.next()
    except (ValueError, HttpProcessingError):
        raise InvalidInput("the multipart/form-data body cannot be read") from None


async def upload_photo(request: web.Request) -> web.Response:
    """Multipart form: the file in field `photo`, optionally `case_id`. Any staff role."""
    principal = await require(request)
    settings = request.app[SETTINGS]
    if request.content_type != "multipart/form-data":
        raise InvalidInput("send the photo as multipart/form-data in the field 'photo'")
    data: bytes | None = None
    content_type: str | None = None
    filename: str | None = None
    case_id: str | None = None
    try:
        reader = await request.multipart()
    except ValueError:  # multipart/form-data without a boundary: the client's error, not ours
        raise InvalidInput("the multipart/form-data body has no boundary") from None
    while (part := await _next_part(reader)) is not None:
        if not isinstance(part, BodyPartReader):
            raise InvalidInput("nested multipart bodies are not accepted")
        if part.name == "photo":
            if data is not None:
                raise InvalidInput("send one photo per request")
            data = await _read_limited(part, settings.photo_max_bytes)
            content_type = part.headers.get("Content-Type")
            filename = part.filename
        elif part.name == "case_id":
            case_id = (await part.text()).strip() or None
        else:
            raise InvalidInput(f"unexpected form field {part.name!r}; send 'photo' "
                               f"(and optionally 'case_id')")
    if data is None:
        raise InvalidInput("the form has no 'photo' field")
    result = await service.ingest(
        request.app[DB], data=data, content_type=content_type, filename=filename,
        uploader=f"staff:{principal.token_id}", settings=settings, now=request.app[CLOCK].now(),
        workers=request.app[PHOTO_WORKERS], case_id=case_id)
    return web.json_response(result.to_dict(), status=200 if result.duplicate else 201)


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/media", upload_photo)
    app.router.add_get("/api/v1/media/{photo_id}", get_photo)
