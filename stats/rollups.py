"""Keeping the rollups in step with the cases, and rebuilding them from scratch.

The change log carries what each change does to the statistics: `event_fields(before, after)`
is registered at start as a deriver of `cases.changelog` (gridlink/app.py, gridlink/cli.py), so
the event of a committed change holds the difference between what the two versions contribute
(rollup counts, the open lists the case leaves and joins) — `cases` never imports `stats`, and
the request path writes nothing for the statistics. `fold` moves those changes into the stored
statistics: one folder at a time (a lease), reading the events second by second after its
cursor (stats.repository), many changes merged into one read and one write per touched
document. It runs in the background of every web process (`api.stats`, every 1–10 s); a page
reads the last folded version and states it (`View.as_of`, `pending`) rather than folding on
the request path — only a process without a background folder folds before it reads (`fresh`).
Semantics: at most once per transition — a crash in the middle of a fold, or an event that
became visible later than `repo.SETTLE_S` after it was stamped, loses those changes until
`gridlink stats rebuild`.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gridlink.db import Database, Document
from stats import facts as F
from stats import repository as repo
from stats import trend_codec

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
FOLD_BATCH = 2000
LEASE_S = 60.0


def change_of(before: Mapping[str, Any] | None, after: Mapping[str, Any],
              tz: ZoneInfo = DEFAULT_TZ) -> dict[str, Any] | None:
    """What a transition changes in the statistics (None: nothing)."""
    old = F.facts(before, tz) if before else None
    rollups = F.delta(old, F.facts(after, tz))
    old_entry = F.open_entry(before) if before else None
    new_entry = F.open_entry(after)
    old_lists, new_lists = F.open_lists(old_entry), F.open_lists(new_entry)
    if old_entry == new_entry:
        old_lists = new_lists = []
    # a joint case's departments' parts, each in its own list on its own clock (facts.part_entries)
    old_parts = F.part_entries(before) if before else {}
    new_parts = F.part_entries(after)
    # (written after the case's own entry wherever that joins the same list: the lead's)
    parts = {k: e for k, e in new_parts.items() if old_parts.get(k) != e or k in new_lists}
    own = set(F.open_lists(new_entry))
    gone = set(old_parts) - set(new_parts)
    # a list the case keeps with its own entry again (the lead stopped waiting) is rejoined
    join = new_lists + sorted(k for k in gone if k in own and k not in new_lists)
    leave = sorted(set(old_lists) - set(new_lists)) + sorted(k for k in gone if k not in own)
    if not rollups and not leave and not join and not parts:
        return None
    return {"c": str(after["_id"]), "n": int(after.get("version") or 0), "r": rollups,
            "leave": leave, "join": join, "e": new_entry, **({"p": parts} if parts else {})}


def event_fields(before: Mapping[str, Any] | None, after: Mapping[str, Any],
                 tz: ZoneInfo = DEFAULT_TZ) -> dict[str, Any]:
    """What the change's event carries for the statistics (the `cases.changelog` deriver):
    the change as one JSON string and the wall-clock second the folder finds it by."""
    change = change_of(before, after, tz)
    if change is None:
        return {}
    return {"stats": json.dumps(change, ensure_ascii=False, separators=(",", ":")),
            "sb": repo.bucket(time.time())}


def _merge(changes: list[dict[str, Any]]) -> tuple[dict[str, dict[str, dict[str, int]]],
                                                   dict[str, list[tuple[str, list[Any] | None]]]]:
    """Summed rollup deltas, and per open list the (case, entry | None) moves in version order."""
    rollups: dict[str, dict[str, dict[str, int]]] = {}
    moves: dict[str, list[tuple[str, list[Any] | None]]] = {}
    for ch in sorted(changes, key=lambda c: (c["c"], c["n"])):
        for key, values in ch["r"].items():
            F.add_into(rollups.setdefault(key, {}), values)
        for list_id in ch["leave"]:
            moves.setdefault(list_id, []).append((ch["c"], None))
        for list_id in ch["join"]:
            moves.setdefault(list_id, []).append((ch["c"], ch["e"]))
        for list_id, entry in (ch.get("p") or {}).items():  # a joint case's parts
            moves.setdefault(list_id, []).append((ch["c"], entry))
    return rollups, moves


def _set_or_drop(into: dict[str, Any], updates: Iterable[tuple[str, Any]]) -> None:
    """Apply (key, value) updates in order; a None value removes the key."""
    for key, value in updates:
        if value is None:
            into.pop(key, None)
        else:
            into[key] = value


def _plan(rollups: dict[str, dict[str, dict[str, int]]],
          moves: dict[str, list[tuple[str, list[Any] | None]]], stored: Mapping[str, Document],
          cut: float) -> tuple[dict[str, Document], list[str], dict[str, dict[str, dict[str, Any] | None]]]:
    """The rollup and open-list documents to write or drop, and each touched list's new summary
    (None: the list emptied) by the board groups it shows in. Pure CPU — decoding and packing
    whole open lists — so `_apply` runs it in a thread, off the web's event loop."""
    put: dict[str, Document] = {}
    drop: list[str] = []
    for key, add in rollups.items():
        if repo.has_digest(key):
            # Trend months stay arrays (stats.trend_codec): thousands of rows, a few changed.
            fields = trend_codec.merged(stored.get(key), add)
            if fields is not None:
                put[key] = fields
                put[repo.DIGESTS + key] = {"r": fields["r"]}
            elif key in stored:
                drop += [key, repo.DIGESTS + key]
            continue
        current = repo.rollup_of(stored[key]) if key in stored else {}
        F.add_into(current, add)
        merged = F.prune({key: current}).get(key)
        if merged:
            put[key] = repo.packed(key, merged)
            if repo.has_digest(key):
                put[repo.DIGESTS + key] = {"r": put[key]["r"]}
        elif key in stored:
            drop.append(key)
            if repo.has_digest(key):
                drop.append(repo.DIGESTS + key)
    regroup: dict[str, dict[str, dict[str, Any] | None]] = {}
    for list_id, ops in moves.items():
        doc = stored.get("l|" + list_id)
        cases: dict[str, list[Any]] = json.loads(doc["v"]) if doc else {}
        # Any entry tells the list's groups: one it had (the list may empty) or one joining.
        sample = next(iter(cases.values()), None) or next((e for _, e in ops if e is not None), None)
        _set_or_drop(cases, ops)
        if cases:
            put["l|" + list_id] = repo.list_doc(cases)
            put["t|" + list_id] = repo.times_doc(cases)
        elif doc is not None:
            drop += ["l|" + list_id, "t|" + list_id]
        if sample is not None:
            for group in F.board_groups(list_id, sample):
                regroup.setdefault(group, {})[list_id] = repo.summary(cases, cut) if cases else None
    return put, drop, regroup


async def _apply(db: Database, changes: list[dict[str, Any]], cut: float) -> None:
    rollups, moves = _merge(changes)
    stored = await repo.stats_docs(db, ids=[*rollups, *("l|" + i for i in moves)])
    # In a thread: at a hotspot an open list is ~0.3 kB per open case, and decoding and
    # re-packing three of them held the web's event loop up to ~95 ms a round (bench/load.py,
    # "web event loop held"), stalling every request in flight.
    put, drop, regroup = await asyncio.to_thread(_plan, rollups, moves, stored, cut)
    groups = await repo.stats_docs(db, ids=["g|" + g for g in regroup])
    for group, updates in regroup.items():
        doc = groups.get("g|" + group)
        sums = repo.group_summaries(doc) if doc else {}
        _set_or_drop(sums, updates.items())
        if sums:
            put["g|" + group] = repo.group_doc(sums)
        elif doc is not None:
            drop.append("g|" + group)
    await repo.write_docs(db, put=put, drop=drop)


async def fold(db: Database, *, now: datetime, batch: int = FOLD_BATCH, settled: bool = False) -> int:
    """Move the logged changes into the statistics; how many were folded (0 when another
    folder holds the lease). `settled`: only seconds older than `repo.SETTLE_S` (the
    background folder), else up to now."""
    owner = uuid.uuid4().hex
    if not await repo.take_lease(db, owner=owner, now=now.timestamp(), ttl=LEASE_S):
        return 0
    try:
        return await _fold(db, now=now, batch=batch, settled=settled)
    finally:
        await repo.release_lease(db, owner=owner)


_indexed: set[str] = set()  # databases whose change-log index this process has ensured


async def _fold(db: Database, *, now: datetime, batch: int, settled: bool) -> int:
    if db.name not in _indexed:
        await repo.ensure_indexes(db)
        _indexed.add(db.name)
    wall = time.time()
    last, seen = await repo.cursor(db, wall=wall)
    settled_to = repo.bucket(wall) - repo.SETTLE_S
    upto = settled_to if settled else repo.bucket(wall)
    folded = 0
    first = last + 1
    while first <= upto:
        # A batch's worth of seconds at a time (a backlog after a stop is read in pieces).
        end = min(upto, first + max(1, batch // 50) - 1)
        found = [(i, b, ch) for i, b, ch in await repo.changes_in(db, first=first, last=end) if i not in seen]
        seen.update((i, b) for i, b, _ in found)
        last = max(last, min(end, settled_to))
        await repo.set_cursor(db, last=last, seen=seen)
        if found:
            await _apply(db, [ch for _, _, ch in found], now.timestamp())
            await repo.bump_version(db, at=now.timestamp())
            folded += len(found)
        first = end + 1
    return folded


async def fold_waiting(db: Database, *, now: datetime) -> int:
    """The background folder's round: fold the settled seconds when changes wait (one small
    lookup when none do). Unlike `fresh`, it folds whether or not this process has a background
    folder: it is one."""
    _, _, waiting = await repo.log_state(db, count=1)
    return await fold(db, now=now, settled=True) if waiting else 0


UPGRADE_LEASE_S = 3600.0  # a rebuild of a million cases takes minutes; nobody folds meanwhile


async def upgrade(db: Database, *, now: datetime, tz: ZoneInfo = DEFAULT_TZ,
                  progress: Any = None) -> dict[str, int] | None:
    """Rebuild once if the statistics are still in the previous layout (an in-place upgrade),
    so the boards are not empty until someone runs `gridlink stats rebuild`. One process does
    it, under the folder's lease; returns the rebuild's summary, or None when there was
    nothing to do."""
    await repo.ensure_indexes(db)
    if not await repo.has_previous_layout(db) and not await repo.has_previous_log(db):
        return None
    owner = uuid.uuid4().hex
    if not await repo.take_lease(db, owner=owner, now=now.timestamp(), ttl=UPGRADE_LEASE_S):
        return None
    try:
        if not await repo.has_previous_layout(db):
            await _drain_previous_log(db, now=now)
            return None
        return await _rebuild(db, tz=tz, progress=progress, now=now)
    finally:
        await repo.release_lease(db, owner=owner)


async def _drain_previous_log(db: Database, *, now: datetime) -> None:
    """Fold what the log of the previous layout (one record per change, before the change log
    carried them) still holds after an in-place upgrade."""
    while changes := await repo.take_log(db, limit=FOLD_BATCH):
        await _apply(db, changes, now.timestamp())
        await repo.bump_version(db, at=now.timestamp())


@dataclass(frozen=True)
class View:
    """What a read sees: the statistics' `version` (documents of that version may come from
    memory; None: read from the database), `as_of` — every change logged before it is counted
    (None: unknown) — and how many logged changes still wait (`pending`, counted up to 20, or
    up to `BACKGROUND_COUNT` where a background folder runs)."""

    version: str | None
    as_of: datetime | None
    pending: int

    def stamp(self) -> dict[str, Any]:
        """The fields a page or JSON answer states its freshness with."""
        return {"as_of": self.as_of.isoformat() if self.as_of else None, "pending": self.pending}


BACKGROUND_COUNT = 3
# Database names whose log a background folder of this process moves (api.stats.folder_ctx).
_background: Counter[str] = Counter()


@contextmanager
def folding_in_background(db: Database) -> Iterator[None]:
    """While open, reads of `db` in this process leave logged changes to the background folder
    (which runs every 1–10 s) instead of folding them themselves."""
    _background[db.name] += 1
    try:
        yield
    finally:
        _background[db.name] -= 1


async def fresh(db: Database, *, now: datetime) -> View:
    """Before a read: what to read at. With nothing waiting in the log (one small lookup): the
    current version, complete as of `now`. With changes waiting and a background folder in this
    process, the last folded version as of that fold's time: a read does not pay for folding
    (a fold rewrites every document a change touches: ~100 ms even for one change, more under
    load) what the folder moves within a second or two. Without one (scripts, tests, processes without the web app), the read folds them
    first unless another folder holds the lease."""
    # Counting reads the waiting events themselves (~0.4 ms each on FerretDB): with a folder
    # at work (changes always wait under load) a page counts a few only.
    count = BACKGROUND_COUNT if _background[db.name] else 20
    version, at, waiting = await repo.log_state(db, count=count)
    if waiting and not _background[db.name] and await fold(db, now=now):
        version, at, waiting = await repo.log_state(db)
    if not waiting:
        return View(version, now, 0)
    return View(version, datetime.fromtimestamp(at, now.tzinfo) if at is not None else None, waiting)


def recompute(cases: Iterable[Mapping[str, Any]], *, tz: ZoneInfo = DEFAULT_TZ
              ) -> tuple[dict[str, dict[str, dict[str, int]]], dict[str, dict[str, list[Any]]]]:
    """Rollups and open lists computed from the cases alone."""
    # Count (cell, measure vector) pairs in C (Counter.update), then expand each distinct pair
    # once: a case's ~36 cells share one of a few dozen measure vectors.
    pairs: Counter[tuple[str, str, tuple[tuple[str, int], ...]]] = Counter()
    trend: Counter[tuple[str, str, str]] = Counter()
    opens: dict[str, dict[str, list[Any]]] = {}
    for case in cases:
        f = F.facts(case, tz)
        vec = tuple(sorted(F.vector(f).items()))
        pairs.update((doc, value, vec) for doc, value in F.cells(f))
        trend.update(F.trend_cells(f))
        pairs.update((doc, value, tuple(sorted(pvec.items())))
                     for doc, value, pvec in F.part_cells(f))
        entry = F.open_entry(case)
        if entry is not None:
            for list_id in F.open_lists(entry):
                opens.setdefault(list_id, {})[str(case["_id"])] = entry
        # a joint case's departments on their own clocks (after: the lead's list too)
        for list_id, part_entry in F.part_entries(case).items():
            opens.setdefault(list_id, {})[str(case["_id"])] = part_entry
    rollups: dict[str, dict[str, dict[str, int]]] = {}
    for (doc, value, vec), times in pairs.items():
        cell = rollups.setdefault(doc, {}).setdefault(value, {})
        for measure, n in vec:
            cell[measure] = cell.get(measure, 0) + n * times
    for (doc, value, dd), times in trend.items():
        rollups.setdefault(doc, {}).setdefault(value, {})[dd] = times
    return rollups, opens


def normalise(rollups: Mapping[str, Mapping[str, Mapping[str, int]]]) -> dict[str, dict[str, dict[str, int]]]:
    """Drop zero counts and empty cells, so incremental and recomputed rollups compare equal."""
    return F.prune(rollups)


REBUILD_WAIT_S = 30.0  # for a folder's round (or another rebuild) to give the lease back


async def rebuild(db: Database, *, tz: ZoneInfo = DEFAULT_TZ, progress: Any = None,
                  now: datetime | None = None) -> dict[str, int]:
    """Recompute every rollup from the cases (`gridlink stats rebuild`).

    Meant for a quiet moment: transitions committed while it runs may be lost. Holds the
    folder's lease meanwhile, so no web process folds, or starts its automatic upgrade
    rebuild (which a half-written `stats` would trigger), beside it.
    """
    owner = uuid.uuid4().hex
    at = (now or datetime.now(DEFAULT_TZ)).timestamp()
    if not await repo.wait_for_lease(db, owner=owner, now=at, ttl=UPGRADE_LEASE_S, within_s=REBUILD_WAIT_S):
        raise RuntimeError("the statistics are being folded or rebuilt by another process")
    try:
        return await _rebuild(db, tz=tz, progress=progress, now=now)
    finally:
        await repo.release_lease(db, owner=owner)


async def _rebuild(db: Database, *, tz: ZoneInfo, progress: Any, now: datetime | None
                   ) -> dict[str, int]:
    started = time.time()  # changes logged from this second on are folded after the rebuild
    # ...except those already logged in it, which the cases read below include: without them
    # in `seen`, a rebuild right after a burst of changes counted that second's changes twice.
    already = {i: b for i, b, _ in await repo.changes_in(db, first=repo.bucket(started),
                                                          last=repo.bucket(started))}
    cases: list[Document] = []
    cursor = repo.iter_cases(db)
    async for case in cursor:
        cases.append(case)
        if progress and len(cases) % 50_000 == 0:
            progress(f"read {len(cases):,} cases")
    rollups, opens = recompute(cases, tz=tz)
    await repo.replace_all(db, rollups=F.prune(rollups), open_lists=opens,
                           cut=now.timestamp() if now else None)
    await repo.set_cursor(db, last=repo.bucket(started) - 1, seen=already)
    return {"cases": len(cases), "rollup_docs": len(rollups), "open_lists": len(opens)}
