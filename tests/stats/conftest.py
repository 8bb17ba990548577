"""Helpers for the statistics tests."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime

from gridlink.app import wire_domains
from gridlink.db import Database
from stats import repository as repo
from stats.rollups import _fold

# The statistics come from the case change log: tests that change cases without the app
# register its deriver as every process does.
wire_domains()


async def folded(db: Database, *, now: datetime) -> None:
    """Every logged change folded, up to this moment, by us under the folder's lease (the web
    app's background folder may hold it mid-round when we ask: we wait for it)."""
    owner = uuid.uuid4().hex
    for _ in range(200):  # bounded: a round takes milliseconds
        if await repo.take_lease(db, owner=owner, now=now.timestamp(), ttl=60):
            try:
                await _fold(db, now=now, batch=2000, settled=False)
            finally:
                await repo.release_lease(db, owner=owner)
            return
        await asyncio.sleep(0.025)
    raise AssertionError("the statistics folder kept its lease for 5 s")
