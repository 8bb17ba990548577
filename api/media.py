"""Photo upload and download: `POST /api/v1/media`, `GET /api/v1/media/{id}?size=web|thumb`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from aiohttp import BodyPartReader, MultipartReader, web
from aiohttp.http_exceptions import HttpProcessingError

from api.auth import actor_of, require
from api.keys import CLOCK, DB, PHOTO_WORKERS, SETTINGS
from cases import repository as cases_repo
from cases import visibility
from gridlink.auth import Principal
from gridlink.errors import InvalidInput, PermissionDenied
from media import repository as media_repo
from media import service
from media.errors import PhotoTooLarge

# Photos behind a public case may be cached anywhere, briefly: a case can be hidden or a photo
# redacted (cases.moderation) and shared caches must let go of it within minutes. Staff-only
# ones only in the caller's own cache. The bytes behind an ETag never change.
PUBLIC_CACHE = "public, max-age=300"
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
    # Access first, so strangers learn nothing about what exists: the cases that carry the
    # photo decide, through the one visibility policy. Originals carry the reporter's GPS:
    # staff only, whatever the case says.
    carriers = await cases_repo.cases_with_photos(db, photo_ids=[photo_id])
    public = size != "original" and visibility.photo_is_public(carriers, photo_id)
    if not public:
        await _require_photo_access(request, photo_id, carriers)
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


async def _require_photo_access(request: web.Request, photo_id: str,
                                carriers: list[dict[str, Any]]) -> None:
    """A staff member who may see a case carrying the photo; an upload no case carries yet
    is its uploader's (and the admin's)."""
    principal = await require(request)
    actor = actor_of(principal)
    if actor.role == "admin" or visibility.photo_visible(actor, carriers, photo_id):
        return
    if not carriers:
        photo = await media_repo.get(request.app[DB], photo_id=photo_id)  # PhotoNotFound: 404
        if photo.get("uploader") == _uploader(principal):
            return
    raise PermissionDenied("this photo belongs to a case outside your area", photo_id=photo_id)


def _uploader(principal: Principal) -> str:
    return f"staff:{principal.token_id}"


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
    """Multipart form: the file in field `photo`. Any staff role.

    The photo joins a case only through intake or feedback, which check who may use it; an
    upload naming a case (the old `case_id` field) is refused, so it can grant nothing.
    """
    principal = await require(request)
    settings = request.app[SETTINGS]
    if request.content_type != "multipart/form-data":
        raise InvalidInput("send the photo as multipart/form-data in the field 'photo'")
    data: bytes | None = None
    content_type: str | None = None
    filename: str | None = None
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
            raise InvalidInput("an upload names no case (case_id): give the photo's id to "
                               "the case's intake or feedback", field="case_id")
        else:
            raise InvalidInput(f"unexpected form field {part.name!r}; send 'photo' only")
    if data is None:
        raise InvalidInput("the form has no 'photo' field")
    result = await service.ingest(
        request.app[DB], data=data, content_type=content_type, filename=filename,
        uploader=_uploader(principal), settings=settings, now=request.app[CLOCK].now(),
        workers=request.app[PHOTO_WORKERS])
    return web.json_response(result.to_dict(), status=200 if result.duplicate else 201)


def setup_routes(app: web.Application) -> None:
    app.router.add_post("/api/v1/media", upload_photo)
    app.router.add_get("/api/v1/media/{photo_id}", get_photo)
