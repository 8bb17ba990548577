"""Database access for `stats`: keyword-only async functions.

Collections (all looked up by `_id` only):
- `stats_rollups` `{_id: "<period>|<by>|<filter>", v: {<value>: {<measure>: n}}}`;
- `stats_open` `{_id: "<level>:<unit>", cases: "<JSON {case_id: entry}>", v: int}` — the open
  cases of a unit, one string field so a board reads one value per unit whatever the count;
- `stats_cases` `{_id: case_id, version, facts, open, units}` — what the rollups currently
  count for each case, so an update moves exactly the difference.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterable, Mapping
from typing import Any

from pymongo.errors import DuplicateKeyError

from gridlink.db import Database, Document

ROLLUPS = "stats_rollups"
OPEN = "stats_open"
APPLIED = "stats_cases"


async def ensure_indexes(db: Database) -> None:
    """Nothing beyond `_id`: every lookup is by `_id`."""


async def applied(db: Database, *, case_id: str) -> Document | None:
    return await db[APPLIED].find_one({"_id": case_id})


async def claim_applied(db: Database, *, previous: Document | None, record: Document) -> bool:
    """Replace the case's applied record if nobody else did since `previous` was read."""
    if previous is None:
        try:
            await db[APPLIED].insert_one(record)
        except DuplicateKeyError:
            return False
        return True
    res = await db[APPLIED].replace_one({"_id": record["_id"], "version": previous["version"]}, record)
    return res.matched_count == 1


async def inc_rollups(db: Database, *, changes: Mapping[str, Mapping[str, int]]) -> None:
    await asyncio.gather(*(db[ROLLUPS].update_one({"_id": doc}, {"$inc": dict(fields)}, upsert=True)
                           for doc, fields in changes.items()))


async def rollup_docs(db: Database, *, ids: Iterable[str]) -> dict[str, dict[str, dict[str, int]]]:
    """`{doc_id: v}` for the ids that exist (concurrent `_id` lookups)."""
    wanted = list(dict.fromkeys(ids))
    docs = await asyncio.gather(*(db[ROLLUPS].find_one({"_id": i}) for i in wanted))
    return {d["_id"]: d.get("v") or {} for d in docs if d is not None}


async def all_rollups(db: Database) -> dict[str, dict[str, dict[str, int]]]:
    return {d["_id"]: d.get("v") or {} async for d in db[ROLLUPS].find({})}


async def open_docs(db: Database, *, ids: Iterable[str]) -> dict[str, dict[str, list[Any]]]:
    """`{registry id: {case_id: entry}}` for each id (missing → empty)."""
    wanted = list(dict.fromkeys(ids))
    docs = await asyncio.gather(*(db[OPEN].find_one({"_id": i}) for i in wanted))
    return {i: (json.loads(d["cases"]) if d else {}) for i, d in zip(wanted, docs, strict=True)}


async def set_open(db: Database, *, registry_id: str, case_id: str, entry: list[Any] | None) -> None:
    """Put (or with None remove) one case in a unit's open list; optimistic, retried on races."""
    for _ in range(50):
        doc = await db[OPEN].find_one({"_id": registry_id})
        cases: dict[str, Any] = json.loads(doc["cases"]) if doc else {}
        if entry is None:
            if case_id not in cases:
                return
            cases.pop(case_id)
        else:
            if cases.get(case_id) == entry:
                return
            cases[case_id] = entry
        body = json.dumps(cases, ensure_ascii=False, separators=(",", ":"))
        if doc is None:
            try:
                await db[OPEN].insert_one({"_id": registry_id, "cases": body, "v": 1})
                return
            except DuplicateKeyError:
                continue
        res = await db[OPEN].update_one({"_id": registry_id, "v": doc["v"]},
                                        {"$set": {"cases": body}, "$inc": {"v": 1}})
        if res.matched_count == 1:
            return
    raise RuntimeError(f"open-case list {registry_id} keeps changing")  # pragma: no cover


async def all_open(db: Database) -> dict[str, dict[str, list[Any]]]:
    return {d["_id"]: json.loads(d["cases"]) async for d in db[OPEN].find({})}


async def replace_all(db: Database, *, rollups: Mapping[str, Mapping[str, Any]],
                      open_lists: Mapping[str, Mapping[str, Any]], applied_records: list[Document],
                      batch: int = 5000) -> None:
    """Replace every statistics collection with freshly computed contents (`stats rebuild`)."""
    for name in (ROLLUPS, OPEN, APPLIED):
        await db[name].delete_many({})
    docs = [{"_id": k, "v": v} for k, v in rollups.items()]
    for i in range(0, len(docs), batch):
        await db[ROLLUPS].insert_many(docs[i:i + batch], ordered=False)
    opens = [{"_id": k, "cases": json.dumps(v, ensure_ascii=False, separators=(",", ":")), "v": 1}
             for k, v in open_lists.items()]
    for i in range(0, len(opens), batch):
        await db[OPEN].insert_many(opens[i:i + batch], ordered=False)
    for i in range(0, len(applied_records), batch):
        await db[APPLIED].insert_many(applied_records[i:i + batch], ordered=False)


def iter_cases(db: Database, *, batch: int = 2000) -> Any:
    """Every case, with only the fields the statistics read."""
    projection = {"description": 0, "photos": 0, "result_photos": 0, "reporter": 0,
                  "followers": 0, "location": 0}
    return db.cases.find({}, projection, batch_size=batch)


async def units(db: Database) -> list[Document]:
    return await db.units.find({}, {"geometry": 0}).to_list(None)


async def unit_geometry(db: Database, *, codes: Iterable[str]) -> list[Document]:
    return [d for d in await asyncio.gather(*(db.units.find_one({"_id": c}) for c in codes)) if d]
