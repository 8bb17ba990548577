"""What one case contributes to the statistics: a pure function of the case document.

A case is counted once, on the local day it was reported, in every rollup "cell" it belongs
to. A cell is (period, by, filter, value): period a local day `D2026-11-27` or month
`M2026-11`; `by` the dimension the chart groups on; `filter` narrows the population
(`*` all, `cat=<category>`, `ch=<channel>`, `st=<street>`, `dp=<department>` for its handlers,
`ws=<workstation or patrol zone>` for its coordinators); value the unit, category, channel,
kind, handler or coordinator name. Each cell holds a small vector of measures (see `MEASURES`).

Trend cells (`TREND`) count the same cases by day for any combination of place, category,
channel and department: per month, `M2026-11|T|*` with values `<street>~<category>~<channel>~
<department>` and `M2026-11|T|st=<street>` with `<block>~<category>~<channel>~<department>`,
each holding the count per day of the month (measures `01`..`31`), and the same with place ×
category only (`M2026-11|Tc|…`, values `<place>~<category>~*~*`). Merged duplicates are not
counted there: a trend counts problems, not reports of one problem.
"""

from __future__ import annotations

import calendar
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from cases.model import OPEN_STATES
from cases.visibility import place_is_published

# Channels where the grid's own people found the problem (巡查发现) vs. citizens' reports.
PATROL_CHANNELS = frozenset({"patrol_bot"})

# Dimensions a chart can group on, with the filters kept for each. Block-level groupings only
# exist inside one street (a district-wide block chart would be one huge document).
TOP_BY = ("department", "street", "category", "channel", "kind")
TOP_FILTERS = ("*", "cat", "ch")
STREET_BY = ("workstation", "block", "sblock")
# The lower assessment levels: a department's cases by who handled them (filter `dp=<dept>`),
# a workstation's (or patrol zone's) cases by the patrol coordinator who found them (`ws=<code>`).
PEOPLE_BY = {"handler": "dp", "coordinator": "ws"}
BY = (*TOP_BY, *STREET_BY, *PEOPLE_BY)
# Roles that report as the grid's own patrol (the bot's roster members).
PATROL_ROLES = ("coordinator", "leader", "station_head")
# Actions by which the assigned unit's person takes up and works on a case.
HANDLING_ACTIONS = ("accept", "feedback", "request_extension")

MEASURES = (
    "n",            # cases received (reported in the period)
    "closed",       # closed (green); merged duplicates are not counted as closed
    "handled",      # handled (处置): the handler's feedback is in (awaiting verification) or closed
    "handled_on_time",  # handled within the deadline (按期处置)
    "on_time",      # closed within the deadline (按期结案)
    "late",         # closed after the deadline
    "dispatched",   # dispatched at least once (due for handling)
    "returned",     # returned at least once (回退)
    "reworked",     # reopened after a failed verification at least once (返工)
    "extended",     # given an extension at least once (延期)
    "rated",        # rated by the reporter
    "rating_sum",   # sum of ratings (average = rating_sum / rated)
    "satisfied",    # rated 满意 (5) or 较满意 (4): 群众满意率 = satisfied / rated
    "patrol",       # found by patrols
    "citizen",      # reported by citizens (any other channel)
    "spot",         # handled on the spot by a patrol (closed at intake)
    "merged",       # merged into another case
    "refused",      # not accepted (不予立案) or voided (作废): received, never a case (issue 22)
)


def _key(value: object) -> str:
    """A value usable as a MongoDB field name (no dots, no leading $)."""
    text = "-" if value is None or value == "" else str(value)
    return text.replace(".", "_").replace("$", "_")


def local_day(at: datetime, tz: ZoneInfo) -> str:
    return at.astimezone(tz).date().isoformat()


def _name(actor: Mapping[str, Any] | None) -> str | None:
    actor = actor or {}
    return str(actor.get("name") or "").strip() or None


def handler_of(case: Mapping[str, Any]) -> str | None:
    """Who in the assigned unit handles the case (the department's team or handler): the name on
    the latest accept / feedback / extension request since the last (re)dispatch, by an actor of
    the assigned unit (or an admin acting for it). None until someone has taken it up."""
    assignee = case.get("assignee") or {}
    for entry in reversed(case.get("history") or []):
        action = entry.get("action")
        if action in ("dispatch", "redispatch"):
            return None
        actor = entry.get("actor") or {}
        if action in HANDLING_ACTIONS and (actor.get("unit") == assignee.get("unit")
                                           or actor.get("role") == "admin"):
            return _name(actor) or actor.get("role")
    return None


def coordinator_of(case: Mapping[str, Any]) -> str | None:
    """The roster name of the patrol member who found a patrol-channel case (recorded at intake
    as the reporting actor); None for citizens' channels. Only the name: never a phone or chat id."""
    if case.get("channel") not in PATROL_CHANNELS:
        return None
    history = case.get("history") or []
    actor = (history[0].get("actor") if history else None) or {}
    if actor.get("role") in PATROL_ROLES and _name(actor):
        return _name(actor)
    reporter = case.get("reporter") or {}
    return _name(reporter) if reporter.get("role") in PATROL_ROLES else None


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
    handled = closed or state == "awaiting_verification"
    # Before verification the feedback's own flag says whether it came within the deadline.
    handled_on_time = on_time if closed else handled and (case.get("result") or {}).get("on_time") is not False
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
        "handler": _key(handler_of(case)),
        "coordinator": _key(coordinator_of(case)),
        "station": _key(placement.get("workstation") or placement.get("patrol_zone")),
    }
    m = {
        "n": 1,
        "closed": int(closed),
        "on_time": int(closed and on_time),
        "late": int(closed and not on_time),
        "handled": int(handled),
        "handled_on_time": int(handled_on_time),
        "dispatched": int(case.get("first_dispatched_at") is not None or bool(case.get("dispatched_at"))),
        "returned": int((case.get("returns") or 0) > 0),
        "reworked": int((case.get("reworks") or 0) > 0),
        "extended": int((case.get("extensions") or 0) > 0),
        "rated": int(rating is not None),
        "rating_sum": int(rating or 0),
        "satisfied": int(rating is not None and rating >= 4),
        "patrol": int(channel in PATROL_CHANNELS),
        "citizen": int(channel not in PATROL_CHANNELS),
        "spot": int(spot),
        "merged": int(state == "merged"),
        "refused": int(state in ("refused", "voided")),
    }
    out: dict[str, Any] = {"dims": dims, "m": {k: v for k, v in m.items() if v}}
    if parts := part_facts(case, m):
        out["parts"] = parts
    return out


# ------------------------------------------------------------------ joint cases (联勤联动)
# Each assisting line department of a joint case (cases.joint) is credited with its own part:
# counted in the department cells (and its teams') with its part's handling and timeliness,
# and listed open in its own `dp:` list on its part's clock. The lead keeps the case's result.
PART_ACTIONS = ("part_accept", "part_feedback", "part_return")
OPEN_PART_STATES = ("dispatched", "in_progress")


def part_handler(case: Mapping[str, Any], unit: str) -> str | None:
    """Who in the assisting unit took its part up (the name on its latest part step)."""
    for entry in reversed(case.get("history") or []):
        actor = entry.get("actor") or {}
        if entry.get("action") in PART_ACTIONS and (entry.get("data") or {}).get("unit") == unit:
            return _name(actor) or actor.get("role")
    return None


def part_facts(case: Mapping[str, Any], m: Mapping[str, int]) -> list[dict[str, Any]]:
    """`[{unit, handler, m}]`: each line department's part of a joint case with its measures
    (the case's received, channel and rating; its own handling, timeliness and return)."""
    out = []
    closed = case.get("state") == "closed"
    for p in case.get("parts") or []:
        if p.get("kind") != "department":
            continue
        done = p.get("state") == "done"
        on_time = done and (p.get("feedback") or {}).get("on_time") is not False
        pm = {"n": 1, "dispatched": 1, "handled": int(done), "handled_on_time": int(on_time),
              "closed": int(closed and done), "on_time": int(closed and on_time),
              "late": int(closed and done and not on_time),
              "returned": int(p.get("state") == "returned"),
              "reworked": int(p.get("reopened_at") is not None),
              **{k: m[k] for k in ("rated", "rating_sum", "satisfied", "patrol", "citizen",
                                   "refused") if m.get(k)}}
        out.append({"unit": _key(p["unit"]), "handler": _key(part_handler(case, p["unit"])),
                    "m": {k: v for k, v in pm.items() if v}})
    return out


def part_entries(case: Mapping[str, Any]) -> dict[str, list[Any]]:
    """`{"dp:<unit>": entry}` where a department's list holds a joint case on another clock
    than the case's: each open part of a line department (the case's open entry on the part's
    own clock and handler, its department the part's unit), and the lead department once it
    has fed back (handled, on no clock: the parts' lateness is theirs)."""
    base = open_entry(case)
    if base is None:
        return {}
    out = {}
    if case.get("waiting_parts") and base[8]:
        lead = list(base)
        lead[1], lead[2], lead[HANDLED] = None, None, 1
        out[f"dp:{_key(base[8])}"] = lead
    for p in case.get("parts") or []:
        if p.get("kind") != "department" or p.get("state") not in OPEN_PART_STATES:
            continue
        entry = list(base)
        entry[1] = epoch_s(p["warn_at"]) if p.get("warn_at") else None
        entry[2] = epoch_s(p["due_at"]) if p.get("due_at") else None
        entry[8], entry[12], entry[HANDLED] = p["unit"], part_handler(case, p["unit"]), 0
        out[f"dp:{_key(p['unit'])}"] = entry
    return out


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
        if d["department"] != "-":
            yield doc_id(period, "handler", "dp=" + d["department"]), d["handler"]
        if d["coordinator"] != "-":
            yield doc_id(period, "coordinator", "ws=" + d["station"]), d["coordinator"]


TREND = "T"
# The same months with place × category only (channel and department `*`): most trend reads
# and the early-warning scan need no more, and these hold a quarter of the rows.
TREND_COARSE = "Tc"
TREND_SEP = "~"


def trend_cells(f: Mapping[str, Any]) -> Iterator[tuple[str, str, str]]:
    """(document id, value, day of month) of the trend cells a case is counted in."""
    d = f["dims"]
    if d["state"] == "merged":
        return
    month, dd = "M" + d["day"][:7], d["day"][8:10]
    tail = TREND_SEP.join((d["category"], d["channel"], d["department"]))
    coarse = TREND_SEP.join((d["category"], "*", "*"))
    yield doc_id(month, TREND, "*"), d["street"] + TREND_SEP + tail, dd
    yield doc_id(month, TREND_COARSE, "*"), d["street"] + TREND_SEP + coarse, dd
    if d["street"] != "-":
        place = d["block"] if d["block"] != "-" else d["sblock"]
        yield doc_id(month, TREND, "st=" + d["street"]), place + TREND_SEP + tail, dd
        yield doc_id(month, TREND_COARSE, "st=" + d["street"]), place + TREND_SEP + coarse, dd


def vector(f: Mapping[str, Any]) -> dict[str, int]:
    """The measures a case adds to each of its cells: its measures plus one for its state."""
    return {**f["m"], "s_" + f["dims"]["state"]: 1}


def contributions(f: Mapping[str, Any] | None, sign: int = 1) -> dict[str, dict[str, dict[str, int]]]:
    """`{doc_id: {value: {measure: ±n}}}` for one case's facts."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    if f is None:
        return out
    vec = vector(f)
    for doc, value in cells(f):
        cell = out.setdefault(doc, {}).setdefault(value, {})
        for measure, n in vec.items():
            cell[measure] = cell.get(measure, 0) + sign * n
    for doc, value, dd in trend_cells(f):
        cell = out.setdefault(doc, {}).setdefault(value, {})
        cell[dd] = cell.get(dd, 0) + sign
    for doc, value, pvec in part_cells(f):
        cell = out.setdefault(doc, {}).setdefault(value, {})
        for measure, n in pvec.items():
            cell[measure] = cell.get(measure, 0) + sign * n
    return out


def part_cells(f: Mapping[str, Any]) -> Iterator[tuple[str, str, dict[str, int]]]:
    """(document id, value, measures) of the department and team cells of a joint case's
    parts (`part_facts`), beside the case's own cells."""
    d = f["dims"]
    filters = {"*": "*", "cat": "cat=" + d["category"], "ch": "ch=" + d["channel"]}
    for part in f.get("parts") or []:
        vec = {**part["m"], "s_" + d["state"]: 1}
        for period in periods(d["day"]):
            for key in TOP_FILTERS:
                yield doc_id(period, "department", filters[key]), part["unit"], vec
            yield doc_id(period, "handler", "dp=" + part["unit"]), part["handler"], vec


def delta(before: Mapping[str, Any] | None, after: Mapping[str, Any] | None
          ) -> dict[str, dict[str, dict[str, int]]]:
    """What to add to the rollups to move them from counting `before` to counting `after`."""
    out = contributions(before, -1)
    for doc, values in contributions(after, 1).items():
        target = out.setdefault(doc, {})
        for value, cell in values.items():
            acc = target.setdefault(value, {})
            for measure, n in cell.items():
                acc[measure] = acc.get(measure, 0) + n
    return prune(out)


def prune(rollups: Mapping[str, Mapping[str, Mapping[str, int]]]) -> dict[str, dict[str, dict[str, int]]]:
    """Drop zero counts, empty cells and empty documents."""
    out: dict[str, dict[str, dict[str, int]]] = {}
    for doc, values in rollups.items():
        cells_ = {v: {m: n for m, n in ms.items() if n} for v, ms in values.items()}
        cells_ = {v: ms for v, ms in cells_.items() if ms}
        if cells_:
            out[doc] = cells_
    return out


def add_into(target: dict[str, dict[str, int]], values: Mapping[str, Mapping[str, int]]) -> None:
    for value, cell in values.items():
        acc = target.setdefault(value, {})
        for measure, n in cell.items():
            acc[measure] = acc.get(measure, 0) + n


# ------------------------------------------------------------------ open cases (live colours)

# An open case is listed in its street's, station's (workstation or patrol zone), block's and,
# when a line department handles it, its department's list; each list has a packed summary
# (counts by colour come from sorted warn/due times, whatever the number of cases).
ENTRY_FIELDS = ("serial", "warn", "due", "category", "block", "workstation", "sblock", "street",
                "department", "created", "lon", "lat", "handler", "coordinator", "station",
                "public", "place", "handled")
PUBLIC, PLACE = 15, 16  # positions of the flags (entries stored before them have 15 fields)
# Fed back, awaiting verification: handled, so not "overdue unhandled" in the assessment even
# when its verification is late (entries stored before the flag have 17 fields).
HANDLED = 17
LIST_KINDS = {"st": 7, "ws": 14, "bk": 4, "dp": 8}  # list kind → entry position of its unit


def epoch_s(at: datetime) -> float:
    """Seconds since the epoch at millisecond precision (what BSON keeps), so a case read back
    from the database gives the same figure as the in-memory one."""
    ms = calendar.timegm(at.utctimetuple()) * 1000 + at.microsecond // 1000
    return ms / 1000


def open_entry(case: Mapping[str, Any]) -> list[Any] | None:
    """[serial, warn_at s | None, due_at s | None, category, block (community or street block),
    workstation, street block, street, department, created_at s, lon, lat, handler,
    coordinator, station (workstation or patrol zone), public 0/1, place published 0/1,
    handled 0/1] of an open case; None when it is done.

    The public pages list these entries: a case that is not public keeps no serial here ("",
    so no summary built from the list names it), and lon/lat are kept only where the place is
    published with the case (`cases.visibility.place_is_published`) — never a citizen's own."""
    if case.get("state") not in OPEN_STATES:
        return None
    due, warn = case.get("due_at"), case.get("warn_at")
    placement = case.get("placement") or {}
    assignee = case.get("assignee") or {}
    public = bool(case.get("public"))
    place = public and place_is_published(case)
    location = (case.get("location") or {}) if place else {}
    # "" rather than None: summaries compare entries by (due, serial).
    return [case.get("serial") if public else "",
            epoch_s(warn) if warn else None, epoch_s(due) if due else None,
            case.get("category"), placement.get("community_block") or placement.get("street_block"),
            placement.get("workstation"), placement.get("street_block"), placement.get("street"),
            assignee.get("unit") if assignee.get("kind") == "department" else None,
            epoch_s(case["created_at"]), location.get("lon"), location.get("lat"),
            handler_of(case) if assignee.get("kind") == "department" else None,
            coordinator_of(case), placement.get("workstation") or placement.get("patrol_zone"),
            int(public), int(place), int(case.get("state") == "awaiting_verification")]


def is_handled(entry: list[Any]) -> bool:
    """Whether the open case's handler has fed back (it waits for verification)."""
    return len(entry) > HANDLED and bool(entry[HANDLED])


def is_public(entry: list[Any]) -> bool:
    """Whether the entry's case may be listed anonymously (entries without the flag: no)."""
    return len(entry) > PUBLIC and bool(entry[PUBLIC]) and bool(entry[0])


def published_point(entry: list[Any]) -> tuple[float, float] | None:
    """(lon, lat) of a public case whose place is published; None otherwise."""
    if not (is_public(entry) and len(entry) > PLACE and entry[PLACE]):
        return None
    lon, lat = entry[10], entry[11]
    return (lon, lat) if lon is not None and lat is not None else None


def open_lists(entry: list[Any] | None) -> list[str]:
    """Open-list ids (`st:<street>`, `ws:<station>`, `bk:<block>`, `dp:<department>`) of an
    open case."""
    if entry is None:
        return []
    return [f"{kind}:{_key(entry[pos])}" for kind, pos in LIST_KINDS.items() if entry[pos]]


DISTRICT_GROUP = "~"  # the district board's group (its streets' and departments' lists)


def board_groups(list_id: str, entry: list[Any]) -> list[str]:
    """The boards (by unit; `~` the district's) whose rows include this open list's summary,
    from any entry of the list: a street's list shows on the district board and heads its own,
    a department's on the district board, a station's (workstation or patrol zone) on its
    street's board and heads its own, a block's on its station's."""
    kind, code = list_id.split(":", 1)
    if kind == "st":
        return [DISTRICT_GROUP, code]
    if kind == "dp":
        return [DISTRICT_GROUP]
    parent = entry[LIST_KINDS["st"]] if kind == "ws" else entry[LIST_KINDS["ws"]]
    own = [code] if kind == "ws" else []
    return own + ([_key(parent)] if parent else [])


def colour_at(entry: list[Any], now_ts: float) -> str:
    """Same rule as `cases.colour.colour_of` for an open case: red past due, yellow from warn."""
    warn, due = entry[1], entry[2]
    if due is not None and now_ts > due:
        return "red"
    if warn is not None and now_ts >= warn:
        return "yellow"
    return "blue"
