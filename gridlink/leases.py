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
        # One taker per expired claim wins a ticket (a unique insert) before deleting it:
        # FerretDB v1 deletes by `_id` after reading the filter's match, unisolated, so two
        # filtered deletes could remove a claim a third taker had just inserted.
        ticket = f"{key}~takeover~{held.get('holder')}~{held.get('until')}"
        try:
            await coll.insert_one({"_id": ticket, "holder": holder, "at": now, "until": now + ttl})
        except DuplicateKeyError:
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


# ---------------------------------------------------------------- fenced claims (generations)
#
# Work items that a taker must fence off from a slow former holder carry a generation: the
# claim `<prefix>:<id>:<generation>` is won by insert, and an expired one is taken over by
# claiming the next generation, which the taker then writes on the item; the former holder's
# final write, conditional on its own generation, no longer matches.


async def take_generations(coll: AsyncCollection[Document], *, prefix: str, gens: Mapping[str, int],
                           holder: str, now: datetime, ttl: timedelta) -> dict[str, int]:
    """Claim each id at its generation, or at the next one where that claim expired. Returns
    the won ids with their generation. The common path is one insert for all of them."""
    until = now + ttl

    async def win(wanted: Mapping[str, int]) -> dict[str, int]:
        keys = [f"{prefix}:{i}:{g}" for i, g in wanted.items()]
        if not keys:
            return {}
        docs = [{"_id": k, "holder": holder, "at": now, "until": until} for k in keys]
        lost = await insert_new(coll, docs)
        return {i: g for n, (i, g) in enumerate(wanted.items()) if n not in lost}

    out = await win(gens)
    retry: dict[str, int] = {}
    for i, g in gens.items():
        if i not in out:
            held = await coll.find_one({"_id": f"{prefix}:{i}:{g}"})
            if held is not None and _expired(held, now):
                retry[i] = g + 1
    out.update(await win(retry))
    return out


# ---------------------------------------------------------------- terms (a leader per name)


async def _current_term(coll: AsyncCollection[Document], name: str) -> Document | None:
    return await coll.find_one({"name": name}, sort=[("term", -1)])


async def take_term(coll: AsyncCollection[Document], name: str, *, holder: str, now: datetime,
                    ttl: timedelta) -> datetime | None:
    """Take or renew the lead `name`; its expiry while `holder` holds it, else None.

    Leadership comes in terms, each a document `<name>:<term>` won by insert. The holder renews
    its own term while it is valid; once a term has expired anyone may win the next one, and
    its old holder never renews it again.
    """
    current = await _current_term(coll, name)
    until = now + ttl
    if current is not None and current["until"] >= now:
        if current["holder"] != holder:
            return None
        await coll.update_one({"_id": current["_id"]}, {"$set": {"until": until, "renewed_at": now}})
        latest = await _current_term(coll, name)
        return until if latest is not None and latest["_id"] == current["_id"] else None
    term = int(current["term"]) + 1 if current is not None else 1
    try:
        await coll.insert_one({"_id": f"{name}:{term}", "name": name, "term": term,
                               "holder": holder, "until": until, "started_at": now})
    except DuplicateKeyError:
        return None
    return until


async def release_term(coll: AsyncCollection[Document], name: str, *, holder: str) -> None:
    """Give up the lead at once (a clean stop), so another need not wait out the TTL."""
    current = await _current_term(coll, name)
    if current is not None and current["holder"] == holder:
        await coll.update_one({"_id": current["_id"]},
                              {"$set": {"until": datetime(1970, 1, 1, tzinfo=UTC)}})
