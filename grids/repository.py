"""Database access for `grids`: keyword-only async functions raising domain errors.

Grid versions: an import writes its units under a new version number
(`units._id = "<version>:<code>"`), then flips the `grid_meta` document `active` in one
update. Readers read the pointer first and then only that version's units, so they never see
a mix. The version active just before stays (readers may still be reading it); older ones
are deleted after each flip.

Geometries are stored as GeoJSON text in `geojson` (FerretDB v1 cannot store nested arrays);
the functions here return units with `geometry` parsed back into a GeoJSON mapping.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from pymongo import ASCENDING, ReturnDocument
from pymongo.errors import DuplicateKeyError

from gridlink.db import Database
from gridlink.errors import Conflict, InvalidInput
from grids.chain import ChainLevel
from grids.chain import chain_of_command as _chain
from grids.errors import UnitNotFound
from grids.importer import ImportedGrid
from grids.units import (
    COMMUNITY_BLOCK,
    DEPARTMENT,
    DISTRICT,
    PATROL_ZONE,
    STREET,
    STREET_BLOCK,
    WORKSTATION,
    Unit,
)

ROLES: dict[str, tuple[str, ...]] = {
    "coordinator": (COMMUNITY_BLOCK, STREET_BLOCK, WORKSTATION, PATROL_ZONE),
    "leader": (COMMUNITY_BLOCK, STREET_BLOCK),
    "station_head": (WORKSTATION, PATROL_ZONE),
    "dispatcher": (STREET, DISTRICT),
    "department": (DEPARTMENT,),
    # a department's head: its cases' first escalation level (notify.recipients)
    "department_head": (DEPARTMENT,),
}
# Roles one person may hold beside their main one: a station head or block leader who also
# patrols as a coordinator (DESIGN §3). The main role decides escalations, lists and who sees
# what; the extra one lets them report as the patrol does.
ALSO_ROLES: dict[str, tuple[str, ...]] = {"station_head": ("coordinator",),
                                          "leader": ("coordinator",)}
_BATCH = 500
_NO_GEOMETRY = {"geojson": 0}


async def ensure_indexes(db: Database) -> None:
    """Create this package's indexes (idempotent)."""
    await db.units.create_index([("version", ASCENDING), ("code", ASCENDING)])
    await db.units.create_index([("version", ASCENDING), ("level", ASCENDING), ("code", ASCENDING)])
    await db.units.create_index([("version", ASCENDING), ("parent", ASCENDING), ("code", ASCENDING)])
    await db.roster.create_index([("user_id", ASCENDING)], unique=True)
    await db.roster.create_index([("unit", ASCENDING), ("role", ASCENDING)])
    await db.roster.create_index([("also_unit", ASCENDING)])


# --- versions -------------------------------------------------------------------------------

async def active_version(db: Database) -> int | None:
    doc = await db.grid_meta.find_one({"_id": "active"})
    return int(doc["version"]) if doc else None


async def install_grid(db: Database, *, grid: ImportedGrid, source: str, now: datetime) -> int:
    """Write a validated grid as a new version and make it the active one; returns the version."""
    seq = await db.grid_meta.find_one_and_update(
        {"_id": "seq"}, {"$inc": {"n": 1}}, upsert=True, return_document=ReturnDocument.AFTER)
    assert seq is not None  # upsert with ReturnDocument.AFTER always returns the document
    version = int(seq["n"])
    await db.grid_versions.insert_one({
        "_id": version, "state": "writing", "created_at": now, "source": source,
        "district": grid.district, "counts": grid.counts(), "units": len(grid.units)})
    try:
        docs = [_stored(unit, version) for unit in grid.units]
        for start in range(0, len(docs), _BATCH):
            await db.units.insert_many(docs[start:start + _BATCH], ordered=False)
        await db.grid_versions.update_one({"_id": version}, {"$set": {"state": "ready"}})
        previous = await _flip(db, version=version, now=now)
    except BaseException:
        await _drop_version(db, version)
        raise
    # Keep the version readers may still be on; drop everything older (and abandoned writes).
    stale: dict[str, Any] = {"$lt": version}
    if previous is not None:
        stale["$ne"] = previous
    await db.units.delete_many({"version": stale})
    await db.grid_versions.delete_many({"_id": stale})
    return version


async def _flip(db: Database, *, version: int, now: datetime) -> int | None:
    """Point `active` at `version` unless a newer version got there first (then Conflict)."""
    while True:
        current = await db.grid_meta.find_one({"_id": "active"})
        if current is None:
            try:
                await db.grid_meta.insert_one({"_id": "active", "version": version,
                                               "previous": None, "activated_at": now})
                return None
            except DuplicateKeyError:
                continue
        if current["version"] > version:
            raise Conflict(f"grid version {current['version']} was activated while version "
                           f"{version} was being written; import again")
        result = await db.grid_meta.update_one(
            {"_id": "active", "version": current["version"]},
            {"$set": {"version": version, "previous": current["version"], "activated_at": now}})
        if result.modified_count == 1:
            return int(current["version"])


async def _drop_version(db: Database, version: int) -> None:
    await db.units.delete_many({"version": version})
    await db.grid_versions.delete_many({"_id": version})


async def load_units(db: Database, *, geometry: bool = True) -> tuple[int | None, list[Unit]]:
    """The active version and all its units (empty when no grid is loaded)."""
    for _ in range(5):
        version = await active_version(db)
        if version is None:
            return None, []
        meta = await db.grid_versions.find_one({"_id": version})
        units = [_public(doc) async for doc in db.units.find(
            {"version": version}, None if geometry else _NO_GEOMETRY)]
        # A version deleted under us (two imports since we read the pointer): read again.
        if meta is not None and len(units) == meta["units"]:
            return version, units
    raise Conflict("the grid changed repeatedly while being read; try again")


def _stored(unit: Unit, version: int) -> dict[str, Any]:
    doc = {k: v for k, v in unit.items() if k != "geometry"}
    doc.update(_id=f"{version}:{unit['code']}", version=version)
    if unit.get("geometry") is not None:
        doc["geojson"] = json.dumps(unit["geometry"], separators=(",", ":"))
    return doc


def _public(doc: dict[str, Any]) -> Unit:
    doc.pop("_id", None)
    text = doc.pop("geojson", None)
    if text is not None:
        doc["geometry"] = json.loads(text)
    return doc


async def get_unit(db: Database, *, code: str, geometry: bool = True) -> Unit:
    version = await active_version(db)
    doc = None
    if version is not None:
        doc = await db.units.find_one({"_id": f"{version}:{code}"}, None if geometry else _NO_GEOMETRY)
    if doc is None:
        raise UnitNotFound(f"no unit {code} in the active grid")
    return _public(doc)


async def find_unit(db: Database, *, code: str, geometry: bool = False) -> Unit | None:
    """A unit of the active version, or None (where `get_unit` would raise UnitNotFound)."""
    try:
        return await get_unit(db, code=code, geometry=geometry)
    except UnitNotFound:
        return None


async def find_units(db: Database, *, codes: Iterable[str] | None = None,
                     geometry: bool = False) -> list[Unit]:
    """Units of the active version (all of them, or those with `codes`), by code."""
    version = await active_version(db)
    if version is None:
        return []
    query: dict[str, Any] = {"version": version}
    if codes is not None:
        query = {"_id": {"$in": [f"{version}:{c}" for c in codes]}}
    cursor = db.units.find(query, None if geometry else _NO_GEOMETRY).sort("code", ASCENDING)
    return [_public(doc) async for doc in cursor]


async def list_units(db: Database, *, level: str | None = None, parent: str | None = None,
                     after: str | None = None, limit: int = 100) -> tuple[int | None, list[Unit]]:
    """One page of units of the active version, by code, without geometry."""
    version = await active_version(db)
    if version is None:
        return None, []
    query: dict[str, Any] = {"version": version}
    if level is not None:
        query["level"] = level
    if parent is not None:
        query["parent"] = parent
    if after is not None:
        query["code"] = {"$gt": after}
    cursor = db.units.find(query, _NO_GEOMETRY).sort("code", ASCENDING).limit(limit)
    return version, [_public(doc) async for doc in cursor]


# --- roster ---------------------------------------------------------------------------------

def check_also(role: str, also_role: str) -> None:
    if also_role not in ALSO_ROLES.get(role, ()):
        raise InvalidInput(f"a {role} cannot also be a {also_role}")


async def _check_level(db: Database, role: str, unit: str) -> None:
    found = await get_unit(db, code=unit, geometry=False)
    if found["level"] not in ROLES[role]:
        raise InvalidInput(f"a {role} is bound to a {' or '.join(ROLES[role])}, "
                           f"but {unit} is a {found['level']}")


async def bind(db: Database, *, user_id: int, chat_id: int, role: str, unit: str, name: str,
               locale: str, now: datetime | None = None, also_role: str | None = None,
               also_unit: str | None = None) -> dict[str, Any]:
    """Bind a chat user to a role in a unit (replacing their previous binding), and
    optionally to a second role that ALSO_ROLES allows beside it (in its own unit)."""
    if role not in ROLES:
        raise InvalidInput(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    await _check_level(db, role, unit)
    doc = {"_id": user_id, "user_id": user_id, "chat_id": chat_id, "role": role, "unit": unit,
           "name": name, "locale": locale, "bound_at": now}
    if also_role is not None:
        check_also(role, also_role)
        await _check_level(db, also_role, also_unit or "")
        doc.update(also_role=also_role, also_unit=also_unit)
    await db.roster.replace_one({"_id": user_id}, doc, upsert=True)
    return doc


async def unbind(db: Database, *, user_id: int) -> bool:
    result = await db.roster.delete_one({"_id": user_id})
    return result.deleted_count == 1


async def members(db: Database, *, unit: str, role: str | None = None) -> list[dict[str, Any]]:
    query: dict[str, Any] = {"unit": unit}
    if role is not None:
        query["role"] = role
    return [doc async for doc in db.roster.find(query).sort([("name", ASCENDING), ("user_id", ASCENDING)])]


async def also_members(db: Database, *, unit: str) -> list[dict[str, Any]]:
    """Members holding their second role (ALSO_ROLES) in `unit`."""
    docs = [doc async for doc in db.roster.find({"also_unit": unit})]
    return sorted(docs, key=lambda d: (d.get("name", ""), d["user_id"]))


async def membership(db: Database, *, user_id: int) -> dict[str, Any] | None:
    return await db.roster.find_one({"_id": user_id})


async def chain_of_command(db: Database, *, block: str) -> list[ChainLevel]:
    """Block leader(s) → station head(s) → street dispatchers → district dispatchers."""
    units: dict[str, Unit] = {}
    code: str | None = block
    while code is not None:
        unit = await get_unit(db, code=code, geometry=False)
        units[code] = unit
        code = unit.get("parent")
    roster = [doc async for doc in db.roster.find({"unit": {"$in": list(units)}})]
    return _chain(block, units, roster)
