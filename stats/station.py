"""A station head's blocks (工作站站长): each block of a workstation (or patrol zone) with its open
cases by colour and the month's closed ones, the cases waiting longest in it, and the station's
totals — read from the board's rollups (`stats.board`): one board-group lookup for the counts and
one `$in` over the blocks' open lists for the waiting cases, whatever the number of cases.

Who may see the cases named here is the caller's business (`cases.visibility`): this module
returns case ids, never case contents.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from gridlink.db import Database
from gridlink.errors import InvalidInput
from grids import repository as grids_repo
from stats import repository as repo
from stats.board import board
from stats.facts import colour_at
from stats.rollups import fresh
from stats.units import directory

STATION_LEVELS = ("workstation", "patrol_zone")
WAITING = 5  # cases shown per block, those waiting longest first
_CREATED = 9  # an open entry's created_at (stats.facts.open_entry)


async def station_blocks(db: Database, *, unit: str, now: datetime, tz: ZoneInfo, district: str,
                         waiting: int = WAITING) -> dict[str, Any]:
    """The station's board (`totals`, the month's `green`) and `blocks`: one row per block
    (`unit`, `name`, `name_en`, red/yellow/blue/open/green counts, `leaders` and
    `coordinators` bound, by name) with `waiting`, its open cases oldest first ({case_id,
    colour, created_at}, at most `waiting`)."""
    view = await fresh(db, now=now)
    out = await board(db, unit=unit, now=now, tz=tz, district=district, view=view)
    if out["level"] not in STATION_LEVELS:
        raise InvalidInput(f"{unit} is a {out['level']}, not a workstation or patrol zone",
                           unit=unit, level=out["level"])
    names = await directory(db, district=district)
    rows: list[dict[str, Any]] = next(iter(out.pop("sections").values()), [])
    lists = await repo.open_docs(db, ids=[f"bk:{r['unit']}" for r in rows], version=view.version)
    ts = now.timestamp()
    for row in rows:
        entries = lists.get(f"bk:{row['unit']}") or {}
        oldest = sorted(entries.items(), key=lambda kv: (kv[1][_CREATED] or ts, kv[0]))[:waiting]
        row["name_en"] = names.name_en.get(row["unit"], row["name"])
        row["waiting"] = [{"case_id": case_id, "colour": colour_at(entry, ts),
                           "created_at": datetime.fromtimestamp(entry[_CREATED], tz)
                           if entry[_CREATED] else None}
                          for case_id, entry in oldest]
    for row, bound in zip(rows, await asyncio.gather(*(people(db, block=r["unit"]) for r in rows)),
                          strict=True):
        row.update(bound)
    out["name_en"] = names.name_en.get(unit, out["name"])
    out["blocks"] = rows
    out["green"] = sum(r["green"] for r in rows)
    return out


async def people(db: Database, *, block: str) -> dict[str, list[str]]:
    """Names of the block's leaders and coordinators bound in the roster (those who patrol it
    as their second role too): two indexed equalities on the roster."""
    main, also = await asyncio.gather(grids_repo.members(db, unit=block),
                                      grids_repo.also_members(db, unit=block))
    return {"leaders": [m["name"] for m in main if m["role"] == "leader"],
            "coordinators": [m["name"] for m in main if m["role"] == "coordinator"]
            + [m["name"] for m in also if m.get("also_role") == "coordinator"]}
