"""Grid files uploaded for a preview, kept (compressed) until the admin installs or drops them
(`grid_uploads`), so the file that becomes active is the one that was previewed."""

from __future__ import annotations

import hashlib
import secrets
import zlib
from datetime import datetime, timedelta

from bson import Binary

from gridlink.db import Database
from gridlink.errors import NotFound

KEEP = timedelta(days=1)


async def stage(db: Database, *, data: bytes, filename: str, crs: str, by: str,
                now: datetime) -> str:
    """Keep an upload; its id. Uploads older than KEEP are dropped on the way."""
    await db.grid_uploads.delete_many({"at": {"$lt": now - KEEP}})
    upload_id = secrets.token_hex(8)
    await db.grid_uploads.insert_one({
        "_id": upload_id, "data": Binary(zlib.compress(data, 6)), "filename": filename[:200],
        "crs": crs, "sha256": hashlib.sha256(data).hexdigest(), "by": by, "at": now})
    return upload_id


async def staged(db: Database, *, upload_id: str) -> tuple[bytes, dict[str, str]]:
    """The upload's bytes and its filename, crs and digest."""
    doc = await db.grid_uploads.find_one({"_id": upload_id})
    if doc is None:
        raise NotFound("that grid upload is gone (installed, dropped or older than a day)")
    return zlib.decompress(bytes(doc["data"])), {k: str(doc[k]) for k in ("filename", "crs", "sha256")}


async def drop(db: Database, *, upload_id: str) -> None:
    await db.grid_uploads.delete_one({"_id": upload_id})


async def active_meta(db: Database) -> dict[str, object] | None:
    """The active grid version's record (source, counts, created_at), or None."""
    found = await db.grid_meta.find_one({"_id": "active"})
    if found is None:
        return None
    return await db.grid_versions.find_one({"_id": found["version"]})
