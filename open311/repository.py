"""Open311 API keys (stored hashed, `open311_keys`) and what Open311 adds to a case
(`open311_requests`: token, address, media_url, attributes, the client's ids)."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from gridlink.auth import hash_token
from gridlink.db import Database
from open311.errors import ApiKeyInvalid, ApiKeyMissing, BadRequestInput, TokenNotFound

KEY_PREFIX = "o311_"


@dataclass(frozen=True)
class ApiClient:
    """An application allowed to post service requests (a city app, a partner's portal)."""

    key_id: str
    name: str


async def ensure_indexes(db: Database) -> None:
    await db.open311_keys.create_index([("hash", ASCENDING)], unique=True)
    await db.open311_requests.create_index([("token", ASCENDING)], unique=True)


async def create_key(db: Database, *, name: str, now: datetime) -> str:
    """Create an API key for the application `name`; returned once in clear, stored hashed."""
    name = name.strip()
    if not name or len(name) > 100:
        raise BadRequestInput("an Open311 API key needs an application name of 1–100 characters")
    key = KEY_PREFIX + secrets.token_urlsafe(24)
    await db.open311_keys.insert_one({
        "_id": secrets.token_hex(8), "hash": hash_token(key), "name": name,
        "created_at": now, "revoked_at": None,
    })
    return key


async def revoke_key(db: Database, *, key_id: str, now: datetime) -> bool:
    result = await db.open311_keys.update_one({"_id": key_id, "revoked_at": None},
                                              {"$set": {"revoked_at": now}})
    return result.modified_count == 1


async def list_keys(db: Database) -> list[dict[str, Any]]:
    """Every key, oldest first, without its hash."""
    return await db.open311_keys.find({}, {"hash": 0}).sort("created_at", 1).to_list(None)


async def authenticate(db: Database, *, key: str | None) -> ApiClient:
    """The application holding `key`; ApiKeyMissing / ApiKeyInvalid otherwise."""
    if not key or not key.strip():
        raise ApiKeyMissing("api_key was not provided")
    doc = await db.open311_keys.find_one({"hash": hash_token(key.strip())})
    if doc is None or doc.get("revoked_at") is not None:
        raise ApiKeyInvalid("api_key is not valid")
    return ApiClient(key_id=doc["_id"], name=doc.get("name", ""))


async def record_request(db: Database, *, case_id: str, service_request_id: str,
                         client: ApiClient, data: dict[str, Any], now: datetime) -> str:
    """Keep what Open311 adds to a case (address, media_url, attributes, the client's ids)
    and a token the client can exchange for its service_request_id (tokens/{token}).

    One per case: a repeated POST (same Idempotency-Key) gets the first token back.
    """
    token = secrets.token_urlsafe(12)
    doc = {"_id": case_id, "token": token, "service_request_id": service_request_id,
           "key_id": client.key_id, "client": client.name, "created_at": now, **data}
    try:
        await db.open311_requests.insert_one(doc)
    except DuplicateKeyError:
        existing = await db.open311_requests.find_one({"_id": case_id})
        if existing is None:  # pragma: no cover - the token itself collided; astronomically rare
            raise
        return str(existing["token"])
    return token


async def request_for_case(db: Database, *, case_id: str) -> dict[str, Any] | None:
    return await db.open311_requests.find_one({"_id": case_id})


async def requests_for_cases(db: Database, *, case_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not case_ids:
        return {}
    cursor = db.open311_requests.find({"_id": {"$in": case_ids}})
    return {doc["_id"]: doc async for doc in cursor}


async def resolve_token(db: Database, *, token: str) -> dict[str, Any]:
    doc = await db.open311_requests.find_one({"token": token})
    if doc is None:
        raise TokenNotFound(f"token {token!r} was not found")
    return doc
