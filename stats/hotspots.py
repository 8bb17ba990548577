"""Hotspot charts (投诉热点): case counts grouped by department, street, block, category or
channel over a range of local days, optionally narrowed to one category, channel or street.

A range reads one rollup document per whole month it covers and one per remaining day, all in
one `$in` lookup.
"""

from __future__ import annotations

from calendar import monthrange
from datetime import date, datetime, timedelta
from typing import Any

from gridlink.db import Database
from gridlink.errors import InvalidInput
from stats import repository as repo
from stats.facts import MEASURES, STREET_BY, TOP_BY
from stats.rollups import View, fresh

BY_NAMES = {"department": "department", "street": "street", "category": "category",
            "channel": "channel", "kind": "kind", "workstation": "workstation",
            "block": "block", "sblock": "sblock"}


def periods(start: date, end: date, today: date) -> list[str]:
    """Month periods (`M2026-11`) for months wholly inside the range, day periods for the rest."""
    if end < start:
        raise InvalidInput("`to` is before `from`")
    if (end - start).days > 366 * 20:
        raise InvalidInput("the range is longer than 20 years")
    out: list[str] = []
    day = start
    while day <= end:
        first = day.replace(day=1)
        last = day.replace(day=monthrange(day.year, day.month)[1])
        # No case is reported after today, so a range ending today covers the whole month.
        if day == first and end >= min(last, today):
            out.append("M" + day.strftime("%Y-%m"))
            day = last + timedelta(days=1)
        else:
            out.append("D" + day.isoformat())
            day += timedelta(days=1)
    return out


def doc_ids(*, by: str, start: date, end: date, today: date, category: str | None,
            channel: str | None, street: str | None) -> list[str]:
    if by not in BY_NAMES:
        raise InvalidInput(f"by must be one of {', '.join(BY_NAMES)}", field="by")
    given = [f for f in (category, channel) if f]
    if by in STREET_BY:
        if not street:
            raise InvalidInput(f"by={by} needs street=<code>", field="street")
        if given:
            raise InvalidInput(f"by={by} takes no category or channel filter", field="category")
        filt = "st=" + street
    else:
        if street:
            raise InvalidInput("street= goes with by=workstation or by=block", field="street")
        if len(given) > 1:
            raise InvalidInput("filter by category or by channel, not both", field="channel")
        if (by == "category" and category) or (by == "channel" and channel):
            raise InvalidInput(f"by={by} cannot also be filtered by {by}", field=by)
        filt = f"cat={category}" if category else f"ch={channel}" if channel else "*"
    assert by in TOP_BY or by in STREET_BY
    return [f"{p}|{by}|{filt}" for p in periods(start, end, today)]


async def hotspots(db: Database, *, by: str, start: date, end: date, today: date,
                   category: str | None = None, channel: str | None = None,
                   street: str | None = None, measure: str = "n",
                   limit: int = 30, now: datetime | None = None,
                   view: View | None = None) -> list[dict[str, Any]]:
    """[{key, n, closed, open}] sorted by `measure`, largest first (one `$in` lookup)."""
    if measure not in MEASURES:
        raise InvalidInput(f"measure must be one of {', '.join(MEASURES)}", field="measure")
    ids = doc_ids(by=by, start=start, end=end, today=today, category=category, channel=channel,
                  street=street)
    if view is None and now is not None:
        view = await fresh(db, now=now)
    # Only the measures a row shows are read and summed (a month's cell holds up to ~20).
    need = tuple(dict.fromkeys((measure, "n", "closed", "merged", "refused")))
    docs = await repo.rollup_docs(db, ids=ids, version=view.version if view else None, measures=need)
    totals: dict[str, dict[str, int]] = {}
    for values in docs.values():
        for key, cell in values.items():
            acc = totals.get(key)
            if acc is None:
                acc = totals[key] = dict.fromkeys(need, 0)
            for m in need:
                acc[m] += cell.get(m, 0)
    rows: list[dict[str, Any]] = [{"key": k, "value": acc.get(measure, 0), "n": acc.get("n", 0),
             "closed": acc.get("closed", 0),
             "open": acc.get("n", 0) - acc.get("closed", 0) - acc.get("merged", 0)
             - acc.get("refused", 0)}
            for k, acc in totals.items() if k != "-" and acc.get(measure, 0)]
    rows.sort(key=lambda r: (-r["value"], r["key"]))
    return rows[:limit]


async def headline(db: Database, *, start: date, end: date, today: date,
                   now: datetime | None = None, view: View | None = None) -> dict[str, Any]:
    """The seed's headline figures for a range: hazards found / investigated / closed, appeals
    received / closed (rate), cases handled on the spot."""
    ids = [f"{p}|kind|*" for p in periods(start, end, today)]
    if view is None and now is not None:
        view = await fresh(db, now=now)
    docs = await repo.rollup_docs(db, ids=ids, version=view.version if view else None)
    acc: dict[str, dict[str, int]] = {}
    for values in docs.values():
        for kind, cell in values.items():
            a = acc.setdefault(kind, {})
            for m, n in cell.items():
                a[m] = a.get(m, 0) + n
    hz = acc.get("hazard", {})
    appeals = [acc.get(k, {}) for k in ("consultation", "complaint", "help", "suggestion")]
    received = sum(a.get("n", 0) for a in appeals)
    closed = sum(a.get("closed", 0) for a in appeals)
    spot = hz.get("spot", 0)
    return {
        "from": start.isoformat(), "to": end.isoformat(),
        "hazards_found": hz.get("n", 0) - spot,
        "hazards_investigated": hz.get("dispatched", 0),
        "hazards_closed": hz.get("closed", 0) - spot,
        "appeals_received": received, "appeals_closed": closed,
        "appeal_closure_rate": round(closed / received, 4) if received else None,
        "on_the_spot": spot,
    }


CHANNEL_NAMES = {
    "patrol_bot": "巡查上报", "citizen_bot": "市民微信/电报", "hotline_962000": "962000热线",
    "hotline_12345": "12345热线", "transfer_110": "110转办", "mayor_mailbox": "区长信箱",
    "party_mailbox": "书记信箱", "web_portal": "网站", "open311": "Open311",
}
KIND_NAMES = {"hazard": "隐患", "consultation": "咨询", "complaint": "投诉", "help": "求助",
              "suggestion": "建议"}


def labeller(names: dict[str, str]) -> Any:
    """Chinese label of a key: unit names from the directory, categories, channels, kinds."""
    from cases.categories import DEFAULT_CATEGORIES

    cats = {c.code: c.name_zh for c in DEFAULT_CATEGORIES}

    def label(by: str, key: str) -> str:
        if by == "category":
            return cats.get(key, key)
        if by == "channel":
            return CHANNEL_NAMES.get(key, key)
        if by == "kind":
            return KIND_NAMES.get(key, key)
        return names.get(key, key)

    return label
