"""The photo pipeline as bot/ and api/ use it: ingest, link to cases, read back, compare.

CPU work runs on a `Workers` pool so the event loop never blocks; the pool holds at most
`slots` photos in flight, hence at most that many decoded images in memory.
"""

from __future__ import annotations

import asyncio
import secrets
import weakref
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeVar

from bson import ObjectId

from gridlink.db import Database, Document
from gridlink.errors import InvalidInput
from gridlink.settings import Settings
from media import pipeline, repository
from media.errors import VariantNotStored
from media.pipeline import GeoPoint, Limits, Processed

T = TypeVar("T")
Size = Literal["web", "thumb", "original"]
SIZES: tuple[Size, ...] = ("web", "thumb", "original")

# pHash bits that may differ for two photos to count as the same scene (of 64). Re-encodes and
# resizes of one photo land at 0-4; different shots of one spot mostly above 12.
NEAR_DUPLICATE_DISTANCE = 10


class Workers:
    """A bounded thread pool for the CPU side: at most `slots` photos are processed at once.

    The slot is released when the thread finishes, not when the awaiting task is cancelled,
    so the bound on decoded images holds even for abandoned requests.
    """

    def __init__(self, slots: int) -> None:
        if slots < 1:
            raise ValueError("slots must be ≥ 1")
        self.slots = slots
        self._sem = asyncio.Semaphore(slots)
        self._pool = ThreadPoolExecutor(max_workers=slots, thread_name_prefix="media")

    async def run(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
        await self._sem.acquire()
        loop = asyncio.get_running_loop()
        try:
            job: Future[T] = self._pool.submit(fn, *args, **kwargs)
        except BaseException:
            self._sem.release()
            raise

        def release(_: Future[T]) -> None:
            try:
                loop.call_soon_threadsafe(self._sem.release)
            except RuntimeError:
                pass  # the loop is closed: nobody is waiting for a slot any more

        job.add_done_callback(release)
        return await asyncio.wrap_future(job)

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


_default_workers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Workers] = (
    weakref.WeakKeyDictionary())


def default_workers(settings: Settings) -> Workers:
    """The shared pool of the running event loop (a semaphore belongs to one loop)."""
    loop = asyncio.get_running_loop()
    workers = _default_workers.get(loop)
    if workers is None:
        workers = _default_workers[loop] = Workers(settings.photo_workers)
    return workers


def limits(settings: Settings) -> Limits:
    return Limits(max_bytes=settings.photo_max_bytes, max_pixels=settings.photo_max_pixels,
                  max_frames=settings.photo_max_frames)


@dataclass(frozen=True)
class IngestResult:
    """What the caller learns from an upload. `gps`/`taken_at` come from the original's EXIF."""

    id: str
    duplicate: bool  # True: these exact bytes were stored before; `photo_id` is that photo's
    gps: GeoPoint | None
    taken_at: datetime | None
    phash: str
    width: int
    height: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "duplicate": self.duplicate,
                "gps": self.gps.to_dict() if self.gps else None,
                "taken_at": self.taken_at.isoformat() if self.taken_at else None,
                "phash": self.phash, "width": self.width, "height": self.height}


def new_photo_id() -> str:
    # Random, not derived from content or time: a photo URL must not be guessable.
    return secrets.token_hex(12)


async def ingest(
    db: Database, *, data: bytes, content_type: str | None, filename: str | None = None,
    uploader: str, settings: Settings, now: datetime, workers: Workers | None = None,
    case_id: str | None = None,
) -> IngestResult:
    """Check, process and store one uploaded photo; identical bytes are stored once.

    `content_type` and `filename` are what the sender claims; the bytes must agree with them.
    `workers` defaults to one shared pool per event loop with `settings.photo_workers` slots.
    Raises a `media.errors.PhotoRejected` subclass (nothing stored) when the upload is refused.
    """
    workers = workers or default_workers(settings)
    lim = limits(settings)
    # Size and magic-number checks take microseconds: refuse a 40 MB upload before any work.
    pipeline.check_type(data, claimed_type=content_type, filename=filename, limits=lim)
    # Process before looking the hash up: the hash is computed beside the decode, so a fresh
    # photo (the usual case) waits for nothing; a resent one costs one wasted decode.
    processed = await workers.run(pipeline.process, data, claimed_type=content_type,
                                  filename=filename, limits=lim, tz=settings.tz)
    existing = await repository.find_by_sha256(db, sha256=processed.sha256)
    if existing is not None:
        facts = processed.inspection
        return await _duplicate(db, existing, facts.gps, facts.taken_at, case_id, now)
    return await store(db, processed=processed, data=data, uploader=uploader, case_id=case_id,
                       keep_original=settings.keep_photo_originals, now=now)


async def store(
    db: Database, *, processed: Processed, data: bytes, uploader: str, case_id: str | None,
    keep_original: bool, now: datetime, photo_id: str | None = None,
) -> IngestResult:
    """Write the renditions to GridFS, then the photo document that makes them visible.

    When a concurrent upload of the same bytes inserts its document first, ours loses on the
    unique sha256 index: our files are deleted and the winner's id is returned.
    """
    photo_id = photo_id or new_photo_id()
    facts = processed.inspection
    # GridFS metadata records the case the photo came with; later links are in photo_cases.
    case_ids = [case_id] if case_id else []
    common = {"photo_id": photo_id, "uploader": uploader, "case_ids": case_ids,
              "phash": processed.phash,
              "original": {"sha256": processed.sha256, "bytes": len(data), "width": facts.width,
                           "height": facts.height, "content_type": facts.mime}}
    renditions: list[tuple[str, bytes, str, int, int, str]] = [
        ("web", processed.web.data, pipeline.DERIVATIVE_MIME, processed.web.width,
         processed.web.height, processed.web.sha256),
        ("thumb", processed.thumb.data, pipeline.DERIVATIVE_MIME, processed.thumb.width,
         processed.thumb.height, processed.thumb.sha256),
    ]
    if keep_original:
        renditions.append(("original", data, facts.mime, facts.width, facts.height,
                           processed.sha256))
    file_ids: list[ObjectId] = []
    variants: dict[str, Document] = {}
    try:
        for name, body, content_type, width, height, digest in renditions:
            ext = "jpg" if content_type == pipeline.DERIVATIVE_MIME else facts.kind
            file_id = await repository.upload(
                db, filename=f"{photo_id}.{name}.{ext}", data=body,
                metadata={**common, "variant": name, "content_type": content_type,
                          "width": width, "height": height, "bytes": len(body),
                          "sha256": digest})
            file_ids.append(file_id)
            variants[name] = {"file_id": file_id, "content_type": content_type,
                              "width": width, "height": height, "bytes": len(body),
                              "sha256": digest}
        await repository.insert(db, doc={
            "_id": photo_id, "sha256": processed.sha256, "phash": processed.phash,
            "kind": facts.kind, "content_type": facts.mime, "bytes": len(data),
            "width": facts.width, "height": facts.height, "uploader": uploader,
            "variants": variants, "created_at": now,
        })
    except repository.DuplicatePhoto as dup:
        await repository.delete_files(db, file_ids=file_ids)
        return await _duplicate(db, dup.existing, facts.gps, facts.taken_at, case_id, now)
    except BaseException:
        # Nothing may be left behind by a failed store. (A crash here can still orphan files;
        # they are unreachable without their photo document.)
        await asyncio.shield(repository.delete_files(db, file_ids=file_ids))
        raise
    if case_id:
        await repository.add_case(db, photo_id=photo_id, case_id=case_id, now=now)
    return IngestResult(id=photo_id, duplicate=False, gps=facts.gps,
                        taken_at=facts.taken_at, phash=processed.phash,
                        width=facts.width, height=facts.height)


async def _duplicate(db: Database, existing: Document, gps: GeoPoint | None,
                     taken_at: datetime | None, case_id: str | None, now: datetime,
                     ) -> IngestResult:
    if case_id:
        await repository.add_case(db, photo_id=existing["_id"], case_id=case_id, now=now)
    return IngestResult(id=existing["_id"], duplicate=True, gps=gps, taken_at=taken_at,
                        phash=existing["phash"], width=existing["width"],
                        height=existing["height"])


async def link_to_case(db: Database, *, photo_id: str, case_id: str, now: datetime) -> None:
    """Record that `case_id` uses the photo (idempotent; raises PhotoNotFound)."""
    await repository.add_case(db, photo_id=photo_id, case_id=case_id, now=now)


async def cases_of(db: Database, *, photo_id: str) -> list[str]:
    """The ids of the cases the photo was uploaded or linked to, oldest first."""
    return await repository.case_ids(db, photo_id=photo_id)


@dataclass(frozen=True)
class Rendition:
    """One stored size of a photo, described without reading its bytes (for ETag checks)."""

    photo_id: str
    size: Size
    content_type: str
    etag: str
    length: int
    _photo: Document

    async def read(self, db: Database) -> bytes:
        return await repository.read(db, photo=self._photo, variant=self.size)


def parse_size(value: str | None) -> Size:
    size = value or "web"
    if size not in SIZES:
        raise InvalidInput(f"size must be one of {', '.join(SIZES)}", size=size)
    return size  # type: ignore[return-value]


async def rendition(db: Database, *, photo_id: str, size: Size) -> Rendition:
    """Raises PhotoNotFound, or VariantNotStored (an original that was not kept)."""
    photo = await repository.get(db, photo_id=photo_id)
    stored = photo.get("variants", {}).get(size)
    if stored is None:
        raise VariantNotStored(f"photo {photo_id!r} has no {size!r} copy",
                               photo_id=photo_id, size=size)
    return Rendition(photo_id=photo_id, size=size, content_type=stored["content_type"],
                     etag=f'"{stored["sha256"][:32]}"', length=stored["bytes"], _photo=photo)


async def is_public(db: Database, *, photo_id: str) -> bool:
    """Whether anyone may see the photo: a case marked public lists it in `public_photos`."""
    return await repository.is_public(db, photo_id=photo_id)


def phash_distance(a: str, b: str) -> int:
    """Hamming distance of two hex pHashes: 0 = same picture, 64 = unrelated."""
    return (int(a, 16) ^ int(b, 16)).bit_count()


def is_near_duplicate(a: str, b: str, *, max_distance: int = NEAR_DUPLICATE_DISTANCE) -> bool:
    return phash_distance(a, b) <= max_distance


async def near_duplicates(db: Database, *, phash: str, among: Iterable[str],
                          max_distance: int = NEAR_DUPLICATE_DISTANCE) -> list[tuple[str, int]]:
    """Of the photos `among` (e.g. those of nearby open cases), the ones that look like `phash`,
    closest first, as (photo_id, distance)."""
    known = await repository.phashes(db, photo_ids=among)
    hits = [(photo_id, phash_distance(phash, other)) for photo_id, other in known.items()]
    return sorted((h for h in hits if h[1] <= max_distance), key=lambda h: (h[1], h[0]))
