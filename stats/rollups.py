"""Keeping the rollups in step with the cases, and rebuilding them from scratch.

`cases/` calls `apply_transition(db, before=…, after=…)` right after each committed change
(`before` None at intake): the difference between what the two versions contribute is
`$inc`ed into the rollups and the case moves between open lists. Semantics: at most once per
transition — if the process dies between the case update and this call, that one change is
missing until `gridlink stats rebuild`; the lifecycle's version guard makes sure the same
transition is never committed (so never counted) twice.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from gridlink.db import Database, Document
from stats import facts as F
from stats import repository as repo

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")


async def apply_transition(db: Database, *, before: Mapping[str, Any] | None,
                           after: Mapping[str, Any], tz: ZoneInfo = DEFAULT_TZ) -> None:
    """Move the rollups and open lists from counting `before` to counting `after`."""
    old = F.facts(before, tz) if before else None
    new = F.facts(after, tz)
    await repo.inc_rollups(db, changes=F.delta(old, new))
    old_entry = F.open_entry(before) if before else None
    new_entry = F.open_entry(after)
    if old_entry == new_entry:
        return
    case_id = str(after["_id"])
    new_lists = set(F.open_lists(new_entry))
    moves = [repo.set_open(db, list_id=i, case_id=case_id, entry=None)
             for i in set(F.open_lists(old_entry)) - new_lists]
    moves += [repo.set_open(db, list_id=i, case_id=case_id, entry=new_entry) for i in new_lists]
    await asyncio.gather(*moves)


def recompute(cases: Iterable[Mapping[str, Any]], *, tz: ZoneInfo = DEFAULT_TZ
              ) -> tuple[dict[str, dict[str, dict[str, int]]], dict[str, dict[str, list[Any]]]]:
    """Rollups and open lists computed from the cases alone."""
    # Count (cell, measure vector) pairs in C (Counter.update), then expand each distinct pair
    # once: a case's ~36 cells share one of a few dozen measure vectors.
    pairs: Counter[tuple[str, str, tuple[tuple[str, int], ...]]] = Counter()
    opens: dict[str, dict[str, list[Any]]] = {}
    for case in cases:
        f = F.facts(case, tz)
        vec = tuple(sorted(F.vector(f).items()))
        pairs.update((doc, value, vec) for doc, value in F.cells(f))
        entry = F.open_entry(case)
        if entry is not None:
            for list_id in F.open_lists(entry):
                opens.setdefault(list_id, {})[str(case["_id"])] = entry
    rollups: dict[str, dict[str, dict[str, int]]] = {}
    for (doc, value, vec), times in pairs.items():
        cell = rollups.setdefault(doc, {}).setdefault(value, {})
        for measure, n in vec:
            cell[measure] = cell.get(measure, 0) + n * times
    return rollups, opens


def normalise(rollups: Mapping[str, Mapping[str, Mapping[str, int]]]) -> dict[str, dict[str, dict[str, int]]]:
    """Drop zero counts and empty cells, so incremental and recomputed rollups compare equal."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for doc, values in rollups.items():
        cells = {v: {m: n for m, n in ms.items() if n} for v, ms in values.items()}
        cells = {v: ms for v, ms in cells.items() if ms}
        if cells:
            out[doc] = cells
    return out


async def rebuild(db: Database, *, tz: ZoneInfo = DEFAULT_TZ, progress: Any = None) -> dict[str, int]:
    """Recompute every rollup from the cases (`gridlink stats rebuild`).

    Meant for a quiet moment: transitions committed while it runs may be overwritten.
    """
    cases: list[Document] = []
    cursor = repo.iter_cases(db)
    async for case in cursor:
        cases.append(case)
        if progress and len(cases) % 50_000 == 0:
            progress(f"read {len(cases):,} cases")
    rollups, opens = recompute(cases, tz=tz)
    await repo.replace_all(db, rollups=rollups, open_lists=opens)
    return {"cases": len(cases), "rollup_docs": len(rollups), "open_lists": len(opens)}
