"""Helpers for the statistics tests."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

from gridlink.db import Database
from stats import repository as repo
from stats.rollups import fold


async def folded(db: Database, *, now: datetime) -> None:
    """Every logged change folded, by us or by the web app's background folder, which may hold
    the lease mid-round when we ask (its writes are done once the lease is free)."""
    for _ in range(200):  # bounded: a round takes milliseconds
        owner = uuid.uuid4().hex
        if await repo.take_lease(db, owner=owner, now=now.timestamp(), ttl=60):
            waiting = (await repo.log_state(db))[2]  # looked at while no folder can be mid-round
            await repo.release_lease(db, owner=owner)
            if not waiting:
                return
            await fold(db, now=now)
        else:
            await asyncio.sleep(0.025)
    raise AssertionError("the statistics log did not empty within 5 s")
