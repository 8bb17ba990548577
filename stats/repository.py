"""Database access for `stats`: keyword-only async functions.

Measured on the embedded FerretDB 1.24/SQLite (bench/RESULTS.md "Dashboard"): every write
operation costs ~1–2 ms even inside one bulk_write (each is its own SQLite transaction), and
reading or updating a document costs ~10–20 µs per field it holds, while a string or binary
field of tens of kB costs about as much as one small field. So:
- a transition's effect is carried by its change-log event (`events.stats`, one JSON string,
  with `sb` its wall-clock second; `stats.rollups.event_fields`) — no write of its own;
- a single folder (lease in `stats_meta`) moves those changes into `stats`, reading the events
  second by second after its cursor (in `stats_log`'s `~version`), where every document is
  read and written whole, as packed values:
  - rollups `{_id: "<period>|<by>|<filter>", v: "<JSON {k: [measure], c: {value: [n by k]}}>"}`,
  - open lists `{_id: "l|<kind>:<code>", v: "<JSON {case_id: entry}>"}` and their sorted
    times `{_id: "t|<kind>:<code>", warn, due}` (float64 bytes, read once a summary expired),
  - board groups `{_id: "g|<unit>", v: "<JSON {list id: summary}>"}`: the summaries of the
    lists one board shows — the district's (`g|~`: streets and departments), a street's (its
    own list and its workstations'), a workstation's (its own and its blocks') — each with
    the open count, the earliest due case, the colour counts at the folder's time `cut` and
    the next 32 warn/due times after it (exact until `until`). A board reads one group,
    however many of its rows have open cases and however many cases they hold;
- every read is `{_id: {$in: [...]}}` on `stats` (an index lookup), a few small documents
  whatever the number of cases.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
import uuid
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DeleteOne, ReplaceOne

from gridlink import leases
from gridlink.db import Database, Document
from stats.facts import board_groups

STATS = "stats"
LOG = "stats_log"
# Collections of the layout before this one (per-month, per-day and open-list statistics).
PREVIOUS_LAYOUT = ("stats_M", "stats_D", "stats_open")
META = "stats_meta"
LEASE = "fold-lease"
# The layout's generation in META: a deployment with statistics of an older generation (or the
# per-day/month collections before them) is rebuilt once at start (`stats.rollups.upgrade`).
LAYOUT_ID = "layout"
# 2: board groups (g|) instead of one summary document per list (s|); 3: packed groups;
# 4: rollups packed as columns; 5: a group's cut in milliseconds after its base;
# 6: open-list entries carry the public and published-place flags; 7: trend cells (counts by
# day of month for place × category × channel × department, `stats.facts.trend_cells`);
# 8: the measures handled, handled_on_time and satisfied (assessment's 处置率, 群众满意率);
# 9: trend documents packed as arrays (`stats.trend_codec`); 10: open-list entries carry the
# handled flag (awaiting verification: not "overdue unhandled" in the assessment); 11: place ×
# category trend months beside the full ones (`|Tc|`, `stats.facts.TREND_COARSE`).
LAYOUT = 11
DERIVED = ("l|", "s|", "t|", "g|", "h|")  # prefixes of everything but rollups
# Trend rollups' digests (`h|<id>`: {r}) apart from their contents: FerretDB reads a whole
# document whatever the projection, so asking a 170 kB month for its digest cost its read.
DIGESTS = "h|"
VERSION_ID = "~version"  # in LOG, so one lookup tells the version and whether changes wait
# Documents read by pages, per database, valid while the version stays (and at most CACHE_S).
CACHE_S = 30.0
CACHE_MAX = 20_000
_cache: dict[str, tuple[str, float, dict[str, Document | None]]] = {}
# FerretDB pushes `$in` down to the index for at most 500 values (gridlink/embedded.py).
IN_CHUNK = 500
WRITE_CHUNK = 50  # FerretDB stalls on bulk writes of hundreds of replacements of these documents


def _pack(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


async def ensure_indexes(db: Database) -> None:
    """The change log's seconds (`events.sb`), which the folder reads by; the rest is by `_id`.
    A store without statistics yet is marked as of this layout (`has_previous_layout`), so
    statistics a fold writes later are not taken for an older layout's and rebuilt."""
    await db.events.create_index([("sb", ASCENDING)])
    await has_previous_layout(db)


# ------------------------------------------------------------------ the change log

# The folder reads the events of each wall-clock second once that second is SETTLE_S old: an
# event is stamped just before its insert, which lands within milliseconds (a slower one,
# beyond SETTLE_S, is missed until `gridlink stats rebuild`, as a crash would lose it). A read
# that folds for itself (`fresh` without a background folder) takes the unsettled seconds too
# and remembers what it took from them (`seen`), so nothing is counted twice.
SETTLE_S = 5
FIRST_LOOKBACK_S = 600  # where a database without a cursor starts reading
SPAN_CHUNK = 120  # seconds read per query
LOOK_MAX_S = 400  # further behind, `log_state` reports the folder late without reading (one `$in`)


def bucket(at: float) -> int:
    return math.floor(at)


def _buckets(first: int, last: int) -> list[int]:
    return list(range(first, last + 1))


async def _mark(db: Database) -> Document | None:
    return await db[LOG].find_one({"_id": VERSION_ID})


def cursor_of(mark: Document | None, wall: float) -> tuple[int, dict[str, int]]:
    """(the last second fully folded, {event id: second} folded from later seconds)."""
    if mark is None or mark.get("b") is None:
        return bucket(wall) - FIRST_LOOKBACK_S, {}
    return int(mark["b"]), {str(i): int(b) for i, b in json.loads(mark.get("seen") or "{}").items()}


async def cursor(db: Database, *, wall: float) -> tuple[int, dict[str, int]]:
    return cursor_of(await _mark(db), wall)


async def set_cursor(db: Database, *, last: int, seen: dict[str, int]) -> None:
    """Record what the folder has taken, before it applies it (at most once, as before)."""
    await db[LOG].update_one({"_id": VERSION_ID},
                             {"$set": {"b": last, "seen": _pack({i: b for i, b in seen.items() if b > last})}},
                             upsert=True)


async def changes_in(db: Database, *, first: int, last: int) -> list[tuple[str, int, dict[str, Any]]]:
    """(event id, second, change) of the changes logged in seconds `first`..`last`."""
    out: list[tuple[str, int, dict[str, Any]]] = []
    for lo in range(first, last + 1, SPAN_CHUNK):
        spans = _buckets(lo, min(last, lo + SPAN_CHUNK - 1))
        async for e in db.events.find({"sb": {"$in": spans}}, {"stats": 1, "sb": 1}):
            if e.get("stats"):
                out.append((str(e["_id"]), int(e["sb"]), json.loads(e["stats"])))
    return out


async def log_state(db: Database, *, count: int = 20, wall: float | None = None
                    ) -> tuple[str | None, float | None, int]:
    """(the statistics' current version, the time of the fold that made it, how many logged
    changes wait — counted up to `count`): the folder's mark, and the events after its cursor."""
    wall = time.time() if wall is None else wall
    mark = await _mark(db)
    last, seen = cursor_of(mark, wall)
    now_b = bucket(wall)
    if now_b - last > LOOK_MAX_S:
        waiting = count
    else:
        found = await db.events.find({"sb": {"$in": _buckets(last + 1, now_b + 1)}}, {"_id": 1}
                                     ).limit(count + len(seen) + 1).to_list(None)
        waiting = min(count, sum(1 for d in found if str(d["_id"]) not in seen))
    if mark is None or mark.get("n") is None:
        return None, None, waiting
    at = mark.get("at")
    return str(mark.get("n")), float(at) if at is not None else None, waiting


async def pending(db: Database) -> bool:
    """Whether any logged change waits to be folded."""
    return (await log_state(db, count=1))[2] > 0


async def bump_version(db: Database, *, at: float | None) -> None:
    """A new version after the folder (or a rebuild) wrote: readers drop their cached documents.
    `at`: when that fold started (every change logged before it is counted; None: unknown)."""
    await db[LOG].update_one({"_id": VERSION_ID}, {"$set": {"n": uuid.uuid4().hex, "at": at}},
                             upsert=True)


async def take_log(db: Database, *, limit: int) -> list[dict[str, Any]]:
    """Up to `limit` changes left in the log of the layout before the change log carried them
    (`{_id, d}` records), removed before they are applied (`stats.rollups.upgrade`)."""
    docs = await db[LOG].find({"d": {"$exists": True}}).limit(limit).to_list(None)
    ids = [d["_id"] for d in docs]
    for i in range(0, len(ids), IN_CHUNK):
        await db[LOG].delete_many({"_id": {"$in": ids[i:i + IN_CHUNK]}})
    return [{"_id": d["_id"], **json.loads(d["d"])} for d in docs]


async def has_previous_log(db: Database) -> bool:
    """Whether the log of the previous layout still holds changes (an in-place upgrade)."""
    return await db[LOG].find_one({"d": {"$exists": True}}, {"_id": 1}) is not None


# ------------------------------------------------------------------ the folder's lease (gridlink.leases)

def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


async def take_lease(db: Database, *, owner: str, now: float, ttl: float) -> bool:
    """One folder at a time."""
    return await leases.take(db[META], LEASE, holder=owner, now=_at(now), ttl=timedelta(seconds=ttl))


async def wait_for_lease(db: Database, *, owner: str, now: float, ttl: float, within_s: float) -> bool:
    """`take_lease`, tried every 50 ms for up to `within_s` while another holds it (a folder's
    round gives it back within moments); False if it never came free."""
    return await leases.wait(db[META], LEASE, holder=owner, now=_at(now), ttl=timedelta(seconds=ttl),
                             within_s=within_s)


async def has_previous_layout(db: Database) -> bool:
    """Whether the statistics are still stored in an earlier layout (per-day/month collections,
    or `stats` documents of an older generation): a deployment upgraded in place, whose boards
    need one rebuild. Statistics without any document yet are marked current."""
    if any(name.startswith(PREVIOUS_LAYOUT) for name in await db.list_collection_names()):
        return True
    marker = await db[META].find_one({"_id": LAYOUT_ID})
    if marker is not None and marker.get("n") == LAYOUT:
        return False
    if await db[STATS].find_one({}, {"_id": 1}) is None:
        await mark_layout(db)
        return False
    return True


async def mark_layout(db: Database) -> None:
    await db[META].replace_one({"_id": LAYOUT_ID}, {"n": LAYOUT}, upsert=True)


async def release_lease(db: Database, *, owner: str) -> None:
    await leases.release(db[META], LEASE, holder=owner)


# ------------------------------------------------------------------ stored documents

async def _fetch(db: Database, wanted: list[str]) -> dict[str, Document]:
    out: dict[str, Document] = {}
    for i in range(0, len(wanted), IN_CHUNK):
        async for d in db[STATS].find({"_id": {"$in": wanted[i:i + IN_CHUNK]}}):
            out[d["_id"]] = d
    return out


async def _docs(db: Database, ids: Iterable[str], version: str | None = None) -> dict[str, Document]:
    """Documents by `_id` in one `$in` lookup. With the `version` a read just checked
    (`stats.rollups.fresh`), documents already read at that version come from this process's
    memory: the statistics change only when the folder writes, and it then sets a new version."""
    wanted = list(dict.fromkeys(ids))
    if version is None:
        return await _fetch(db, wanted)
    held = _cache.get(db.name)
    now = time.monotonic()
    if held is None or held[0] != version or now - held[1] > CACHE_S or len(held[2]) > CACHE_MAX:
        held = (version, now, {})
        _cache[db.name] = held
    docs = held[2]
    missing = [i for i in wanted if i not in docs]
    if missing:
        fetched = await _fetch(db, missing)
        for i in missing:
            docs[i] = fetched.get(i)
    return {i: d for i in wanted if (d := docs[i]) is not None}


async def rollup_docs(db: Database, *, ids: Iterable[str], version: str | None = None,
                      measures: Collection[str] | None = None) -> dict[str, dict[str, dict[str, int]]]:
    """`{key: {value: {measure: n}}}` for the rollup keys that exist (one `$in` lookup), with
    only the given measures if any."""
    return {k: rollup_of(d, measures) for k, d in (await _docs(db, ids, version)).items()}


async def raw_docs(db: Database, *, ids: Iterable[str], version: str | None = None) -> dict[str, Document]:
    """Stored documents by `_id` (one `$in` lookup, cached like `rollup_docs`), left packed for
    readers that parse them their own way (`stats.trends`)."""
    return await _docs(db, ids, version)


def has_digest(key: str) -> bool:
    """Rollups whose digest is kept apart (`DIGESTS`): the trend cells (`|T|`, `|Tc|`)."""
    return "|T|" in key or "|Tc|" in key


async def revisions(db: Database, *, ids: Iterable[str]) -> dict[str, str]:
    """`{id: r}` of the trend rollups that exist: their contents' digests, from the small
    `h|` documents beside them."""
    found = await _fetch(db, [DIGESTS + i for i in dict.fromkeys(ids)])
    return {k[len(DIGESTS):]: str(d.get("r") or "") for k, d in found.items()}


async def open_docs(db: Database, *, ids: Iterable[str], version: str | None = None
                    ) -> dict[str, dict[str, list[Any]]]:
    """`{list id: {case_id: entry}}` for each list id (missing → empty)."""
    wanted = list(dict.fromkeys(ids))
    found = await _docs(db, ["l|" + i for i in wanted], version)
    return {i: (json.loads(found["l|" + i]["v"]) if "l|" + i in found else {}) for i in wanted}


async def times(db: Database, *, ids: Iterable[str], version: str | None = None
                ) -> dict[str, dict[str, array[float]]]:
    """The sorted warn/due times of the given open lists (for summaries whose counts expired)."""
    found = await _docs(db, ["t|" + i for i in ids], version)
    return {k[2:]: unpack(d) for k, d in found.items()}


async def groups_and_rollups(db: Database, *, groups: Iterable[str], rollup_ids: Iterable[str],
                             version: str | None = None, measures: Collection[str] | None = None
                             ) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, dict[str, int]]]]:
    """Board groups' summaries `{list id: summary}` (merged) and rollups (only the given
    measures if any) in one `$in` lookup (a board's whole read)."""
    rollup_ids = list(rollup_ids)
    found = await _docs(db, [*("g|" + g for g in groups), *rollup_ids], version)
    sums: dict[str, dict[str, Any]] = {}
    for k, d in found.items():
        if k.startswith("g|"):
            sums.update(group_summaries(d))
    return sums, {k: rollup_of(found[k], measures) for k in rollup_ids if k in found}


async def stats_docs(db: Database, *, ids: Iterable[str]) -> dict[str, Document]:
    """Raw documents (rollups, lists, summaries) by `_id`, for the folder."""
    return await _docs(db, ids)


async def write_docs(db: Database, *, put: Mapping[str, Document], drop: Iterable[str]) -> None:
    """Replace (upsert) and delete whole documents of `stats` (the folder is the only writer)."""
    ops: list[ReplaceOne[Document] | DeleteOne] = [
        ReplaceOne({"_id": k}, {"_id": k, **d}, upsert=True) for k, d in put.items()]
    ops += [DeleteOne({"_id": k}) for k in drop]
    for i in range(0, len(ops), WRITE_CHUNK):
        await db[STATS].bulk_write(ops[i:i + WRITE_CHUNK], ordered=False)


def rollup_doc(v: Mapping[str, Mapping[str, int]]) -> Document:
    """Rollup cells packed as columns — the measure names once, each value's counts by position:
    a third of the bytes of `{value: {measure: n}}`, and FerretDB's read cost follows the bytes."""
    keys = sorted({m for cell in v.values() for m in cell})
    packed = _pack({"k": keys, "c": {val: [cell.get(m, 0) for m in keys] for val, cell in v.items()}})
    # `r`: a digest of the contents, so a reader holding the parsed document asks for this
    # small field only (`revisions`), whatever the folder rewrote elsewhere.
    return {"v": packed, "r": hashlib.blake2b(packed.encode(), digest_size=8).hexdigest()}


def packed(key: str, v: Mapping[str, Mapping[str, int]]) -> Document:
    """The stored fields of the rollup `key`: trend cells as arrays (`stats.trend_codec`)."""
    from stats import trend_codec

    return trend_codec.pack(v) if has_digest(key) else rollup_doc(v)


def rollup_of(doc: Mapping[str, Any], measures: Collection[str] | None = None) -> dict[str, dict[str, int]]:
    """`{value: {measure: n}}` of a stored rollup (zero counts left out, as stored cells have
    none), only the given measures if any."""
    if "z" in doc:
        from stats import trend_codec

        return trend_codec.cells_of(doc)
    stored = json.loads(doc["v"])
    cols = [(i, m) for i, m in enumerate(stored["k"]) if measures is None or m in measures]
    return {val: {m: row[i] for i, m in cols if row[i]} for val, row in stored["c"].items()}


def list_doc(cases: Mapping[str, list[Any]]) -> Document:
    return {"v": _pack(cases)}


def times_doc(cases: Mapping[str, list[Any]]) -> Document:
    """An open list's sorted warn and due times as float64 bytes (a case without a warn time
    turns yellow never, red at its due time: its due time stands in)."""
    inf = float("inf")
    due = sorted(e[2] if e[2] is not None else inf for e in cases.values())
    warn = sorted(e[1] if e[1] is not None else e[2] if e[2] is not None else inf
                  for e in cases.values())
    return {"warn": array("d", warn).tobytes(), "due": array("d", due).tobytes()}


NEXT_EVENTS = 32  # warn and due times kept in a summary beyond its fold time


def summary(cases: Mapping[str, list[Any]], cut: float | None, k: int = NEXT_EVENTS) -> dict[str, Any]:
    """What the boards read instead of the list: the open count, the earliest due case, the
    colour counts as of `cut` (the folder's time) and the next `k` due and warn times after it,
    which give exact counts for any moment in [cut, until) — `until` the first time not kept —
    whatever the number of cases. Past `until` a board reads the times (`t|…`)."""
    inf = float("inf")
    times = unpack(times_doc(cases))
    first = min(((e[2], e[0], cid) for cid, e in cases.items() if e[2] is not None), default=None)
    out: dict[str, Any] = {"n": len(cases), "oldest": list(first) if first else None, "cut": cut,
                           "red": None, "warned": None, "until": None, "due": [], "warn": []}
    if cut is not None:
        # Counted at the whole millisecond at or before the folder's time, like every time
        # stored (`stats.facts.epoch_s`), so a group keeps it exactly as a small integer.
        # (+1 µs: an already whole millisecond, m / 1000 * 1000, may land a hair below m.)
        cut = out["cut"] = math.floor(cut * 1000 + 1e-3) / 1000
        due, warn = times["due"], times["warn"]
        red, warned = bisect_left(due, cut), bisect_right(warn, cut)
        beyond = [a[i + k] for a, i in ((due, red), (warn, warned)) if i + k < len(a) and a[i + k] != inf]
        # None: every time ahead is kept (JSON has no infinity).
        out.update(red=red, warned=warned, until=min(beyond, default=None),
                   due=[t for t in due[red:red + k] if t != inf],
                   warn=[t for t in warn[warned:warned + k] if t != inf])
    return out


# A group's summaries are stored positionally, times as integer milliseconds after the first
# summary's base: FerretDB's cost to read a document grows with its bytes (~0.1 ms per kB
# measured), and key names and decimal epochs were most of them.
_FIELDS = ("n", "oldest", "red", "warned")


def _ms(t: float) -> int:
    return round(t * 1000)


def group_doc(summaries: Mapping[str, Mapping[str, Any]]) -> Document:
    """`{list id: summary}` packed (`group_summaries` unpacks it exactly: every time is a whole
    millisecond, as `stats.facts.epoch_s` makes them)."""
    cuts = [s["cut"] for s in summaries.values() if s["cut"] is not None]
    base = _ms(min(cuts)) if cuts else 0
    packed: dict[str, list[Any]] = {}
    for list_id, s in summaries.items():
        row = [s[f] for f in _FIELDS]
        if s["cut"] is not None:
            row += [_ms(s["cut"]) - base, None if s["until"] is None else _ms(s["until"]) - base,
                    [_ms(t) - base for t in s["due"]], [_ms(t) - base for t in s["warn"]]]
        packed[list_id] = row
    return {"v": _pack({"base": base, "lists": packed})}


def group_summaries(doc: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The summaries of a stored board group, as `summary` computed them."""
    stored = json.loads(doc["v"])
    base = stored["base"]
    out: dict[str, dict[str, Any]] = {}
    for list_id, row in stored["lists"].items():
        s: dict[str, Any] = dict(zip(_FIELDS, row[:4], strict=True))
        if len(row) > 4:
            cut, until, due, warn = row[4:]
            s.update(cut=(base + cut) / 1000, until=None if until is None else (base + until) / 1000,
                     due=[(base + t) / 1000 for t in due], warn=[(base + t) / 1000 for t in warn])
        else:
            s.update(cut=None, until=None, due=[], warn=[], red=None, warned=None)
        out[list_id] = s
    return out


def unpack(doc: Mapping[str, Any]) -> dict[str, array[float]]:
    warn, due = array("d"), array("d")
    warn.frombytes(doc["warn"])
    due.frombytes(doc["due"])
    return {"warn": warn, "due": due}


async def all_rollups(db: Database) -> dict[str, dict[str, dict[str, int]]]:
    return {d["_id"]: rollup_of(d) async for d in db[STATS].find({})
            if not d["_id"].startswith(DERIVED)}


async def all_open(db: Database) -> dict[str, dict[str, list[Any]]]:
    return {d["_id"][2:]: json.loads(d["v"]) async for d in db[STATS].find({})
            if d["_id"].startswith("l|")}


async def replace_all(db: Database, *, rollups: Mapping[str, Mapping[str, Any]],
                      open_lists: Mapping[str, Mapping[str, Any]], cut: float | None = None) -> None:
    """Replace every statistics document with freshly computed contents (`stats rebuild`)."""
    for name in await db.list_collection_names():
        # This layout's collections, and the per-day/month ones of the layout before it.
        if name in (STATS, LOG) or name.startswith(PREVIOUS_LAYOUT):
            await db.drop_collection(name)
    docs: list[Document] = [{"_id": k, **packed(k, v)} for k, v in rollups.items()]
    docs += [{"_id": DIGESTS + d["_id"], "r": d["r"]} for d in list(docs) if has_digest(d["_id"])]
    groups: dict[str, dict[str, Any]] = {}
    for k, cases in open_lists.items():
        if cases:
            docs.append({"_id": "l|" + k, **list_doc(cases)})
            docs.append({"_id": "t|" + k, **times_doc(cases)})
            for group in board_groups(k, next(iter(cases.values()))):
                groups.setdefault(group, {})[k] = summary(cases, cut)
    docs += [{"_id": "g|" + g, **group_doc(sums)} for g, sums in groups.items()]
    # One writer at a time: SQLite serialises writes anyway, and parallel big inserts only
    # queue up behind each other until the socket timeout.
    for i in range(0, len(docs), 1000):
        await db[STATS].insert_many(docs[i:i + 1000], ordered=False)
    await mark_layout(db)
    await bump_version(db, at=cut)


def iter_cases(db: Database, *, batch: int = 2000) -> Any:
    """Every case, with only the fields the statistics read."""
    projection = {"description": 0, "photos": 0, "result_photos": 0, "followers": 0,
                  "public_photos": 0, "phashes": 0, "after_photos": 0, "duplicate_candidates": 0}
    return db.cases.find({}, projection, batch_size=batch)


async def units(db: Database) -> list[Document]:
    """Every unit of the active grid with its geometry (read once per process and cached by
    `stats.units`). Through grids: `units` is versioned (`_id` = "<version>:<code>")."""
    from grids import repository as grids_repo

    _, found = await grids_repo.load_units(db)
    return found


async def coordinators(db: Database, *, units: Iterable[str]) -> list[dict[str, str]]:
    """`[{name, unit}]` of the roster's coordinators bound to these units (through grids; the
    name and unit only — no chat ids or phones leave this function)."""
    from grids import repository as grids_repo

    out: list[dict[str, str]] = []
    for unit in units:
        for m in await grids_repo.members(db, unit=unit, role="coordinator"):
            if m.get("name"):
                out.append({"name": str(m["name"]), "unit": unit})
    return out
