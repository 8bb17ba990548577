"""Keys the service makes for itself: generated once, kept in the database (`app_secrets`),
shared by every process. The portal's rating-code key lives here, so a rating code never
depends on the webhook secret (which defaults to a public value in development)."""

from __future__ import annotations

import secrets

from pymongo.errors import DuplicateKeyError

from gridlink.db import Database
from gridlink.settings import Settings

RATING_CODE_KEY = "rating_code_key"
# Per process: (database name, secret name) -> value; stored secrets never change.
_cache: dict[tuple[str, str], str] = {}


async def stored_secret(db: Database, name: str, *, nbytes: int = 32) -> str:
    """The secret `name`, made (random, `nbytes`) and stored on first use; every process that
    races to make it ends up with the one that was stored first."""
    found = await db.app_secrets.find_one({"_id": name})
    if found is not None:
        _cache[(db.name, name)] = str(found["value"])
        return _cache[(db.name, name)]
    try:
        await db.app_secrets.insert_one({"_id": name, "value": secrets.token_urlsafe(nbytes)})
    except DuplicateKeyError:
        pass
    found = await db.app_secrets.find_one({"_id": name})
    assert found is not None
    _cache[(db.name, name)] = str(found["value"])
    return _cache[(db.name, name)]


async def rating_code_key(db: Database, settings: Settings) -> str:
    """The HMAC key of the portal's rating codes: RATING_CODE_KEY if set, else the stored one
    (pass it where stats.portal.rating_code/check_code take `secret`)."""
    if settings.rating_code_key:
        return settings.rating_code_key
    return await stored_secret(db, RATING_CODE_KEY)
