"""The keys the desk's queues, counts and a unit's open cases are read by, at any number of cases.

On the embedded server a list is fast only as an equality or `$in` on a top-level scalar field
(array membership, ranges, `$or` and sorts read the whole collection), and a count reads every
document it counts. So each open case (and each low-rated closed one) keeps small documents in
`case_keys`, `{_id: "<key>#<case id>", k: key, c: case id}`, one per list it belongs to:

- `q:<queue>:<unit>` for each unit of its `units` (the scopes' units, the district included),
  except for UNKEYED_QUEUES, read by the case's own `queue` field;
- `r:<unit>` for each unit once its step is overdue (red);
- `a:<unit>` for the unit it is assigned to while open;
- `q:auto:<unit>` for each unit of its `units` while an automatic assignment runs.

Counts read at most `COUNT_CAP` small documents; pages read one page of keys, then the cases
by `_id`. The keys follow every write of the case (intake, `lifecycle._commit`, migrations);
red ones are added when time passes a deadline by `sweep_red`, which reads only the cases due
in the hours since its last sweep (`due_hour`, indexed) and is run by the pages that show red.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from pymongo import ASCENDING
from pymongo.errors import DuplicateKeyError

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
FIRST_SWEEP_HOURS = 48  # the server pushes `$in` lists of up to 500 values down to the index


async def set_counter(db: Database, key: str, fields: Mapping[str, Any]) -> None:
    """`$set` on a counters document, creating it (two first upserts race on FerretDB)."""
    try:
        await db.counters.update_one({"_id": key}, {"$set": dict(fields)}, upsert=True)
    except DuplicateKeyError:
        await db.counters.update_one({"_id": key}, {"$set": dict(fields)})


async def ensure_indexes(db: Database) -> None:
    await db.case_keys.create_index([("k", ASCENDING)])
    await db.case_keys.create_index([("c", ASCENDING)])
    for field in ("queue", "due_hour", "created_hour", "open_unit", *BUCKETS.values()):
        await db.cases.create_index([(field, ASCENDING)])


def keys_of(case: Mapping[str, Any], now: datetime) -> list[str]:
    fields = {**case, **derived(case)}
    units = [u for u in fields.get("units") or [] if u]
    out: list[str] = []
    if fields.get("queue") and fields["queue"] not in UNKEYED_QUEUES:
        out += [f"q:{fields['queue']}:{u}" for u in units]
    if fields.get("state") in OPEN_STATES:
        due = fields.get("due_at")
        if due is not None and due < now:
            out += [f"r:{u}" for u in units]
        if fields.get("open_unit"):
            out.append(f"a:{fields['open_unit']}")
    # the center's "auto-dispatched" list (cases.autodispatch), beside whatever queue it is in
    if fields.get("auto_dispatched") and fields.get("state") in AUTO_STATES:
        out += [f"q:auto:{u}" for u in units]
    return out


def key_docs(case: Mapping[str, Any], now: datetime) -> list[Document]:
    return [{"_id": f"{k}#{case['_id']}", "k": k, "c": case["_id"]} for k in keys_of(case, now)]


async def add_keys(db: Database, cases: Iterable[Mapping[str, Any]], now: datetime) -> None:
    docs = [d for case in cases for d in key_docs(case, now)]
    if docs:
        await insert_new(db.case_keys, docs)  # a key already there stays (idempotent)


async def sync_keys(db: Database, case: Mapping[str, Any], now: datetime,
                    before: Mapping[str, Any]) -> None:
    """Move the case's keys from those of `before` to those of `case` (after a change): only
    the keys that differ are written, so a change that moves no list writes nothing here."""
    old = {d["_id"] for d in key_docs(before, now)}
    new = key_docs(case, now)
    gone = sorted(old - {d["_id"] for d in new})
    if gone:
        await db.case_keys.delete_many({"_id": {"$in": gone}})
    added = [d for d in new if d["_id"] not in old]
    if added:
        await insert_new(db.case_keys, added)


async def waiting(db: Database, *, queue: str, unit: str) -> list[Document]:
    """The cases of an unkeyed queue within a unit's area (at most COUNT_CAP of the queue)."""
    found = await db.cases.find({"queue": queue}, {"history": 0}).limit(COUNT_CAP).to_list(None)
    return [c for c in found if unit in (c.get("units") or [])]


async def count(db: Database, *, key: str) -> int:
    """How many cases hold the key, up to COUNT_CAP."""
    return len(await db.case_keys.find({"k": key}, {"_id": 1}).limit(COUNT_CAP).to_list(None))


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
    flt: dict[str, Any] = {"_id": {"$in": ids}, "$and": [{"open_unit": unit, **(scope or {})}]}
    return [read_case(d, omit=LIST_OMIT) for d in await db.cases.find(flt, {"history": 0}).to_list(None)]


async def due_now(db: Database, *, now: datetime) -> list[Document]:
    """Open cases whose deadline passed within the current hour (not swept yet)."""
    found = await db.cases.find({"due_hour": hour_of(now)}, {"history": 0}).to_list(None)
    return [c for c in found if c.get("state") in OPEN_STATES and c.get("due_at") and c["due_at"] < now]


async def sweep_red(db: Database, *, now: datetime) -> int:
    """Give the cases whose deadline passed since the last sweep their red keys; the hours
    swept are remembered, so each sweep reads only the cases due since the one before."""
    current = hour_of(now)
    assert current is not None
    mark = await db.counters.find_one({"_id": SWEEP})
    last = int(mark["hour"]) if mark else None
    if last is None:
        last = current - FIRST_SWEEP_HOURS  # keys written by a migration or generator lately
    if last >= current - 1:
        return 0
    hours = list(range(last + 1, current))[-24 * 366:]  # a server stopped for over a year
    added = 0
    for i in range(0, len(hours), IN_CHUNK):
        found = await db.cases.find({"due_hour": {"$in": hours[i:i + IN_CHUNK]}},
                                    {"history": 0}).to_list(None)
        red = [c for c in found if c.get("state") in OPEN_STATES]
        await add_keys(db, red, now)
        added += len(red)
    await set_counter(db, SWEEP, {"hour": current - 1})
    return added
