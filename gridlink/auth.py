"""Staff bearer tokens: stored hashed, each with a role and a unit."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from cachetools import TTLCache
from pymongo import ASCENDING

from gridlink.db import Database, Document
from gridlink.errors import InvalidInput, NotAuthenticated

Role = Literal["admin", "dispatcher", "department", "leader"]
ROLES: tuple[Role, ...] = ("admin", "dispatcher", "department", "leader")


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff member with a role in a unit of a district."""

    token_id: str
    role: Role
    unit: str
    district: str
    name: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def ensure_indexes(db: Database) -> None:
    await db.api_tokens.create_index([("hash", ASCENDING)], unique=True)


async def create_token(
    db: Database, *, role: str, unit: str, district: str, name: str, now: datetime,
    ttl: timedelta | None = None,
) -> str:
    """Create a token and return it in clear; only its hash is stored."""
    if role not in ROLES:
        raise InvalidInput(f"unknown role {role!r}; one of {', '.join(ROLES)}")
    token = "glk_" + secrets.token_urlsafe(24)
    await db.api_tokens.insert_one({
        "_id": secrets.token_hex(8),
        "hash": hash_token(token),
        "role": role,
        "unit": unit,
        "district": district,
        "name": name,
        "created_at": now,
        "expires_at": now + ttl if ttl else None,
    })
    return token


# A token's record never changes once written; each process keeps the ones it has seen for
# TOKEN_TTL_S (a token deleted from the database works that much longer in a process that
# used it), saving a round trip on every staff request. Expiry is still judged on each call.
# Unknown tokens are not kept.
TOKEN_TTL_S = 10.0
_TOKENS: TTLCache[tuple[str, str], Document] = TTLCache(maxsize=4096, ttl=TOKEN_TTL_S)


async def authenticate(db: Database, *, token: str, district: str, now: datetime) -> Principal:
    digest = hash_token(token)
    doc = _TOKENS.get((db.name, digest))
    if doc is None:
        doc = await db.api_tokens.find_one({"hash": digest})
        if doc is None:
            raise NotAuthenticated("unknown token")
        _TOKENS[(db.name, digest)] = doc
    expires = doc.get("expires_at")
    if expires is not None and expires <= now:
        raise NotAuthenticated("token expired")
    if doc["district"] != district:
        raise NotAuthenticated("token belongs to another district")
    return Principal(token_id=doc["_id"], role=doc["role"], unit=doc["unit"],
                     district=doc["district"], name=doc.get("name", ""))
