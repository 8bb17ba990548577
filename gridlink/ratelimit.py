"""Fixed-window rate limits shared by every process through MongoDB (collection `rate_limits`).

Each accepted hit inserts one slot document `_id = "<key>|<window>|<n>"` with n < limit; the
unique `_id` lets exactly one caller take each slot, so the limit holds across several web
processes. Counters with `$inc` would be cheaper but FerretDB v1 does not isolate them
(concurrent `$inc` loses increments, see docs/CONTRACTS.md), and a limit that leaks under
the very burst it is meant to stop is no limit. TTL indexes are unavailable, so expired
windows are deleted by `sweep`, which `hit` runs at most once a minute per process.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from gridlink.db import Database
from gridlink.errors import RateLimited

SWEEP_EVERY = timedelta(seconds=60)

# Per-process hint of the next free slot of a window: saves the count on most hits.
_next_slot: dict[tuple[str, str, int], int] = {}
_last_sweep: dict[str, datetime] = {}


async def ensure_indexes(db: Database) -> None:
    await db.rate_limits.create_index([("key", ASCENDING), ("window", ASCENDING)])
    await db.rate_limits.create_index([("expires_at", ASCENDING)])


def window_of(now: datetime, window_s: float) -> tuple[int, datetime]:
    """The window `now` falls in (its start, whole seconds since the epoch) and its end."""
    start = math.floor(now.timestamp() / window_s) * window_s
    return int(start), datetime.fromtimestamp(start + window_s, UTC)


async def hit(db: Database, *, key: str, limit: int, window_s: float, now: datetime,
              message: str = "too many requests; try again later") -> None:
    """Count one hit of `key`; raise `RateLimited` (with retry_after) past `limit` per window.

    `limit <= 0` turns the limit off.
    """
    if limit <= 0:
        return
    await _maybe_sweep(db, now)
    window, ends = window_of(now, window_s)
    hint_key = (db.name, key, window)
    n = _next_slot.get(hint_key)
    if n is None:
        n = await db.rate_limits.count_documents({"key": key, "window": window})
    counted = False
    while n < limit:
        try:
            await db.rate_limits.insert_one({"_id": f"{key}|{window}|{n}", "key": key,
                                             "window": window, "expires_at": ends})
        except DuplicateKeyError:
            # Another process took this slot: jump to the real count once, then step.
            if not counted:
                counted = True
                n = max(n + 1, await db.rate_limits.count_documents({"key": key, "window": window}))
            else:
                n += 1
            continue
        _next_slot[hint_key] = n + 1
        return
    _next_slot[hint_key] = n
    retry_after = max(1.0, (ends - now).total_seconds())
    raise RateLimited(message, retry_after=round(retry_after, 1), limit=limit, window_s=window_s)


async def sweep(db: Database, *, now: datetime) -> int:
    """Delete the slots of windows that have ended; returns how many."""
    result = await db.rate_limits.delete_many({"expires_at": {"$lte": now}})
    # Hints of windows long past are useless; windows are at most a day long.
    for k in [k for k in _next_slot if k[0] == db.name and k[2] < now.timestamp() - 86_400]:
        _next_slot.pop(k, None)
    return int(result.deleted_count)


async def _maybe_sweep(db: Database, now: datetime) -> None:
    last = _last_sweep.get(db.name)
    if last is not None and abs(now - last) < SWEEP_EVERY:
        return
    _last_sweep[db.name] = now
    await sweep(db, now=now)
