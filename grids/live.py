"""The process's current grid index: loaded once, replaced when a new version is activated."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable

import numpy.typing as npt

from gridlink.db import Database
from grids import repository
from grids.placement import DEFAULT_TOLERANCE_M, BulkPlacement, EmptyGridIndex, GridIndex, Placement


class LiveGridIndex:
    """What `api.keys.GRID_INDEX` holds. `place` is synchronous and uses the index loaded last;
    `refresh` looks at the active-version pointer (at most every `check_every_s` unless forced)
    and builds the new version's index off the event loop when it changed."""

    def __init__(self, *, tolerance_m: float = DEFAULT_TOLERANCE_M, check_every_s: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.tolerance_m = tolerance_m
        self.check_every_s = check_every_s
        self._monotonic = monotonic
        self._index: GridIndex | EmptyGridIndex = EmptyGridIndex()
        self._checked_at = -math.inf
        self._lock = asyncio.Lock()

    @property
    def index(self) -> GridIndex | EmptyGridIndex:
        return self._index

    @property
    def version(self) -> int | None:
        return self._index.version

    def place(self, lon: float, lat: float) -> Placement:
        return self._index.place(lon, lat)

    def place_many(self, lons: npt.ArrayLike, lats: npt.ArrayLike) -> BulkPlacement:
        return self._index.place_many(lons, lats)

    async def refresh(self, db: Database, *, force: bool = False) -> bool:
        """Load the active version if it is not the one loaded; True when the index changed."""
        if not force and self._monotonic() - self._checked_at < self.check_every_s:
            return False
        async with self._lock:
            if not force and self._monotonic() - self._checked_at < self.check_every_s:
                return False  # another task checked while this one waited
            version = await repository.active_version(db)
            if version == self.version:
                self._checked_at = self._monotonic()
                return False
            if version is None:
                self._index = EmptyGridIndex()
            else:
                loaded, units = await repository.load_units(db)
                self._index = await asyncio.to_thread(
                    GridIndex, units, version=loaded, tolerance_m=self.tolerance_m)
            self._checked_at = self._monotonic()
            return True
