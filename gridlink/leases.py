"""Claims and leases that make several processes safe: one mechanism for every package.

A claim is won by inserting a document under a unique `_id`: atomic on FerretDB v1 too, where
conditional updates are not isolated (two concurrent `find_one_and_update`s on one document
can both "win"). A claim carries its holder and an expiry; one whose holder died (expired) is
taken over by removing exactly that claim and inserting again, so of several takers one wins.
A holder renews by taking the same key again while its claim is still valid (an expired one
it must win back like anyone: a renewal racing a takeover could otherwise overwrite it).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo.asynchronous.collection import AsyncCollection
from pymongo.errors import DuplicateKeyError

from gridlink.db import insert_new

Document = dict[str, Any]
# Asked before an expired claim is taken over: False keeps it (e.g. the work it guarded is done).
MayTakeOver = Callable[[Document], Awaitable[bool]]


def _expired(held: Mapping[str, Any], now: datetime) -> bool:
    until = held.get("until")
    # A claim without a comparable expiry (written by an older layout) counts as expired.
    return not isinstance(until, datetime) or until.astimezone(UTC) <= now


async def take(coll: AsyncCollection[Document], key: str, *, holder: str, now: datetime,
               ttl: timedelta, fields: Mapping[str, Any] | None = None,
               may_take_over: MayTakeOver | None = None) -> bool:
    """Claim `key` for `holder` until `now + ttl`; False while someone else holds it. Taking a
    key one already holds renews it."""
    doc = {**(fields or {}), "_id": key, "holder": holder, "at": now, "until": now + ttl}
    for _ in range(2):
        try:
            await coll.insert_one(doc)
            return True
        except DuplicateKeyError:
            pass
        held = await coll.find_one({"_id": key})
        if held is None:
            continue  # released meanwhile: try again
        if not _expired(held, now):
            if held.get("holder") != holder:
                return False
            res = await coll.update_one({"_id": key, "holder": holder}, {"$set": {"until": now + ttl}})
            return res.matched_count == 1
        if may_take_over is not None and not await may_take_over(held):
            return False
        await coll.delete_one({"_id": key, "holder": held.get("holder"), "until": held.get("until")})
    return False


async def take_many(coll: AsyncCollection[Document], keys: Sequence[str], *, holder: str,
                    now: datetime, ttl: timedelta) -> set[str]:
    """`take` for many keys: one unordered insert for all of them; only the keys found held
    cost a read each (and a takeover where expired). Returns the keys won."""
    docs = [{"_id": k, "holder": holder, "at": now, "until": now + ttl} for k in keys]
    lost = await insert_new(coll, docs)
    won = {k for i, k in enumerate(keys) if i not in lost}
    for i in sorted(lost):
        if await take(coll, keys[i], holder=holder, now=now, ttl=ttl):
            won.add(keys[i])
    return won


async def release(coll: AsyncCollection[Document], key: str, *, holder: str) -> None:
    """Give the claim up at once (a clean stop), so nobody waits out its expiry."""
    await coll.delete_one({"_id": key, "holder": holder})


async def wait(coll: AsyncCollection[Document], key: str, *, holder: str, now: datetime,
               ttl: timedelta, within_s: float, every_s: float = 0.05) -> bool:
    """`take`, tried every `every_s` for up to `within_s` while another holds it; False if it
    never came free."""
    for _ in range(max(1, int(within_s / every_s))):
        if await take(coll, key, holder=holder, now=now, ttl=ttl):
            return True
        await asyncio.sleep(every_s)
    return False
