"""Database access for `stats`: keyword-only async functions.

FerretDB v1 with SQLite answers every lookup, `_id` equality included, by scanning the
collection (its indexes are not used for queries), so a lookup costs in proportion to the
collection's size. Statistics therefore live in many small collections whose sizes do not grow
with the number of cases:
- `stats_M2026_11` / `stats_D2026_11_27`: one collection per month and per day, holding a
  rollup document per (by, filter): `{_id: "<by>|<filter>", v: {<value>: {<measure>: n}}}`;
- `stats_open`: one document per street and per line department,
  `{_id: "street:<code>", cases: "<JSON {case_id: entry}>", v: int}`, the unit's open cases
  in one string field (one value to decode however many there are).
"""

from __future__ import annotations

import asyncio
import json
from array import array
from collections.abc import Iterable, Mapping
from typing import Any

from pymongo import UpdateOne
from pymongo.errors import DuplicateKeyError

from gridlink.db import Database, Document

OPEN = "stats_open"
SUMMARY = "stats_open_sum"
PREFIX = "stats_"
# A few lookups at a time: each is a scan on the server; an unbounded fan-out would also open
# a connection per lookup.
LOOKUP_CONCURRENCY = 6


def locate(key: str) -> tuple[str, str]:
    """Rollup key `<period>|<by>|<filter>` → (collection, document id). The unfiltered
    documents (boards, plain hotspots, headline) get their own tiny collection per period;
    filtered ones (`cat=`, `ch=`, `st=`) the period's `_f` collection."""
    period, _, inner = key.partition("|")
    filt = inner.split("|", 1)[1]
    return PREFIX + period.replace("-", "_") + ("" if filt == "*" else "_f"), inner


def key_of(collection: str, doc_id: str) -> str:
    period = collection.removeprefix(PREFIX).removesuffix("_f")
    period = period[0] + period[1:].replace("_", "-")
    return f"{period}|{doc_id}"


def is_rollup_collection(name: str) -> bool:
    return name.startswith(PREFIX + "M") or name.startswith(PREFIX + "D")


async def ensure_indexes(db: Database) -> None:
    """Nothing beyond `_id`: every lookup is by `_id`."""


async def _gather(coros: Iterable[Any]) -> list[Any]:
    gate = asyncio.Semaphore(LOOKUP_CONCURRENCY)

    async def one(coro: Any) -> Any:
        async with gate:
            return await coro

    return list(await asyncio.gather(*(one(c) for c in coros)))


async def inc_rollups(db: Database, *, changes: Mapping[str, Mapping[str, int]]) -> None:
    """One unordered bulk write per collection (a transition touches a day's and a month's)."""
    by_coll: dict[str, list[UpdateOne]] = {}
    for key, fields in changes.items():
        coll, doc_id = locate(key)
        by_coll.setdefault(coll, []).append(UpdateOne({"_id": doc_id}, {"$inc": dict(fields)}, upsert=True))
    await _gather(db[coll].bulk_write(ops, ordered=False) for coll, ops in by_coll.items())


async def rollup_docs(db: Database, *, ids: Iterable[str]) -> dict[str, dict[str, dict[str, int]]]:
    """`{key: v}` for the rollup keys that exist."""
    wanted = list(dict.fromkeys(ids))
    docs = await _gather(db[locate(k)[0]].find_one({"_id": locate(k)[1]}) for k in wanted)
    return {k: d.get("v") or {} for k, d in zip(wanted, docs, strict=True) if d is not None}


async def all_rollups(db: Database) -> dict[str, dict[str, dict[str, int]]]:
    out: dict[str, dict[str, dict[str, int]]] = {}
    for name in await db.list_collection_names():
        if is_rollup_collection(name):
            async for d in db[name].find({}):
                out[key_of(name, d["_id"])] = d.get("v") or {}
    return out


async def open_docs(db: Database, *, ids: Iterable[str]) -> dict[str, dict[str, list[Any]]]:
    """`{list id: {case_id: entry}}` for each id (missing → empty)."""
    wanted = list(dict.fromkeys(ids))
    docs = await _gather(db[OPEN].find_one({"_id": i}) for i in wanted)
    return {i: (json.loads(d["cases"]) if d else {}) for i, d in zip(wanted, docs, strict=True)}


async def all_open(db: Database) -> dict[str, dict[str, list[Any]]]:
    """Every open list in one pass over the (small) collection."""
    return {d["_id"]: json.loads(d["cases"]) async for d in db[OPEN].find({})}


def open_doc(list_id: str, cases: Mapping[str, list[Any]], version: int = 1) -> Document:
    """An open list's document: the entries as one JSON string, plus the summary that is also
    kept in `stats_open_sum` for the district board, so its cost does not grow with the open
    cases: the sorted warn and due times packed as float64 bytes, and the earliest due case."""
    inf = float("inf")
    warn = sorted(e[1] if e[1] is not None else inf for e in cases.values())
    due = sorted(e[2] if e[2] is not None else inf for e in cases.values())
    first = min(((e[2], e[0], cid) for cid, e in cases.items() if e[2] is not None), default=None)
    return {"_id": list_id, "v": version, "n": len(cases),
            "cases": json.dumps(cases, ensure_ascii=False, separators=(",", ":")),
            "warn": array("d", warn).tobytes(), "due": array("d", due).tobytes(),
            "oldest": list(first) if first else None}


def summary_of(doc: Mapping[str, Any]) -> dict[str, Any]:
    warn, due = array("d"), array("d")
    warn.frombytes(doc["warn"])
    due.frombytes(doc["due"])
    return {"n": doc["n"], "warn": warn, "due": due, "oldest": doc.get("oldest")}


def _summary_doc(doc: Document) -> Document:
    return {k: v for k, v in doc.items() if k != "cases"}


async def open_summaries(db: Database) -> dict[str, dict[str, Any]]:
    """Every open list's summary (one pass over a collection of ~35 small documents)."""
    return {d["_id"]: summary_of(d) async for d in db[SUMMARY].find({})}


async def _write_summary(db: Database, doc: Document) -> None:
    """Store the summary unless a newer version is already there (writers may finish out of order)."""
    try:
        await db[SUMMARY].replace_one({"_id": doc["_id"], "v": {"$lt": doc["v"]}}, _summary_doc(doc),
                                      upsert=True)
    except DuplicateKeyError:
        pass  # a newer summary is stored


async def set_open(db: Database, *, list_id: str, case_id: str, entry: list[Any] | None) -> None:
    """Put (or with None remove) one case in an open list; optimistic, retried on races."""
    for _ in range(50):
        doc = await db[OPEN].find_one({"_id": list_id})
        cases: dict[str, Any] = json.loads(doc["cases"]) if doc else {}
        if entry is None:
            if case_id not in cases:
                return
            cases.pop(case_id)
        else:
            if cases.get(case_id) == entry:
                return
            cases[case_id] = entry
        if doc is None:
            new = open_doc(list_id, cases)
            try:
                await db[OPEN].insert_one(new)
            except DuplicateKeyError:
                continue
            await _write_summary(db, new)
            return
        new = open_doc(list_id, cases, doc["v"] + 1)
        res = await db[OPEN].replace_one({"_id": list_id, "v": doc["v"]}, new)
        if res.matched_count == 1:
            await _write_summary(db, new)
            return
    raise RuntimeError(f"open list {list_id} keeps changing")  # pragma: no cover


async def replace_all(db: Database, *, rollups: Mapping[str, Mapping[str, Any]],
                      open_lists: Mapping[str, Mapping[str, Any]]) -> None:
    """Replace every statistics collection with freshly computed contents (`stats rebuild`)."""
    for name in await db.list_collection_names():
        if is_rollup_collection(name) or name in (OPEN, SUMMARY):
            await db.drop_collection(name)
    by_coll: dict[str, list[Document]] = {}
    for key, v in rollups.items():
        coll, doc_id = locate(key)
        by_coll.setdefault(coll, []).append({"_id": doc_id, "v": v})
    # One writer at a time: SQLite serialises writes anyway, and parallel big inserts only
    # queue up behind each other until the socket timeout.
    for coll, docs in by_coll.items():
        for i in range(0, len(docs), 500):
            await db[coll].insert_many(docs[i:i + 500], ordered=False)
    opens = [open_doc(k, v) for k, v in open_lists.items()]
    if opens:
        await db[OPEN].insert_many(opens, ordered=False)
        await db[SUMMARY].insert_many([_summary_doc(d) for d in opens], ordered=False)


def iter_cases(db: Database, *, batch: int = 2000) -> Any:
    """Every case, with only the fields the statistics read."""
    projection = {"description": 0, "photos": 0, "result_photos": 0, "reporter": 0,
                  "followers": 0, "location": 0}
    return db.cases.find({}, projection, batch_size=batch)


async def units(db: Database) -> list[Document]:
    """Every unit of the active grid with its geometry (read once per process and cached by
    `stats.units`). Through grids: `units` is versioned (`_id` = "<version>:<code>")."""
    from grids import repository as grids_repo

    _, found = await grids_repo.load_units(db)
    return found
