"""The keys the desk's queues, counts and a unit's open cases are read by, at any number of cases.

On the embedded server a list is fast only as an equality or `$in` on a top-level scalar field
(array membership, ranges, `$or` and sorts read the whole collection), and a count reads every
document it counts. So each open case (and each low-rated closed one) keeps small documents in
`case_keys`, `{_id: "<key>#<case id>", k: key, c: case id}`, one per list it belongs to:

- `q:<queue>:<unit>` for each unit of its `units` (the scopes' units, the district included),
  except for UNKEYED_QUEUES, read by the case's own `queue` field;
- `r:<unit>` for each unit once its step is overdue (red);
- `a:<unit>` for the unit it is assigned to while open;
- `q:auto:<unit>` for each unit of its `units` while an automatic assignment runs;
- for a joint case (cases.joint) each unit on its own clock (`colour.unit_due`): `a:<unit>`
  and `r:<unit>` for each open part's unit too, and `d:<hour>` for each open part's due hour,
  read by `sweep_red` beside the cases' own `due_hour`.

Counts are one document per unit in `counters`, `{_id: "keys:<unit>", "<key kind>": n}`
(`q_returned`, `r`, `a`, `q_auto`, …), moved by `$inc` where the keys are written, by the
number of keys each write actually stored or deleted (a duplicate insert or a delete of a key
another writer removed first counts nothing), so a desk page reads one document for all its
counts at any number of cases. Pages read one page of keys, then the cases by `_id`. The keys
follow every write of the case (intake, `lifecycle._commit`, migrations); red ones are added
when time passes a deadline by `sweep_red`, which reads only the cases due in the hours since
its last sweep (`due_hour`, indexed) and, at most once a minute, those due earlier in the
current hour, and is run by the pages that show red. A red key also holds `b: "r:<unit>|<creation hour>"` (indexed), so a
list of red cases newest first walks back the creation hours of red cases only.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

from cases.colour import open_parts, unit_due
from cases.model import OPEN_STATES
from cases.schema import BUCKETS, LIST_OMIT, derived, hour_of, read_case
from gridlink.db import Database, Document, insert_new

# Queues read by their case field (`queue`, a scalar, indexed) instead of keys: a case waits
# in "new" only until it is dispatched (minutes), so the queue stays small at any number of
# cases, and an intake writes no key (the case, its change-log entry and the serial only).
UNKEYED_QUEUES = ("new",)
COUNT_CAP = 100  # a count of this many shows as "99+": reading more would grow with the cases
SWEEP = "desk:red_swept_hour"
AUTO_STATES = ("dispatched", "in_progress")  # an automatic assignment the center may take back
IN_CHUNK = 400
SWEEP_NOW_EVERY_S = 60
FIRST_SWEEP_HOURS = 48  # the server pushes `$in` lists of up to 500 values down to the index
LISTS_VERSION = 2  # the keys' shape (2: counted per unit, red keys bucketed by creation hour)
COUNTS = "keys:"  # + unit: the counters document of a unit's lists
UNCOUNTED = ("d:",)  # a joint case's part due in an hour (`d:<hour>`): read by the sweep, not shown
COUNTED = "keys:counted"  # the counts were built from the keys (databases keyed before them)


async def set_counter(db: Database, key: str, fields: Mapping[str, Any]) -> None:
    """`$set` on a counters document, creating it (two first upserts race on FerretDB)."""
    try:
        await db.counters.update_one({"_id": key}, {"$set": dict(fields)}, upsert=True)
    except DuplicateKeyError:
        await db.counters.update_one({"_id": key}, {"$set": dict(fields)})


async def ensure_indexes(db: Database) -> None:
    await db.case_keys.create_index([("k", ASCENDING)])
    await db.case_keys.create_index([("c", ASCENDING)])
    await db.case_keys.create_index([("b", ASCENDING)])
    if await db.counters.find_one({"_id": COUNTED}) is None:
        await bucket_red_keys(db)
        await rebuild_counts(db)
    for field in ("queue", "due_hour", "created_hour", "created_slot", "open_unit", *BUCKETS.values()):
        await db.cases.create_index([(field, ASCENDING)])


def keys_of(case: Mapping[str, Any], now: datetime) -> list[str]:
    fields = {**case, **derived(case)}
    units = [u for u in fields.get("units") or [] if u]
    out: list[str] = []
    if fields.get("queue") and fields["queue"] not in UNKEYED_QUEUES:
        out += [f"q:{fields['queue']}:{u}" for u in units]
    if fields.get("state") in OPEN_STATES:
        for u in units:  # each unit on its own clock (a joint case's parts)
            due = unit_due(fields, u)
            if due is not None and due < now:
                out.append(f"r:{u}")
        if fields.get("open_unit"):
            out.append(f"a:{fields['open_unit']}")
        for part in open_parts(fields):
            out.append(f"a:{part['unit']}")
            if part.get("due_at") is not None:
                out.append(f"d:{hour_of(part['due_at'])}")
    # the center's "auto-dispatched" list (cases.autodispatch), beside whatever queue it is in
    if fields.get("auto_dispatched") and fields.get("state") in AUTO_STATES:
        out += [f"q:auto:{u}" for u in units]
    return out


def key_docs(case: Mapping[str, Any], now: datetime) -> list[Document]:
    hour = case.get("created_hour")
    if hour is None:
        hour = hour_of(case.get("created_at"))
    out: list[Document] = []
    for k in keys_of(case, now):
        doc: Document = {"_id": f"{k}#{case['_id']}", "k": k, "c": case["_id"]}
        if k.startswith("r:"):
            doc["b"] = f"{k}|{hour}"  # red lists newest first walk back creation hours
        out.append(doc)
    return out


def _counter_of(key: str) -> tuple[str, str]:
    """The counters document and field a key is counted in: `q:returned:<unit>` →
    (`keys:<unit>`, `q_returned`)."""
    kind, _, unit = key.rpartition(":")
    return COUNTS + unit, kind.replace(":", "_")


async def _bump(db: Database, deltas: Mapping[str, int]) -> None:
    """`$inc` the counts of these keys by these numbers, one write per unit."""
    by_doc: dict[str, dict[str, int]] = {}
    for key, n in deltas.items():
        if n and not key.startswith(UNCOUNTED):
            doc, field = _counter_of(key)
            by_doc.setdefault(doc, {})[field] = by_doc.get(doc, {}).get(field, 0) + n
    await asyncio.gather(*(_inc(db, doc, inc) for doc, inc in by_doc.items()))


async def _inc(db: Database, doc: str, inc: Mapping[str, int]) -> None:
    try:
        await db.counters.update_one({"_id": doc}, {"$inc": dict(inc)}, upsert=True)
    except DuplicateKeyError:  # two first upserts race on FerretDB: the other one created it
        await db.counters.update_one({"_id": doc}, {"$inc": dict(inc)})


async def _insert_keys(db: Database, docs: list[Document]) -> int:
    """Store the key documents not stored yet and count those stored; how many were."""
    if not docs:
        return 0
    dup = await insert_new(db.case_keys, docs)  # a key already there stays (idempotent)
    await _bump(db, Counter(d["k"] for i, d in enumerate(docs) if i not in dup))
    return len(docs) - len(dup)


async def _delete_keys(db: Database, ids: list[str]) -> None:
    """Delete these key documents and uncount those this call deleted (one by one, sent
    together: a key another writer deleted first is not uncounted twice)."""
    if not ids:
        return
    done = await asyncio.gather(*(db.case_keys.delete_one({"_id": i}) for i in ids))
    gone = Counter(i.rpartition("#")[0] for i, r in zip(ids, done, strict=True) if r.deleted_count)
    await _bump(db, {k: -n for k, n in gone.items()})


async def add_keys(db: Database, cases: Iterable[Mapping[str, Any]], now: datetime) -> None:
    await _insert_keys(db, [d for case in cases for d in key_docs(case, now)])


async def sync_keys(db: Database, case: Mapping[str, Any], now: datetime,
                    before: Mapping[str, Any]) -> None:
    """Move the case's keys from those of `before` to those of `case` (after a change): only
    the keys that differ are written, so a change that moves no list writes nothing here."""
    old = {d["_id"] for d in key_docs(before, now)}
    new = key_docs(case, now)
    gone = sorted(old - {d["_id"] for d in new})
    await _delete_keys(db, gone)
    await _insert_keys(db, [d for d in new if d["_id"] not in old])


async def waiting(db: Database, *, queue: str, unit: str) -> list[Document]:
    """The cases of an unkeyed queue within a unit's area (at most COUNT_CAP of the queue)."""
    found = await db.cases.find({"queue": queue}, {"history": 0}).limit(COUNT_CAP).to_list(None)
    return [c for c in found if unit in (c.get("units") or [])]


async def waiting_count(db: Database, *, queue: str, unit: str) -> int:
    """How many cases of an unkeyed queue are within a unit's area (up to COUNT_CAP of the
    queue; only their units are read)."""
    found = await db.cases.find({"queue": queue}, {"units": 1}).limit(COUNT_CAP).to_list(None)
    return sum(unit in (c.get("units") or []) for c in found)


async def counts(db: Database, *, unit: str) -> dict[str, int]:
    """Every list count of the unit, by key kind (`q_returned`, `r`, `a`, …): one document."""
    doc = await db.counters.find_one({"_id": COUNTS + unit}) or {}
    return {k: max(0, int(v)) for k, v in doc.items() if k != "_id"}


async def count(db: Database, *, key: str) -> int:
    """How many cases hold the key (from the unit's counters document)."""
    doc, field = _counter_of(key)
    return (await counts(db, unit=doc[len(COUNTS):])).get(field, 0)


async def bucket_red_keys(db: Database) -> None:
    """Give red keys stored before they held their case's creation hour (`b`) that bucket
    (once, at start-up: reads every red key)."""
    found = [d async for d in db.case_keys.find({"k": {"$regex": "^r:"}, "b": {"$exists": False}},
                                                {"k": 1, "c": 1})]
    for i in range(0, len(found), IN_CHUNK):
        chunk = found[i:i + IN_CHUNK]
        hours = {c["_id"]: c.get("created_hour", hour_of(c.get("created_at"))) async for c in db.cases.find(
            {"_id": {"$in": sorted({d["c"] for d in chunk})}}, {"created_hour": 1, "created_at": 1})}
        for d in chunk:
            await db.case_keys.update_one({"_id": d["_id"]}, {"$set": {"b": f"{d['k']}|{hours.get(d['c'])}"}})


async def rebuild_counts(db: Database) -> None:
    """Count the keys stored (once, for a database keyed before the counts were kept, or to
    repair them): reads every key, so it runs at start-up, not in a page."""
    found = Counter([d["k"] async for d in db.case_keys.find({}, {"k": 1})])
    by_doc: dict[str, dict[str, int]] = {}
    for key, n in found.items():
        if key.startswith(UNCOUNTED):
            continue
        doc, field = _counter_of(key)
        by_doc.setdefault(doc, {})[field] = n
    async for old in db.counters.find({"_id": {"$regex": f"^{COUNTS}"}}, {"_id": 1}):
        if old["_id"] != COUNTED and old["_id"] not in by_doc:
            by_doc[old["_id"]] = {}
    for doc, fields in by_doc.items():
        await db.counters.replace_one({"_id": doc}, fields, upsert=True)
    await set_counter(db, COUNTED, {"at": 1})


async def page(db: Database, *, key: str, limit: int) -> list[str]:
    """Up to `limit` case ids holding the key (in the order they joined the list)."""
    return [d["c"] for d in await db.case_keys.find({"k": key}, {"c": 1}).limit(limit).to_list(None)]


async def assigned_open(db: Database, *, unit: str, limit: int = COUNT_CAP,
                        scope: Mapping[str, Any] | None = None) -> list[Document]:
    """Up to `limit` open cases assigned to the unit (a page of its `a:<unit>` keys, those
    waiting longest first, then those cases by `_id`), re-checked against the case (a key may
    lag a change by a moment) and `scope` (a visibility filter, checked on these rows only)."""
    ids = await page(db, key=f"a:{unit}", limit=limit)
    if not ids:
        return []
    flt: dict[str, Any] = {"_id": {"$in": ids}, **({"$and": [dict(scope)]} if scope else {})}
    found = await db.cases.find(flt, {"history": 0}).to_list(None)
    # the lead's (`open_unit`) or an assisting unit's open part (cases.joint)
    return [read_case(d, omit=LIST_OMIT) for d in found
            if d.get("open_unit") == unit or any(p["unit"] == unit for p in open_parts(d))]


async def with_parts_due(db: Database, found: list[Document], hours: list[int]) -> list[Document]:
    """`found` (the cases due in these hours) and the joint cases a part of which falls due in
    them (their `d:<hour>` keys)."""
    keys = await db.case_keys.find({"k": {"$in": [f"d:{h}" for h in hours]}}, {"c": 1}).to_list(None)
    more = sorted({k["c"] for k in keys} - {c["_id"] for c in found})
    if more:
        found = [*found, *await db.cases.find({"_id": {"$in": more}}, {"history": 0}).to_list(None)]
    return found


async def due_now(db: Database, *, now: datetime) -> list[Document]:
    """Open cases whose deadline passed within the current hour (not swept yet)."""
    hour = hour_of(now)
    assert hour is not None
    found = await with_parts_due(
        db, await db.cases.find({"due_hour": hour}, {"history": 0}).to_list(None), [hour])
    return [c for c in found if c.get("state") in OPEN_STATES
            and any(d is not None and d < now for d in
                    [c.get("due_at"), *(p.get("due_at") for p in open_parts(c))])]


async def sweep_red(db: Database, *, now: datetime) -> int:
    """Give the cases whose deadline passed since the last sweep their red keys; the hours
    swept are remembered, so each sweep reads only the cases due since the one before, and
    those due earlier in the current hour (few; read again by each sweep of the hour, their
    keys stored once). How many keys were stored."""
    current = hour_of(now)
    assert current is not None
    mark = await db.counters.find_one({"_id": SWEEP})
    last = int(mark["hour"]) if mark else None
    if last is None:
        last = current - FIRST_SWEEP_HOURS  # keys written by a migration or generator lately
    added = 0
    if last < current - 1:
        hours = list(range(last + 1, current))[-24 * 366:]  # a server stopped for over a year
        for i in range(0, len(hours), IN_CHUNK):
            found = await db.cases.find({"due_hour": {"$in": hours[i:i + IN_CHUNK]}},
                                        {"history": 0}).to_list(None)
            found = await with_parts_due(db, found, hours[i:i + IN_CHUNK])
            red = [c for c in found if c.get("state") in OPEN_STATES]
            added += await _insert_keys(db, [d for c in red for d in key_docs(c, now)])
        await set_counter(db, SWEEP, {"hour": current - 1})
    # The current hour's cases are read at most once a minute: every desk page sweeps, and at
    # a district's year an hour's deadlines are hundreds of cases (the lists lag by a minute).
    at = mark.get("now_at") if mark else None
    if at is None or not now - timedelta(seconds=SWEEP_NOW_EVERY_S) < at <= now:
        due = await due_now(db, now=now)
        added += await _insert_keys(db, [d for c in due for d in key_docs(c, now) if d["k"].startswith("r:")])
        await set_counter(db, SWEEP, {"now_at": now})
    return added
