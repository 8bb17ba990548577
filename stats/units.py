"""Names and parent/child links of the units, loaded once per process (they change rarely)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any

from gridlink.db import Database
from stats import repository as repo

TTL_S = 300.0
BLOCK_LEVELS = ("community_block", "street_block")


@dataclass
class Directory:
    name: dict[str, str] = field(default_factory=dict)
    name_en: dict[str, str] = field(default_factory=dict)
    level: dict[str, str] = field(default_factory=dict)
    parent: dict[str, str | None] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)
    geometry: dict[str, dict[str, Any]] = field(default_factory=dict)  # blocks only
    loaded_at: float = 0.0
    _of_level: dict[str, list[str]] = field(default_factory=dict, repr=False)

    def add(self, code: str, level: str, name: str, parent: str | None, name_en: str | None = None) -> None:
        self.name[code] = name
        self.name_en[code] = name_en or name
        self.level[code] = level
        self._of_level.clear()
        self.parent[code] = parent
        if parent:
            self.children.setdefault(parent, []).append(code)

    def of_level(self, level: str) -> list[str]:
        """The codes of a level, sorted (computed once: boards ask on every request)."""
        found = self._of_level.get(level)
        if found is None:
            found = self._of_level[level] = sorted(c for c, lv in self.level.items() if lv == level)
        return list(found)

    def street_of(self, code: str) -> str | None:
        while code and self.level.get(code) not in (None, "street"):
            code = self.parent.get(code) or ""
        return code if self.level.get(code) == "street" else None


_cache: dict[str, Directory] = {}
_loading: dict[str, asyncio.Lock] = {}


def demo_directory(district: str = "310101") -> Directory:
    """The synthetic demo district's units (used when no grid has been loaded)."""
    from grids.demo import demo_feature_collection
    from grids.units import department_units

    d = Directory()
    for feat in demo_feature_collection(district=district)["features"]:
        p = feat["properties"]
        d.add(p["code"], p["level"], p.get("name") or p["code"], p.get("parent"), p.get("name_en"))
        if p["level"] in BLOCK_LEVELS and feat.get("geometry"):
            d.geometry[p["code"]] = feat["geometry"]
    for u in department_units(district):
        d.add(u["code"], u["level"], u["name_zh"], u["parent"], u.get("name_en"))
    return d


async def directory(db: Database, *, district: str = "310101") -> Directory:
    """The units, from memory; reloaded every `TTL_S` by one request while the others go on
    with the previous copy (a load reads every unit's geometry: long enough under load that
    requests queueing for it made the dashboard's worst latencies)."""
    cached = _cache.get(db.name)
    if cached and time.monotonic() - cached.loaded_at < TTL_S:
        return cached
    lock = _loading.setdefault(db.name, asyncio.Lock())
    if cached and lock.locked():
        return cached
    async with lock:
        again = _cache.get(db.name)
        if again is not None and again is not cached:
            return again
        d = await _load(db, district)
        _cache[db.name] = d
        return d


async def _load(db: Database, district: str) -> Directory:
    docs: list[dict[str, Any]] = await repo.units(db)
    if docs:
        d = Directory()
        for u in docs:
            d.add(u["code"], u["level"], u.get("name_zh") or u["code"], u.get("parent"), u.get("name_en"))
            if u["level"] in BLOCK_LEVELS and u.get("geometry"):
                d.geometry[u["code"]] = u["geometry"]
    else:
        d = demo_directory(district)
    d.loaded_at = time.monotonic()
    return d
