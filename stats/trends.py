"""Trends (热点趋势): case counts per day, ISO week or month for any combination of places
(streets, workstations or patrol zones, blocks), categories, channels and departments, with the
previous period and the same period last year beside them.

Read from the trend cells (`stats.facts.trend_cells`): one document per month — the district's
(`M…|T|*`, places at street level) or, when workstations or blocks are asked for, one per street
involved (`M…|T|st=<street>`) — so a year's daily trend reads ~13 documents per period compared,
in one `$in` lookup, whatever the number of cases. Within a dimension the chosen values are
alternatives (OR); across dimensions they all apply (AND).
"""

from __future__ import annotations

import re
from calendar import monthrange
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Any

from gridlink.db import Database
from gridlink.errors import InvalidInput
from stats import repository as repo
from stats import trend_codec
from stats.facts import TREND, TREND_COARSE
from stats.hotspots import CHANNEL_NAMES, KIND_NAMES
from stats.rollups import View
from stats.units import Directory

GRAINS = ("day", "week", "month")
BY = ("total", "street", "workstation", "block", "category", "channel", "department")
COMPARE = ("previous", "last_year")
# Points per series at most (two years of days, ten of weeks, twenty of months).
MAX_POINTS = {"day": 732, "week": 522, "month": 240}
MAX_SERIES = 12  # lines drawn; the rest are summed into "other"
MAX_CODES = 200  # values chosen per filter
_CODE = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")
CHANNEL_NAMES_EN = {
    "patrol_bot": "Patrol report", "citizen_bot": "Citizen chat", "hotline_962000": "962000 hotline",
    "hotline_12345": "12345 hotline", "transfer_110": "110 transfer", "mayor_mailbox": "Mayor's mailbox",
    "party_mailbox": "Party secretary's mailbox", "web_portal": "Website", "open311": "Open311",
}
KIND_NAMES_EN = {"hazard": "Hazard", "consultation": "Consultation", "complaint": "Complaint",
                 "help": "Help", "suggestion": "Suggestion"}
TOTAL_NAMES = {"zh": "合计", "en": "Total"}
OTHER_NAMES = {"zh": "其他", "en": "Other"}


def codes(value: str | None, field: str) -> frozenset[str]:
    """A comma-separated list of codes (repeatable parameters are joined by the caller)."""
    if not value:
        return frozenset()
    found = [v.strip() for v in value.split(",") if v.strip()]
    if len(found) > MAX_CODES:
        raise InvalidInput(f"{field}: at most {MAX_CODES} values", field=field)
    bad = next((v for v in found if not _CODE.match(v)), None)
    if bad is not None:
        raise InvalidInput(f"{field}: {bad[:70]!r} is not a code", field=field)
    return frozenset(found)


@dataclass(frozen=True)
class Filters:
    streets: frozenset[str] = frozenset()
    stations: frozenset[str] = frozenset()  # workstations or patrol zones
    blocks: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    channels: frozenset[str] = frozenset()
    departments: frozenset[str] = frozenset()

    @property
    def below_street(self) -> bool:
        return bool(self.stations or self.blocks)


@dataclass(frozen=True)
class Query:
    start: date
    end: date
    grain: str = "day"
    by: str = "total"
    filters: Filters = field(default_factory=Filters)


def snap(start: date, end: date, grain: str) -> tuple[date, date]:
    """The range widened to whole weeks (Monday..Sunday) or months."""
    if grain == "week":
        return start - timedelta(days=start.weekday()), end + timedelta(days=6 - end.weekday())
    if grain == "month":
        return start.replace(day=1), end.replace(day=monthrange(end.year, end.month)[1])
    return start, end


def label_of(day: date, grain: str) -> str:
    if grain == "week":
        y, w, _ = day.isocalendar()
        return f"{y}-W{w:02d}"
    if grain == "month":
        return day.strftime("%Y-%m")
    return day.isoformat()


def buckets(start: date, end: date, grain: str) -> list[str]:
    return list(_buckets(start, end, grain))


@lru_cache(maxsize=256)
def _buckets(start: date, end: date, grain: str) -> tuple[str, ...]:
    out: list[str] = []
    day = start
    while day <= end:
        label = label_of(day, grain)
        if not out or out[-1] != label:
            out.append(label)
        day += timedelta(days=1)
    return tuple(out)


def _add_months(day: date, n: int) -> date:
    y, m = divmod(day.year * 12 + day.month - 1 + n, 12)
    return date(y, m + 1, min(day.day, monthrange(y, m + 1)[1]))


def comparison(start: date, end: date, grain: str, which: str) -> tuple[date, date]:
    """The previous period of the same length, or the same period a year before: the same
    months for months, 52 weeks earlier for days and weeks (so weekdays line up)."""
    if which == "previous":
        if grain == "month":
            n = len(buckets(start, end, grain))
            return _add_months(start, -n), _add_months(start, 0) - timedelta(days=1)
        span = (end - start).days + 1
        return start - timedelta(days=span), start - timedelta(days=1)
    if grain == "month":
        return _add_months(start, -12), _add_months(end.replace(day=1), -12).replace(
            day=monthrange(end.year - 1, end.month)[1])
    return start - timedelta(days=364), end - timedelta(days=364)


def months(start: date, end: date) -> list[str]:
    out, day = [], start.replace(day=1)
    while day <= end:
        out.append("M" + day.strftime("%Y-%m"))
        day = _add_months(day, 1)
    return out


def validate(q: Query) -> Query:
    if q.grain not in GRAINS:
        raise InvalidInput(f"grain must be one of {', '.join(GRAINS)}", field="grain")
    if q.by not in BY:
        raise InvalidInput(f"by must be one of {', '.join(BY)}", field="by")
    if q.end < q.start:
        raise InvalidInput("`to` is before `from`", field="to")
    start, end = snap(q.start, q.end, q.grain)
    if len(buckets(start, end, q.grain)) > MAX_POINTS[q.grain]:
        raise InvalidInput(f"at most {MAX_POINTS[q.grain]} points per {q.grain}: choose a shorter "
                           "range or a coarser grain", field="grain")
    return Query(start, end, q.grain, q.by, q.filters)


def _streets(q: Query, d: Directory) -> list[str] | None:
    """The streets whose block-level documents the query needs (None: the district's suffices)."""
    f = q.filters
    if not f.below_street and q.by not in ("workstation", "block"):
        return None
    if not (f.streets or f.below_street):
        return d.of_level("street")
    found = set(f.streets)
    for code in (*f.stations, *f.blocks):
        street = d.street_of(code)
        if street:
            found.add(street)
    return sorted(found)


def coarse(q: Query) -> bool:
    """Whether place × category months (`Tc`) answer the query: no channel or department in it."""
    return not (q.filters.channels or q.filters.departments) and q.by not in ("channel", "department")


def doc_ids(start: date, end: date, streets: list[str] | None, *, place_category: bool = False) -> list[str]:
    filters = ["*"] if streets is None else ["st=" + s for s in streets]
    kind = TREND_COARSE if place_category else TREND
    return [f"{m}|{kind}|{flt}" for m in months(start, end) for flt in filters]


def _group_sum(inverse: Any, values: Any, k: int) -> Any:
    """The rows of `values` summed by key index (0..k-1): sorted, then `numpy.add.reduceat` —
    `numpy.add.at` took ~8 ms a month at a million cases, a matrix product on BLAS's threads
    more on a busy machine; this takes ~0.4 ms."""
    import numpy as np

    out = np.zeros((k, values.shape[1]), dtype=np.int64)
    if not len(inverse):
        return out
    order = np.argsort(inverse, kind="stable")
    keys = inverse[order]
    starts = np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])
    out[keys[starts]] = np.add.reduceat(values[order], starts, axis=0)
    return out


@lru_cache(maxsize=512)
def _month_map(period: str, start: date, end: date, grain: str) -> tuple[Any, Any]:
    """(day-of-month columns within the range, the bucket each goes to) for one month: days
    ascend, so each bucket's columns are adjacent (`numpy.add.reduceat` sums them)."""
    import numpy as np

    labels = {label: i for i, label in enumerate(_buckets(start, end, grain))}
    y, mo = int(period[1:5]), int(period[6:8])
    cols, target = [], []
    for dd in range(1, monthrange(y, mo)[1] + 1):
        day = date(y, mo, dd)
        if start <= day <= end:
            cols.append(dd)
            target.append(labels[label_of(day, grain)])
    return np.asarray(cols, dtype=np.intp), np.asarray(target, dtype=np.intp)


@dataclass
class Parsed:
    """A trend document as arrays (`stats.trend_codec.Table`): each dimension's distinct values
    (place, category, channel, department), the rows' codes into them, and the rows' counts by
    day of month; `derived` keeps what reads computed from it (station codes, groupings)."""

    dims: list[list[str]]
    codes: Any  # int32 (4 × rows)
    counts: Any  # int32 (rows × 32), column = day of month
    derived: dict[Any, Any] = field(default_factory=dict)  # station codes

    @property
    def place(self) -> list[str]:
        return self.dims[PLACE]


PLACE, CATEGORY, CHANNEL, DEPARTMENT = range(4)

# Parsed documents by (id, contents digest `r`): a month's trend cells change only while its
# cases are dispatched or merged, so past months are read and parsed once per process; a
# request reads the digests only (`repository.revisions`) and the documents that changed.
_parsed: OrderedDict[tuple[str, str], Parsed] = OrderedDict()
PARSED_MAX = 1500  # a few MB at a million cases (packed int32 counts of the rows that exist)


def parse(doc_id: str, doc: Mapping[str, Any]) -> Parsed:
    key = (doc_id, str(doc.get("r") or ""))
    found = _parsed.get(key)
    if found is not None:
        _parsed.move_to_end(key)
        return found
    t = trend_codec.table(doc)
    found = Parsed(t.dims, t.codes, t.counts)
    _parsed[key] = found
    if len(_parsed) > PARSED_MAX:
        _parsed.popitem(last=False)
    return found


def _pick(values: list[str], codes: Any, chosen: frozenset[str]) -> Any:
    """Rows whose value (by code) is among `chosen`: a lookup table over the distinct values."""
    import numpy as np

    lut = np.fromiter((v in chosen for v in values), dtype=bool, count=len(values))
    return lut[codes]


def _station(p: Parsed, parent: Mapping[str, str | None]) -> tuple[list[str], Any]:
    """The stations (workstation or patrol zone) of the rows' places: distinct values, codes."""
    import numpy as np

    if "station" not in p.derived:
        names = [parent.get(b) or "-" for b in p.place]
        uniq = sorted(set(names))
        at = {v: i for i, v in enumerate(uniq)}
        lut = np.asarray([at[v] for v in names], dtype=np.int32)
        p.derived["station"] = (uniq, lut[p.codes[PLACE]] if len(lut) else p.codes[PLACE])
    return p.derived["station"]  # type: ignore[no-any-return]


def _grouping(p: Parsed, by: str, street_doc: str | None, parent: Mapping[str, str | None]
              ) -> tuple[list[str], Any]:
    """The keys of a document's rows grouped `by`, and each row's key (index into them)."""
    import numpy as np

    if by == "total" or (by == "street" and street_doc):
        return ["total" if by == "total" else str(street_doc)], np.zeros(len(p.counts), dtype=np.intp)
    if by == "workstation":
        return _station(p, parent)  # type: ignore[no-any-return]
    dim = {"street": PLACE, "block": PLACE, "category": CATEGORY, "channel": CHANNEL,
           "department": DEPARTMENT}[by]
    return p.dims[dim], p.codes[dim]


def series(docs: Mapping[str, Mapping[str, Any]], *, start: date, end: date,
           grain: str, by: str, filters: Filters, directory: Directory) -> dict[str, list[int]]:
    """`{key: counts per bucket}` of the (raw) trend documents read for this range."""
    import numpy as np

    width = len(_buckets(start, end, grain))
    index: dict[str, int] = {}  # key → row of the answer
    parts: list[tuple[Any, Any]] = []
    f = filters
    parent = directory.parent
    for doc_id, doc in docs.items():
        period, _, flt = doc_id.split("|", 2)
        p = parse(doc_id, doc)
        n = len(p.counts)
        if not n:
            continue
        cols, target = _month_map(period, start, end, grain)
        if not len(cols):
            continue
        street_doc = flt[3:] if flt.startswith("st=") else None
        mask = np.ones(n, dtype=bool)
        for chosen, dim in ((f.categories, CATEGORY), (f.channels, CHANNEL), (f.departments, DEPARTMENT)):
            if chosen:
                mask &= _pick(p.dims[dim], p.codes[dim], chosen)
        if street_doc is None:
            if f.streets:
                mask &= _pick(p.place, p.codes[PLACE], f.streets)
        elif (f.streets or f.below_street) and street_doc not in f.streets:
            stations, station_codes = _station(p, parent)
            mask &= (_pick(p.place, p.codes[PLACE], f.blocks)
                     | _pick(stations, station_codes, f.stations))
        if not mask.any():
            continue
        keys, inverse = _grouping(p, by, street_doc, parent)
        every = bool(mask.all())
        rows, inv = (p.counts, inverse) if every else (p.counts[mask], inverse[mask])
        # The month's days in range are one run of columns (a slice: no copy) but at a gap.
        days = rows[:, cols[0]:cols[-1] + 1] if cols[-1] - cols[0] + 1 == len(cols) else rows[:, cols]
        grouped = _group_sum(inv, days, len(keys))
        starts = np.flatnonzero(np.r_[True, target[1:] != target[:-1]])
        spread = np.zeros((len(keys), width), dtype=np.int64)
        spread[:, target[starts]] = np.add.reduceat(grouped, starts, axis=1)
        parts.append((np.asarray([index.setdefault(k, len(index)) for k in keys], dtype=np.intp), spread))
    out = np.zeros((len(index), width), dtype=np.int64)
    for rows, spread in parts:
        out[rows] += spread  # a document's keys are distinct
    return {k: out[i].tolist() for k, i in index.items() if out[i].any()}


def labeller(directory: Directory, lang: str) -> Any:
    """Name of a key of a dimension in `lang` (zh or en)."""
    from cases.categories import DEFAULT_CATEGORIES

    cats = {c.code: (c.name_en if lang == "en" else c.name_zh) for c in DEFAULT_CATEGORIES}
    channels = CHANNEL_NAMES_EN if lang == "en" else CHANNEL_NAMES
    kinds = KIND_NAMES_EN if lang == "en" else KIND_NAMES
    units = directory.name_en if lang == "en" else directory.name

    def label(by: str, key: str) -> str:
        if by == "total":
            return TOTAL_NAMES.get(lang, TOTAL_NAMES["zh"])
        if key == "~other":
            return OTHER_NAMES.get(lang, OTHER_NAMES["zh"])
        if by == "category":
            return cats.get(key, key)
        if by == "channel":
            return channels.get(key, key)
        if by == "kind":
            return kinds.get(key, key)
        if key == "-":
            return "—"
        return units.get(key, key)

    return label


def _top(found: dict[str, list[int]], width: int) -> list[tuple[str, list[int]]]:
    ranked = sorted(found.items(), key=lambda kv: (-sum(kv[1]), kv[0]))
    head, rest = ranked[:MAX_SERIES], ranked[MAX_SERIES:]
    if rest:
        import numpy as np

        head.append(("~other", np.asarray([data for _, data in rest], dtype=np.int64).sum(axis=0).tolist()))
    return head


async def current_docs(db: Database, ids: list[str]) -> dict[str, Mapping[str, Any]]:
    """The trend documents as they are now: their digests, then only the contents this process
    has not parsed yet (`{id: {"r"}}` for the others — `parse` finds them by digest)."""
    revs = await repo.revisions(db, ids=ids)
    out: dict[str, Mapping[str, Any]] = {i: {"r": r} for i, r in revs.items()}
    missing = []
    for i, r in revs.items():
        if r and (i, r) in _parsed:
            _parsed.move_to_end((i, r))  # in use: not the next to go
        else:
            missing.append(i)
    if missing:
        out.update(await repo.raw_docs(db, ids=missing))
    return out


async def trends(db: Database, q: Query, *, directory: Directory, view: View | None = None,
                 compare: Iterable[str] = COMPARE, lang: str = "zh") -> dict[str, Any]:
    """The series of the query and its comparison periods (one `$in` lookup for all)."""
    q = validate(q)
    compare = [c for c in compare if c in COMPARE]
    ranges = {"current": (q.start, q.end), **{c: comparison(q.start, q.end, q.grain, c) for c in compare}}
    streets = _streets(q, directory)
    ids = {name: doc_ids(s, e, streets, place_category=coarse(q)) for name, (s, e) in ranges.items()}
    docs = await current_docs(db, [i for group in ids.values() for i in group])
    label = labeller(directory, lang)
    width = len(buckets(q.start, q.end, q.grain))
    found = {name: series({i: docs[i] for i in ids[name] if i in docs}, start=s, end=e,
                          grain=q.grain, by=q.by, filters=q.filters, directory=directory)
             for name, (s, e) in ranges.items()}
    top = _top(found["current"], width)
    keys = [k for k, _ in top]

    def total(rows: dict[str, list[int]], n: int) -> list[int]:
        import numpy as np

        return np.asarray(list(rows.values()), dtype=np.int64).reshape(-1, n).sum(axis=0).tolist()

    body: dict[str, Any] = {
        "from": q.start.isoformat(), "to": q.end.isoformat(), "grain": q.grain, "by": q.by,
        "lang": lang, "buckets": buckets(q.start, q.end, q.grain),
        "series": [{"key": k, "name": label(q.by, k), "data": data, "sum": sum(data)} for k, data in top],
        "total": total(found["current"], width),
        "documents": len(set(ids["current"]) & set(docs)),
    }
    body["compare"] = {}
    for name in compare:
        s, e = ranges[name]
        n = len(buckets(s, e, q.grain))
        rows = found[name]
        tot = total(rows, n)
        body["compare"][name] = {
            "from": s.isoformat(), "to": e.isoformat(), "buckets": buckets(s, e, q.grain),
            "total": tot, "sum": sum(tot),
            "series": {k: sum(rows.get(k, [])) for k in keys if k != "~other"},
        }
    body["sum"] = sum(body["total"])
    return body


def options(directory: Directory, *, lang: str, street: str | None = None) -> dict[str, Any]:
    """The choices of the trend page's filters, by name: streets and departments always;
    a street's workstations (or patrol zones) and blocks when one is given."""
    from cases.categories import DEFAULT_CATEGORIES

    names = directory.name_en if lang == "en" else directory.name
    channels = CHANNEL_NAMES_EN if lang == "en" else CHANNEL_NAMES

    def units(level: str, within: str | None = None) -> list[dict[str, str]]:
        found = directory.of_level(level)
        if within is not None:
            found = [c for c in found if directory.street_of(c) == within]
        return [{"code": c, "name": names.get(c, c)} for c in found]

    out: dict[str, Any] = {
        "streets": units("street"), "departments": units("department"),
        "categories": [{"code": c.code, "name": c.name_en if lang == "en" else c.name_zh}
                       for c in DEFAULT_CATEGORIES],
        "channels": [{"code": c, "name": n} for c, n in channels.items()],
    }
    if street:
        out["stations"] = units("workstation", street) + units("patrol_zone", street)
        out["blocks"] = units("community_block", street) + units("street_block", street)
    return out


TITLES: dict[str, dict[str, Any]] = {
    "zh": {"title": "趋势", "previous": "上一期", "last_year": "去年同期", "no_data": "无数据",
           "grain": {"day": "按日", "week": "按周", "month": "按月"}},
    "en": {"title": "Trend", "previous": "Previous period", "last_year": "Same period last year",
           "no_data": "no data", "grain": {"day": "daily", "week": "weekly", "month": "monthly"}},
}


def chart_parts(body: Mapping[str, Any]) -> tuple[str, list[tuple[str, list[int]]], list[tuple[str, list[int]]]]:
    """(title, lines, dashed comparison lines) of a trend answer, in its language."""
    words: dict[str, Any] = TITLES.get(str(body.get("lang")), TITLES["zh"])
    title = f"{words['title']} · {words['grain'][body['grain']]} · {body['from']} – {body['to']}"
    lines = [(str(s["name"]), list(s["data"])) for s in body["series"]]
    compare = [(str(words[name]), list(c["total"])) for name, c in body.get("compare", {}).items()]
    return title, lines, compare
