"""gridlink.leases: the one claim/lease mechanism (stats folder, case version claims)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from gridlink import leases
from gridlink.db import Database

NOW = datetime(2026, 12, 2, 8, 0, tzinfo=UTC)
TTL = timedelta(seconds=60)


async def test_one_of_many_concurrent_takers_wins(db: Database) -> None:
    won = await asyncio.gather(*(leases.take(db.claims, "k", holder=f"h{i}", now=NOW, ttl=TTL)
                                 for i in range(8)))
    assert sum(won) == 1


async def test_an_expired_claim_is_taken_over_once_and_renewal_needs_a_valid_claim(db: Database) -> None:
    assert await leases.take(db.claims, "k", holder="a", now=NOW, ttl=TTL)
    assert await leases.take(db.claims, "k", holder="a", now=NOW + timedelta(seconds=30), ttl=TTL)  # renew
    assert not await leases.take(db.claims, "k", holder="b", now=NOW + timedelta(seconds=60), ttl=TTL)
    later = NOW + timedelta(seconds=100)
    won = await asyncio.gather(*(leases.take(db.claims, "k", holder=f"t{i}", now=later, ttl=TTL)
                                 for i in range(6)))
    assert sum(won) == 1
    assert not await leases.take(db.claims, "k", holder="a", now=later, ttl=TTL)  # lost it


async def test_a_takeover_can_be_refused_and_release_frees_at_once(db: Database) -> None:
    assert await leases.take(db.claims, "k", holder="a", now=NOW, ttl=TTL)

    async def done(_: dict) -> bool:
        return False

    later = NOW + timedelta(minutes=5)
    assert not await leases.take(db.claims, "k", holder="b", now=later, ttl=TTL, may_take_over=done)
    await leases.release(db.claims, "k", holder="b")  # not b's: stays
    assert not await leases.take(db.claims, "k", holder="b", now=NOW, ttl=TTL)
    await leases.release(db.claims, "k", holder="a")
    assert await leases.take(db.claims, "k", holder="b", now=NOW, ttl=TTL)


async def test_take_many_wins_the_free_and_the_expired(db: Database) -> None:
    assert await leases.take(db.claims, "held", holder="a", now=NOW, ttl=TTL)
    assert await leases.take(db.claims, "stale", holder="a", now=NOW - timedelta(hours=1), ttl=TTL)
    got = await leases.take_many(db.claims, ["free", "held", "stale"], holder="b", now=NOW, ttl=TTL)
    assert got == {"free", "stale"}
