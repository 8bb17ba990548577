"""Database access for `media`: keyword-only async functions raising domain errors.

Photos live in two places: the `photos` collection (one document per distinct upload, unique
on the sha256 of the original bytes) and the GridFS bucket `media` (one file per stored
rendition: `web`, `thumb`, and `original` when originals are kept).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from bson import ObjectId
from gridfs import AsyncGridFSBucket
from gridfs.errors import NoFile
from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from gridlink.db import Database, Document
from media.errors import PhotoNotFound, VariantNotStored

BUCKET = "media"
PHOTOS = "photos"
# One document per (photo, case) rather than an array on the photo: FerretDB v1 loses one of
# two concurrent updates of the same document (even $addToSet), while inserts of distinct
# documents under a unique _id never conflict.
LINKS = "photo_cases"


class DuplicatePhoto(Exception):
    """Another upload of the same bytes won the race to insert; `existing` is its document."""

    def __init__(self, existing: Document) -> None:
        super().__init__(existing["_id"])
        self.existing = existing


async def ensure_indexes(db: Database) -> None:
    """Create this package's indexes (idempotent)."""
    # The unique content hash is what makes identical uploads, even concurrent ones, stored once.
    await db[PHOTOS].create_index([("sha256", ASCENDING)], unique=True)
    await db[LINKS].create_index([("photo_id", ASCENDING)])
    await db[LINKS].create_index([("case_id", ASCENDING)])
    # The driver's own GridFS indexes, created up front rather than on the first upload.
    await db[f"{BUCKET}.files"].create_index([("filename", ASCENDING), ("uploadDate", ASCENDING)])
    await db[f"{BUCKET}.chunks"].create_index([("files_id", ASCENDING), ("n", ASCENDING)],
                                              unique=True)


def _bucket(db: Database) -> AsyncGridFSBucket:
    return AsyncGridFSBucket(db, bucket_name=BUCKET)


async def find_by_sha256(db: Database, *, sha256: str) -> Document | None:
    return await db[PHOTOS].find_one({"sha256": sha256})


async def get(db: Database, *, photo_id: str) -> Document:
    doc = await db[PHOTOS].find_one({"_id": photo_id})
    if doc is None:
        raise PhotoNotFound(f"no photo {photo_id!r}", photo_id=photo_id)
    return doc


async def insert(db: Database, *, doc: Document) -> None:
    """Insert a photo document; raises DuplicatePhoto when its sha256 is already stored."""
    try:
        await db[PHOTOS].insert_one(doc)
    except DuplicateKeyError:
        existing = await find_by_sha256(db, sha256=doc["sha256"])
        if existing is None:  # the other insert was rolled back meanwhile: a real conflict
            raise
        raise DuplicatePhoto(existing) from None


async def upload(db: Database, *, filename: str, data: bytes, metadata: dict[str, Any]) -> ObjectId:
    """Store one rendition in GridFS; returns its file id."""
    file_id: ObjectId = await _bucket(db).upload_from_stream(filename, data, metadata=metadata)
    return file_id


async def delete_files(db: Database, *, file_ids: Iterable[ObjectId]) -> None:
    bucket = _bucket(db)
    for file_id in file_ids:
        try:
            await bucket.delete(file_id)
        except NoFile:
            pass  # already gone: deleting is idempotent


async def read(db: Database, *, photo: Document, variant: str) -> bytes:
    """The bytes of one stored rendition of a photo document."""
    stored = photo.get("variants", {}).get(variant)
    if stored is None:
        raise VariantNotStored(f"photo {photo['_id']!r} has no {variant!r} copy",
                               photo_id=photo["_id"], size=variant)
    try:
        stream = await _bucket(db).open_download_stream(stored["file_id"])
    except NoFile:
        raise VariantNotStored(f"the {variant!r} copy of photo {photo['_id']!r} is missing",
                               photo_id=photo["_id"], size=variant) from None
    data: bytes = await stream.read()
    return data


async def add_case(db: Database, *, photo_id: str, case_id: str, now: datetime) -> None:
    """Record that a case uses the photo; idempotent."""
    if await db[PHOTOS].count_documents({"_id": photo_id}, limit=1) == 0:
        raise PhotoNotFound(f"no photo {photo_id!r}", photo_id=photo_id)
    try:
        await db[LINKS].insert_one({"_id": f"{photo_id}:{case_id}", "photo_id": photo_id,
                                    "case_id": case_id, "at": now})
    except DuplicateKeyError:
        pass  # already linked


async def case_ids(db: Database, *, photo_id: str) -> list[str]:
    """The cases that use the photo, oldest link first."""
    cursor = db[LINKS].find({"photo_id": photo_id}).sort([("at", ASCENDING), ("_id", ASCENDING)])
    return [doc["case_id"] async for doc in cursor]


async def is_public(db: Database, *, photo_id: str) -> bool:
    """True when a case marked `public` lists the photo among its `public_photos` (the cases
    contract: a patrol's own and result photos, never a citizen's intake photos)."""
    case = await db.cases.find_one({"public_photos": photo_id, "public": True},
                                   projection={"_id": 1})
    return case is not None


async def phashes(db: Database, *, photo_ids: Iterable[str]) -> dict[str, str]:
    ids = list(dict.fromkeys(photo_ids))
    if not ids:
        return {}
    cursor = db[PHOTOS].find({"_id": {"$in": ids}}, projection={"phash": 1})
    return {doc["_id"]: doc["phash"] async for doc in cursor}
