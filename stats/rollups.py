"""Keeping the rollups in step with the cases, and rebuilding them from scratch.

`cases/` calls `apply_transition` after every committed change (and after intake). The call
reads what the statistics currently count for the case (`stats_cases`), claims the new
version with a version-guarded write, then `$inc`s the difference into the rollups and moves
the case in the open-case lists. Replaying an old or the same version does nothing, so calls
may arrive twice or out of order. At-most-once window: if the process dies after the claim
and before the `$inc`s, that one change is missing until `gridlink stats rebuild`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any
from zoneinfo import ZoneInfo

from gridlink.db import Database, Document
from stats import facts as F
from stats import repository as repo

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")


def _record(case: Mapping[str, Any], tz: ZoneInfo, district: str) -> Document:
    f = F.facts(case, tz)
    entry = F.open_entry(case)
    return {"_id": case["_id"], "version": int(case.get("version") or 0), "facts": f,
            "open": entry, "units": F.open_units(f, district) if entry else []}


async def apply_case(db: Database, case: Mapping[str, Any], *, tz: ZoneInfo = DEFAULT_TZ,
                     district: str | None = None) -> bool:
    """Count the case as it is now; False when this version (or a later one) is already counted."""
    district = district or str(case.get("district") or "")
    record = _record(case, tz, district)
    for _ in range(50):
        old = await repo.applied(db, case_id=record["_id"])
        if old is not None and old["version"] >= record["version"]:
            return False
        if await repo.claim_applied(db, previous=old, record=record):
            break
    else:  # pragma: no cover - only under a pathological write storm
        raise RuntimeError(f"could not claim statistics for case {record['_id']}")
    changes = F.delta(old["facts"] if old else None, record["facts"])
    await repo.inc_rollups(db, changes=changes)
    before_units = set(old["units"]) if old and old.get("open") else set()
    after_units = set(record["units"]) if record["open"] else set()
    moves = [repo.set_open(db, registry_id=u, case_id=record["_id"], entry=None)
             for u in before_units - after_units]
    if record["open"] and (old is None or old.get("open") != record["open"]):
        moves += [repo.set_open(db, registry_id=u, case_id=record["_id"], entry=record["open"])
                  for u in after_units]
    else:
        moves += [repo.set_open(db, registry_id=u, case_id=record["_id"], entry=record["open"])
                  for u in after_units - before_units]
    await asyncio.gather(*moves)
    return True


async def apply_transition(db: Database, *, before: Mapping[str, Any] | None,
                           after: Mapping[str, Any], tz: ZoneInfo = DEFAULT_TZ) -> bool:
    """The hook `cases/` calls after each committed change. `before` is accepted for the
    contract's shape but not trusted: the difference is taken against what is counted."""
    return await apply_case(db, after, tz=tz)


def recompute(cases: Iterable[Mapping[str, Any]], *, tz: ZoneInfo = DEFAULT_TZ,
              district: str | None = None) -> tuple[dict[str, dict[str, dict[str, int]]],
                                                    dict[str, dict[str, list[Any]]],
                                                    list[Document]]:
    """Rollups, open lists and applied records computed from the cases alone."""
    rollups: dict[str, dict[str, dict[str, int]]] = {}
    opens: dict[str, dict[str, list[Any]]] = {}
    records: list[Document] = []
    for case in cases:
        rec = _record(case, tz, district or str(case.get("district") or ""))
        records.append(rec)
        vec = F.vector(rec["facts"])
        for doc, value in F.cells(rec["facts"]):
            cell = rollups.setdefault(doc, {}).setdefault(value, {})
            for measure, n in vec.items():
                cell[measure] = cell.get(measure, 0) + n
        if rec["open"]:
            for unit in rec["units"]:
                opens.setdefault(unit, {})[rec["_id"]] = rec["open"]
    return rollups, opens, records


def normalise(rollups: Mapping[str, Mapping[str, Mapping[str, int]]]) -> dict[str, dict[str, dict[str, int]]]:
    """Drop zero counts and empty cells, so incremental and recomputed rollups compare equal."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for doc, values in rollups.items():
        cells = {v: {m: n for m, n in ms.items() if n} for v, ms in values.items()}
        cells = {v: ms for v, ms in cells.items() if ms}
        if cells:
            out[doc] = cells
    return out


async def rebuild(db: Database, *, tz: ZoneInfo = DEFAULT_TZ, district: str | None = None,
                  progress: Any = None) -> dict[str, int]:
    """Recompute every rollup from the cases (`gridlink stats rebuild`).

    Meant for a quiet moment: transitions committed while it runs may be overwritten.
    """
    cases: list[Document] = []
    cursor = repo.iter_cases(db)
    async for case in cursor:
        cases.append(case)
        if progress and len(cases) % 50_000 == 0:
            progress(f"read {len(cases):,} cases")
    rollups, opens, records = recompute(cases, tz=tz, district=district)
    await repo.replace_all(db, rollups=rollups, open_lists=opens, applied_records=records)
    return {"cases": len(cases), "rollup_docs": len(rollups), "open_lists": len(opens)}
