"""Database access for `cases`: keyword-only async functions raising domain errors."""

from __future__ import annotations

from gridlink.db import Database


async def ensure_indexes(db: Database) -> None:
    """Create this package's indexes (idempotent)."""
