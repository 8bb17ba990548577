"""Ingest and storage against the real database server (GridFS included)."""

from __future__ import annotations

import asyncio
import functools
import io
import threading
from datetime import UTC, datetime

import pytest
from PIL import Image

from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.settings import Settings
from media import errors, pipeline, repository, service
from tests.media import images as I


async def stored_counts(db: Database) -> tuple[int, int, int]:
    return (await db.photos.count_documents({}), await db["media.files"].count_documents({}),
            await db["media.chunks"].count_documents({}))


async def ingest(db: Database, settings: Settings, clock: FakeClock, data: bytes,
                 content_type: str | None = "image/jpeg", **kw: object) -> service.IngestResult:
    return await service.ingest(db, data=data, content_type=content_type, uploader="tg:42",
                                settings=settings, now=clock.now(), **kw)  # type: ignore[arg-type]


@functools.cache
def gps_photo() -> bytes:
    exif = I.exif_block(orientation=6, lat=31.2313333, lon=121.4751667,
                        taken="2026:11:27 09:41:07", offset="+08:00")
    return I.encode(I.scene(1600, 1200), "JPEG", exif=exif.tobytes())


async def test_ingest_stores_derivatives_and_returns_metadata(
        db: Database, settings: Settings, clock: FakeClock) -> None:
    result = await ingest(db, settings, clock, gps_photo(), case_id="C1", filename="IMG_1.jpg")
    assert not result.duplicate
    assert result.gps is not None and result.gps.lon == pytest.approx(121.4751667, abs=1e-6)
    assert result.taken_at == datetime(2026, 11, 27, 1, 41, 7, tzinfo=UTC)
    assert (result.width, result.height) == (1200, 1600)  # orientation 6: portrait

    doc = await repository.get(db, photo_id=result.id)
    assert await service.cases_of(db, photo_id=result.id) == ["C1"]
    assert doc["uploader"] == "tg:42"
    assert set(doc["variants"]) == {"web", "thumb"}  # no original by default
    assert "gps" not in str(doc).lower()  # the position goes back to the caller, not to storage
    files = [f async for f in db["media.files"].find({})]
    assert {f["metadata"]["variant"] for f in files} == {"web", "thumb"}
    for f in files:
        meta = f["metadata"]
        assert meta["photo_id"] == result.id and meta["case_ids"] == ["C1"]
        assert meta["uploader"] == "tg:42" and meta["original"]["sha256"] == doc["sha256"]
        assert meta["phash"] == result.phash and meta["original"]["bytes"] == doc["bytes"]
        assert (meta["width"], meta["height"]) == ((960, 1280) if meta["variant"] == "web"
                                                   else (240, 320))
        assert meta["sha256"] == doc["variants"][meta["variant"]]["sha256"]

    web = await (await service.rendition(db, photo_id=result.id, size="web")).read(db)
    with Image.open(io.BytesIO(web)) as img:
        assert img.size == (960, 1280) and len(img.getexif()) == 0
    assert b"Exif" not in web
    thumb = await service.rendition(db, photo_id=result.id, size="thumb")
    assert thumb.content_type == "image/jpeg" and thumb.etag.startswith('"')
    with pytest.raises(errors.VariantNotStored):
        await service.rendition(db, photo_id=result.id, size="original")


async def test_original_kept_only_when_configured(
        db: Database, settings: Settings, clock: FakeClock) -> None:
    keep = settings.model_copy(update={"keep_photo_originals": True})
    data = I.encode(I.scene(400, 300), "WEBP")
    result = await ingest(db, keep, clock, data, content_type="image/webp")
    original = await service.rendition(db, photo_id=result.id, size="original")
    assert original.content_type == "image/webp"
    assert await original.read(db) == data


async def test_same_photo_twice_is_stored_once(
        db: Database, settings: Settings, clock: FakeClock) -> None:
    data = gps_photo()
    first = await ingest(db, settings, clock, data, case_id="C1")
    counts = await stored_counts(db)
    second = await ingest(db, settings, clock, data, case_id="C2")
    assert second.duplicate and second.id == first.id
    assert second.gps == first.gps and second.taken_at == first.taken_at
    assert await stored_counts(db) == counts
    assert counts[:2] == (1, 2)
    clock.advance(seconds=1)
    third = await ingest(db, settings, clock, data, case_id="C1")
    assert third.id == first.id
    assert await service.cases_of(db, photo_id=first.id) == ["C1", "C2"]


async def test_concurrent_identical_uploads_store_once(
        db: Database, settings: Settings, clock: FakeClock) -> None:
    data = gps_photo()
    results = await asyncio.gather(*(ingest(db, settings, clock, data) for _ in range(4)))
    assert len({r.id for r in results}) == 1
    assert sum(not r.duplicate for r in results) == 1
    assert (await stored_counts(db))[:2] == (1, 2)


async def test_store_race_loser_removes_its_files(db: Database, clock: FakeClock) -> None:
    """Both writers get past the duplicate check; the unique sha256 index picks one."""
    data = I.encode(I.scene(300, 200), "JPEG")
    processed = pipeline.process(data, claimed_type=None, filename=None,
                                 limits=pipeline.Limits(), tz=UTC)
    results = await asyncio.gather(*(
        service.store(db, processed=processed, data=data, uploader=f"u{i}", case_id=f"C{i}",
                      keep_original=False, now=clock.now()) for i in range(3)))
    winner = [r for r in results if not r.duplicate]
    assert len(winner) == 1 and all(r.id == winner[0].id for r in results)
    assert (await stored_counts(db))[:2] == (1, 2)
    assert sorted(await service.cases_of(db, photo_id=winner[0].id)) == ["C0", "C1", "C2"]


REJECTED = {
    "decompression bomb": lambda: (I.png_bomb(25_000, 20_000), "image/png"),
    "truncated jpeg": lambda: (I.encode(I.scene(800, 600), "JPEG")[:20_000], "image/jpeg"),
    "zero bytes": lambda: (b"", "image/jpeg"),
    "png renamed .jpg": lambda: (I.encode(I.scene(64, 48), "PNG"), "image/jpeg"),
    "40 MB": lambda: (b"\xff\xd8\xff\xe0" + bytes(40 * 1024 * 1024), "image/jpeg"),
    "1000-frame gif": lambda: (I.animated_gif(1000), "image/gif"),
}


@pytest.mark.parametrize("case", list(REJECTED))
async def test_rejected_uploads_store_nothing(
        case: str, db: Database, settings: Settings, clock: FakeClock) -> None:
    data, content_type = REJECTED[case]()
    with pytest.raises(errors.PhotoRejected) as caught:
        await ingest(db, settings, clock, data, content_type=content_type,
                     filename="upload.jpg" if content_type == "image/jpeg" else None)
    assert caught.value.code.startswith("photo_")
    assert await stored_counts(db) == (0, 0, 0)


async def test_duplicate_bytes_are_still_checked(
        db: Database, settings: Settings, clock: FakeClock) -> None:
    """Stored bytes sent again under a lying type are refused, not waved through as a dup."""
    data = I.encode(I.scene(64, 48), "PNG")
    await ingest(db, settings, clock, data, content_type="image/png")
    with pytest.raises(errors.PhotoTypeMismatch):
        await ingest(db, settings, clock, data, content_type="image/jpeg")


async def test_link_to_case_and_public_flag(
        db: Database, settings: Settings, clock: FakeClock) -> None:
    result = await ingest(db, settings, clock, I.encode(I.scene(64, 48), "JPEG"))
    assert not await service.is_public(db, photo_id=result.id)
    await service.link_to_case(db, photo_id=result.id, case_id="C9", now=clock.now())
    await service.link_to_case(db, photo_id=result.id, case_id="C9", now=clock.now())
    assert await service.cases_of(db, photo_id=result.id) == ["C9"]
    await db.cases.insert_one({"_id": "C9", "public": False, "photos": [result.id],
                               "public_photos": [result.id]})
    assert not await service.is_public(db, photo_id=result.id)
    await db.cases.update_one({"_id": "C9"}, {"$set": {"public": True}})
    assert await service.is_public(db, photo_id=result.id)
    # A citizen's intake photo of a public case stays private (not in public_photos).
    await db.cases.insert_one({"_id": "C10", "public": True, "photos": ["p-citizen"],
                               "public_photos": []})
    assert not await service.is_public(db, photo_id="p-citizen")
    with pytest.raises(errors.PhotoNotFound):
        await service.link_to_case(db, photo_id="nope", case_id="C9", now=clock.now())
    # Links made at the same moment are all kept (no read-modify-write of one document).
    await asyncio.gather(*(service.link_to_case(db, photo_id=result.id, case_id=f"K{i}",
                                                now=clock.now()) for i in range(10)))
    assert len(await service.cases_of(db, photo_id=result.id)) == 11


async def test_near_duplicates_found_by_phash(
        db: Database, settings: Settings, clock: FakeClock) -> None:
    scene = I.scene(800, 600, seed=3)
    first = await ingest(db, settings, clock, I.encode(scene, "JPEG", quality=92))
    other = await ingest(db, settings, clock, I.encode(I.scene(800, 600, seed=11), "JPEG"))
    # The same scene, re-encoded smaller and at lower quality, as a messenger would resend it.
    resent = Image.fromarray(scene).resize((560, 420))
    again = await ingest(db, settings, clock, I.encode(resent, "JPEG", quality=60))
    assert not again.duplicate and again.id != first.id  # different bytes: a new photo
    assert service.phash_distance(first.phash, again.phash) <= 4
    assert service.phash_distance(first.phash, other.phash) > service.NEAR_DUPLICATE_DISTANCE
    hits = await service.near_duplicates(db, phash=again.phash, among=[first.id, other.id])
    assert [h[0] for h in hits] == [first.id]


def test_phash_distance() -> None:
    assert service.phash_distance("ffffffffffffffff", "ffffffffffffffff") == 0
    assert service.phash_distance("0000000000000000", "ffffffffffffffff") == 64
    assert service.phash_distance("0000000000000001", "0000000000000003") == 1


async def test_workers_bound_how_many_photos_are_in_flight() -> None:
    workers = service.Workers(2)
    lock = threading.Lock()
    release = threading.Event()
    two_started = threading.Event()
    running = 0
    peak = 0
    started = 0

    def job() -> None:
        nonlocal running, peak, started
        with lock:
            running += 1
            started += 1
            peak = max(peak, running)
            if started == 2:
                two_started.set()
        release.wait(timeout=10)
        with lock:
            running -= 1

    try:
        tasks = [asyncio.create_task(workers.run(job)) for _ in range(6)]
        assert await asyncio.to_thread(two_started.wait, 10)
        await asyncio.sleep(0.05)  # give a third job every chance to (wrongly) start
        assert started == 2
        # A cancelled caller does not free its slot while its thread still runs.
        tasks[0].cancel()
        await asyncio.sleep(0.05)
        assert started == 2
        release.set()
        await asyncio.gather(*tasks[1:])
        assert peak == 2 and started == 6
    finally:
        release.set()
        workers.close()


async def test_ingest_does_not_block_the_event_loop(
        db: Database, settings: Settings, clock: FakeClock) -> None:
    """While a photo is decoded, the event loop keeps running other tasks."""
    # A PNG has no draft shortcut: the whole 6 MP are decoded.
    data = I.encode(I.quadrants(3000, 2000), "PNG", compress_level=1)
    ticks = 0
    during: list[int] = []
    done = asyncio.Event()

    class Watched(service.Workers):
        async def run(self, fn, /, *args, **kwargs):  # type: ignore[no-untyped-def]
            def watched(*a, **k):  # type: ignore[no-untyped-def]
                before = ticks
                try:
                    return fn(*a, **k)
                finally:
                    during.append(ticks - before)
            return await super().run(watched, *args, **kwargs)

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(0.001)

    workers = Watched(1)
    tick_task = asyncio.create_task(ticker())
    try:
        await ingest(db, settings, clock, data, content_type="image/png", workers=workers)
    finally:
        done.set()
        await tick_task
        workers.close()
    # Had the pipeline run on the loop's thread, the ticker could not have moved meanwhile.
    assert len(during) == 1 and during[0] >= 1
