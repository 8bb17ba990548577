"""Every package's indexes and seeded data, ensured at start: the one place that knows all
the packages' repositories (a composition root, like gridlink.app)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from bot import repository as bot_repo
from bot import roster
from cases import moderation
from cases import repository as cases_repo
from gridlink import auth, ratelimit
from gridlink.db import Database, make_client
from gridlink.settings import Settings
from grids import repository as grids_repo
from media import repository as media_repo
from notify import repository as notify_repo
from open311 import repository as open311_repo
from staff import audit
from staff import repository as staff_repo
from stats import repository as stats_repo

log = logging.getLogger(__name__)


async def ensure_indexes(db: Database) -> None:
    """Create every collection's indexes; idempotent, run at every start."""
    steps: list[Callable[[Database], Awaitable[None]]] = [
        auth.ensure_indexes,
        grids_repo.ensure_indexes,
        media_repo.ensure_indexes,
        cases_repo.ensure_indexes,
        notify_repo.ensure_indexes,
        bot_repo.ensure_indexes,
        open311_repo.ensure_indexes,
        staff_repo.ensure_indexes,
        stats_repo.ensure_indexes,
        ratelimit.ensure_indexes,
        moderation.ensure_indexes,
        roster.ensure_indexes,
        audit.ensure_indexes,
    ]
    for step in steps:
        await step(db)
    log.info("indexes ensured", extra={"db": db.name})


@asynccontextmanager
async def open_database(uri: str, settings: Settings) -> AsyncIterator[Database]:
    """The database for one command-line job: indexes ensured, the client closed afterwards."""
    client = make_client(uri, settings)
    try:
        db = client[settings.mongodb_db]
        await ensure_indexes(db)
        yield db
    finally:
        await client.close()
