"""What one case contributes to the statistics: a pure function of the case document.

A case is counted once, on the local day it was reported, in every rollup "cell" it belongs
to. A cell is (period, by, filter, value): period a local day `D2026-11-27` or month
`M2026-11`; `by` the dimension the chart groups on; `filter` narrows the population
(`*` all, `cat=<category>`, `ch=<channel>`, `st=<street>`); value the unit, category, channel
or kind. Each cell holds a small vector of measures (see `measures`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

OPEN_STATES = ("reported", "dispatched", "in_progress", "awaiting_verification", "returned")
DONE_STATES = ("closed", "merged")
STATES = (*OPEN_STATES, *DONE_STATES)

# Channels where the grid's own people found the problem (巡查发现) vs. citizens' reports.
PATROL_CHANNELS = frozenset({"patrol_bot"})

# Dimensions a chart can group on, with the filters kept for each. Block-level groupings only
# exist inside one street (a district-wide block chart would be one huge document).
TOP_BY = ("department", "street", "category", "channel", "kind")
TOP_FILTERS = ("*", "cat", "ch")
STREET_BY = ("workstation", "block", "sblock")
BY = (*TOP_BY, *STREET_BY)

MEASURES = (
    "n",            # cases received (reported in the period)
    "closed",       # closed (green); merged duplicates are not counted as closed
    "on_time",      # closed within the deadline (按期结案)
    "late",         # closed after the deadline
    "dispatched",   # dispatched at least once (due for handling)
    "returned",     # returned at least once (回退)
    "reworked",     # reopened after a failed verification at least once (返工)
    "extended",     # given an extension at least once (延期)
    "rated",        # rated by the reporter
    "rating_sum",   # sum of ratings (average = rating_sum / rated)
    "patrol",       # found by patrols
    "citizen",      # reported by citizens (any other channel)
    "spot",         # handled on the spot by a patrol (closed at intake)
    "merged",       # merged into another case
)


def _key(value: object) -> str:
    """A value usable as a MongoDB field name (no dots, no leading $)."""
    text = "-" if value is None or value == "" else str(value)
    return text.replace(".", "_").replace("$", "_")


def local_day(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).date().isoformat()


def facts(case: Mapping[str, Any], tz: ZoneInfo) -> dict[str, Any]:
    """The dimensions and measures of a case, as stored in `stats_cases` and counted in rollups."""
    placement = case.get("placement") or {}
    assignee = case.get("assignee") or {}
    state = str(case.get("state") or "reported")
    closed = state == "closed"
    history = case.get("history") or []
    spot = closed and (bool(case.get("handled_on_the_spot"))
                       or any(h.get("action") == "close_on_spot" for h in history))
    rating = (case.get("rating") or {}).get("score")
    channel = case.get("channel")
    on_time = bool(case.get("closed_on_time", True)) if closed and not spot else closed
    dims = {
        "day": local_day(case["created_at"], tz),
        "category": _key(case.get("category")),
        "channel": _key(channel),
        "kind": _key(case.get("kind")),
        "state": state,
        "street": _key(placement.get("street")),
        "workstation": _key(placement.get("workstation")),
        "block": _key(placement.get("community_block")),
        "sblock": _key(placement.get("street_block")),
        # The handling department: only line departments (条) count here; block work is the
        # street's and shows under the street.
        "department": _key(assignee.get("unit") if assignee.get("kind") == "department" else None),
    }
    m = {
        "n": 1,
        "closed": int(closed),
        "on_time": int(closed and on_time),
        "late": int(closed and not on_time),
        "dispatched": int(case.get("first_dispatched_at") is not None or bool(case.get("dispatched_at"))),
        "returned": int((case.get("returns") or 0) > 0),
        "reworked": int((case.get("reworks") or 0) > 0),
        "extended": int((case.get("extensions") or 0) > 0),
        "rated": int(rating is not None),
        "rating_sum": int(rating or 0),
        "patrol": int(channel in PATROL_CHANNELS),
        "citizen": int(channel not in PATROL_CHANNELS),
        "spot": int(spot),
        "merged": int(state == "merged"),
    }
    return {"dims": dims, "m": {k: v for k, v in m.items() if v}}


def periods(day: str) -> tuple[str, str]:
    """The day and month periods a case reported on `day` (YYYY-MM-DD) is counted in."""
    return "D" + day, "M" + day[:7]


def doc_id(period: str, by: str, filter_: str) -> str:
    return f"{period}|{by}|{filter_}"


def cells(f: Mapping[str, Any]) -> Iterator[tuple[str, str]]:
    """(document id, value) of every cell the case is counted in."""
    d = f["dims"]
    filters = {"*": "*", "cat": "cat=" + d["category"], "ch": "ch=" + d["channel"]}
    for period in periods(d["day"]):
        for by in TOP_BY:
            for key in TOP_FILTERS:
                if (by == "category" and key == "cat") or (by == "channel" and key == "ch"):
                    continue
                yield doc_id(period, by, filters[key]), d[by]
        for by in STREET_BY:
            yield doc_id(period, by, "st=" + d["street"]), d[by]


def vector(f: Mapping[str, Any]) -> dict[str, int]:
    """The measures a case adds to each of its cells: its measures plus one for its state."""
    return {**f["m"], "s_" + f["dims"]["state"]: 1}


def contributions(f: Mapping[str, Any] | None, sign: int = 1) -> dict[str, dict[str, int]]:
    """`{doc_id: {"v.<value>.<measure>": ±n}}` for one case's facts."""
    out: dict[str, dict[str, int]] = {}
    if f is None:
        return out
    vec = vector(f)
    for doc, value in cells(f):
        fields = out.setdefault(doc, {})
        for measure, n in vec.items():
            path = f"v.{value}.{measure}"
            fields[path] = fields.get(path, 0) + sign * n
    return out


def delta(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None) -> dict[str, dict[str, int]]:
    """What to `$inc` to move the rollups from counting `before` to counting `after`."""
    out = contributions(before, -1)
    for doc, fields in contributions(after, 1).items():
        target = out.setdefault(doc, {})
        for path, n in fields.items():
            target[path] = target.get(path, 0) + n
    return {doc: {p: n for p, n in fields.items() if n} for doc, fields in out.items()
            if any(fields.values())}


# ------------------------------------------------------------------ open cases (live colours)

# An open case is listed in its street's document and, when a line department handles it, in
# the department's: the district board reads ~35 small documents, a street's board one.
ENTRY_FIELDS = ("serial", "warn", "due", "category", "block", "workstation", "sblock", "street",
                "department", "created", "lon", "lat")


def open_entry(case: Mapping[str, Any]) -> list[Any] | None:
    """[serial, warn_at epoch s | None, due_at epoch s | None, category, community block,
    workstation, street block, street, department, created_at epoch s, lon, lat] of an open
    case; None when it is done."""
    if case.get("state") not in OPEN_STATES:
        return None
    due, warn = case.get("due_at"), case.get("warn_at")
    placement = case.get("placement") or {}
    assignee = case.get("assignee") or {}
    location = case.get("location") or {}
    return [case.get("serial"), warn.timestamp() if warn else None, due.timestamp() if due else None,
            case.get("category"), placement.get("community_block"), placement.get("workstation"),
            placement.get("street_block"), placement.get("street"),
            assignee.get("unit") if assignee.get("kind") == "department" else None,
            round(case["created_at"].timestamp()), location.get("lon"), location.get("lat")]


def open_lists(entry: list[Any] | None) -> list[str]:
    """Open-list document ids (`street:<code>`, `department:<code>`) an open case belongs to."""
    if entry is None:
        return []
    ids = [f"street:{_key(entry[7])}"]
    if entry[8]:
        ids.append(f"department:{_key(entry[8])}")
    return ids


def colour_at(entry: list[Any], now_ts: float) -> str:
    """Same rule as `cases.colour.colour_of` for an open case: red past due, yellow from warn."""
    warn, due = entry[1], entry[2]
    if due is not None and now_ts > due:
        return "red"
    if warn is not None and now_ts >= warn:
        return "yellow"
    return "blue"
