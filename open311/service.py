"""Open311 GeoReport v2 semantics over cases: services, request views, the query window.

Pure functions of documents and time (the HTTP layer fetches and renders): the category
taxonomy becomes services, a case becomes a service request, and the spec's GET filters
become a cases query.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from cases.model import FINAL_STATES, OPEN_STATES
from cases.visibility import PUBLISHED_CHANNELS
from open311 import attributes
from open311.errors import BadDate, BadRequestInput

# The spec's default window for GET requests: "a span of 90 days or first 1000 requests
# returned, whichever is smallest".
DEFAULT_WINDOW = timedelta(days=90)
MAX_RESULTS = 1000
# Readers without an api_key get smaller pages (and a per-address budget, api/open311.py):
# a 1000-request page costs the server far more than the anonymous request costs to send.
ANONYMOUS_MAX_RESULTS = 100

Locale = str  # "zh-CN" | "en"


def _name(doc: Mapping[str, Any], locale: Locale) -> str:
    return str(doc.get("name_en") if locale == "en" else doc.get("name_zh") or doc.get("name_en") or "")


# ---------------------------------------------------------------- services

GROUPS: dict[str, tuple[str, str]] = {
    "urgent": ("紧急隐患", "Urgent hazards"),
    "street_surface": ("街面事项", "Streets and public spaces"),
    "community": ("社区事项", "Community matters"),
}


def service(category: Mapping[str, Any], locale: Locale) -> dict[str, Any]:
    """One category as a GeoReport service."""
    code = str(category["_id"])
    group = "urgent" if category.get("urgency") == "urgent" else str(category.get("layer", "community"))
    zh, en = GROUPS.get(group, GROUPS["community"])
    return {
        "service_code": code,
        "service_name": _name(category, locale),
        "description": notice(category.get("limit") or {}, locale),
        "metadata": bool(attributes.for_category(code)),
        # Every request is a case at once: its id is known in the POST answer.
        "type": "realtime",
        # The spec's keywords are one comma-separated string.
        "keywords": ", ".join([code, str(category.get("name_zh", "")), str(category.get("name_en", ""))]),
        "group": en if locale == "en" else zh,
    }


def service_definition(category: Mapping[str, Any], locale: Locale) -> dict[str, Any]:
    code = str(category["_id"])
    return {"service_code": code,
            "attributes": [a.to_spec(locale) for a in
                           sorted(attributes.for_category(code), key=lambda a: a.order)]}


def notice(limit: Mapping[str, Any], locale: Locale) -> str:
    if limit.get("hours"):
        hours = limit["hours"]
        shown = int(hours) if float(hours).is_integer() else hours
        return f"Time limit: {shown} hours" if locale == "en" else f"处置时限：{shown}小时"
    if limit.get("working_days"):
        days = limit["working_days"]
        return f"Time limit: {days} working days" if locale == "en" else f"处置时限：{days}个工作日"
    return ""


# ---------------------------------------------------------------- requests

STATUS_NOTES: dict[str, tuple[str, str]] = {
    "reported": ("已受理，等待派遣", "Received; awaiting dispatch"),
    "dispatched": ("已派遣至{unit}", "Dispatched to {unit}"),
    "in_progress": ("{unit}正在处置", "Being handled by {unit}"),
    "reopened": ("核查未通过，{unit}督办整改中", "Verification failed; {unit} is reworking it under supervision"),
    "extension": ("{unit}已申请延期", "{unit} asked for more time"),
    "awaiting_verification": ("已处置，等待核查", "Handled; awaiting verification"),
    "returned": ("已退回，等待重新派遣", "Returned as outside the unit's remit; awaiting re-dispatch"),
    "closed": ("已结案", "Closed: resolved"),
    "closed_on_spot": ("已现场处置结案", "Closed: handled on the spot"),
    "merged": ("重复报告，已并入{main}处理", "Duplicate report; handled as {main}"),
    # the center's toolset (issue 22); the reason's own words are the reporter's in chat
    "suspended": ("暂时无法解决，已挂账，到期后重新办理", "On hold: it cannot be solved now and will be taken up again"),
    "refused": ("经审核不予立案", "Not accepted as a case after review"),
    "voided": ("已作废", "Closed without action"),
}


def status_of(state: str) -> str:
    return "closed" if state in FINAL_STATES else "open"


def _merged_into(case: Mapping[str, Any]) -> str:
    if case.get("merged_into_serial"):
        return str(case["merged_into_serial"])
    for entry in case.get("history") or []:
        if entry.get("action") == "merge":
            return str((entry.get("data") or {}).get("into_serial") or "")
    return ""


def status_notes(case: Mapping[str, Any], locale: Locale) -> str:
    state = str(case.get("state", "reported"))
    key = state
    history = case.get("history") or []
    last = history[-1] if history else {}
    action = str(last.get("action", ""))
    if state == "in_progress" and (case.get("reworks") or action == "reopen"):
        key = "reopened"
    elif state == "in_progress" and (case.get("extension") or {}).get("status") == "pending":
        key = "extension"
    elif state == "closed" and case.get("handled_on_the_spot"):
        key = "closed_on_spot"
    zh, en = STATUS_NOTES.get(key, (state, state))
    unit = (case.get("assignee") or {}).get("name") or ("the center" if locale == "en" else "联动中心")
    # A fixed note per state: a handler's own words (a return's or a verification's reason)
    # may name people or places and stay with the staff.
    return (en if locale == "en" else zh).format(unit=unit, main=_merged_into(case))


def iso(value: datetime | None, tz: ZoneInfo) -> str | None:
    """ISO 8601 with the local offset, e.g. 2026-11-27T10:15:00+08:00 (the spec wants a zone)."""
    if value is None:
        return None
    if value.tzinfo is None:  # stored naive means UTC (BSON dates carry no zone)
        value = value.replace(tzinfo=UTC)
    return value.astimezone(tz).isoformat(timespec="seconds")


def request_view(case: Mapping[str, Any], seen: Mapping[str, Any], *,
                 extras: Mapping[str, Any] | None, categories: Mapping[str, Mapping[str, Any]],
                 locale: Locale, tz: ZoneInfo, media_base: str) -> dict[str, Any]:
    """A public case as a GeoReport service request; the reporter never appears.

    `seen` is what `cases.visibility` lets anyone see of the case (its public view): the place
    and photos come from it. The words are shown only where they were given for publication
    (a patrol report, or a request posted through Open311 itself — public by nature).
    """
    category = categories.get(str(case.get("category")), {})
    location = seen.get("location") or {}
    show_place = bool(location)
    placement = case.get("placement") or {}
    extra = extras or {}
    published = case.get("channel") in PUBLISHED_CHANNELS
    photos = list(seen.get("photos") or [])
    if extra:
        description = extra.get("description") if published else None
    else:
        description = case.get("description") if published else None
    media_url = (f"{media_base}/api/v1/media/{photos[0]}?size=web" if photos
                 else (extra.get("media_url") if published else None))
    return {
        "service_request_id": case["serial"],
        "status": status_of(str(case.get("state"))),
        "status_notes": status_notes(case, locale),
        "service_name": _name(category, locale) if category else str(case.get("category", "")),
        "service_code": str(case.get("category", "")),
        "description": description,
        "agency_responsible": (case.get("assignee") or {}).get("name"),
        "service_notice": notice(case.get("limit") or category.get("limit") or {}, locale) or None,
        "requested_datetime": iso(case.get("created_at"), tz),
        "updated_datetime": iso(case.get("updated_at"), tz),
        "expected_datetime": iso(case.get("deadline"), tz),
        "address": extra.get("address_string") if published else None,
        "address_id": placement.get("community_block") if show_place else None,
        "zipcode": None,
        "lat": location.get("lat") if show_place else None,
        "long": location.get("lon") if show_place else None,
        "media_url": media_url,
    }


# ---------------------------------------------------------------- GET requests filters


@dataclass(frozen=True)
class RequestQuery:
    ids: tuple[str, ...] = ()
    service_codes: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    start: datetime | None = None
    end: datetime | None = None
    limit: int = MAX_RESULTS

    def to_mongo(self) -> dict[str, Any]:
        # service_request_id overrides every other filter (spec).
        if self.ids:
            return {"serial": {"$in": [i.upper() for i in self.ids]}}
        query: dict[str, Any] = {}
        if self.service_codes:
            query["category"] = {"$in": list(self.service_codes)}
        if self.statuses and set(self.statuses) != {"open", "closed"}:
            states = OPEN_STATES if "open" in self.statuses else FINAL_STATES
            query["state"] = {"$in": list(states)}
        window: dict[str, Any] = {}
        if self.start is not None:
            window["$gte"] = self.start
        if self.end is not None:
            window["$lte"] = self.end
        if window:
            query["created_at"] = window
        return query


def _csv(value: str | None) -> tuple[str, ...]:
    if not value:
        return ()
    return tuple(dict.fromkeys(v.strip() for v in value.split(",") if v.strip()))


def parse_datetime(name: str, value: str, tz: ZoneInfo) -> datetime:
    """A w3c/ISO 8601 date-time; a date alone is local midnight, no zone means local time."""
    text = value.strip()
    try:
        if len(text) == 10:
            parsed = datetime.combine(date.fromisoformat(text), time(0), tzinfo=tz)
        else:
            parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadDate(f"{name} {value!r} is not an ISO 8601 date-time "
                      "(e.g. 2026-11-27T08:00:00+08:00)") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=tz)
    return parsed


def parse_query(params: Mapping[str, str], *, now: datetime, tz: ZoneInfo,
                max_results: int = MAX_RESULTS) -> RequestQuery:
    """The GET filters; at most `max_results` requests (ANONYMOUS_MAX_RESULTS without a key)."""
    more = "" if max_results >= MAX_RESULTS else f" (up to {MAX_RESULTS} with a valid api_key)"
    ids = _csv(params.get("service_request_id"))
    if ids:
        if len(ids) > max_results:
            raise BadRequestInput(f"at most {max_results} service_request_id values{more}")
        return RequestQuery(ids=ids, limit=max_results)
    statuses = tuple(s.lower() for s in _csv(params.get("status")))
    bad = [s for s in statuses if s not in ("open", "closed")]
    if bad:
        raise BadRequestInput(f"status {bad[0]!r} is not open or closed")
    start = parse_datetime("start_date", params["start_date"], tz) if params.get("start_date") else None
    end = parse_datetime("end_date", params["end_date"], tz) if params.get("end_date") else None
    if start and end and start > end:
        raise BadDate("start_date is after end_date")
    # The default window: the 90 days up to now, or 90 days from/up to the one date given.
    if start is None and end is None:
        end, start = now, now - DEFAULT_WINDOW
    elif start is None:
        assert end is not None
        start = end - DEFAULT_WINDOW
    elif end is None:
        end = start + DEFAULT_WINDOW
    # page_size: the common GeoReport extension, capped at the spec's 1000 (100 anonymously).
    page_size = _int_param(params, "page_size", max_results, 1, max_results, more)
    return RequestQuery(service_codes=_csv(params.get("service_code")), statuses=statuses,
                        start=start, end=end, limit=page_size)


def _int_param(params: Mapping[str, str], name: str, default: int, low: int, high: int,
               more: str = "") -> int:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequestInput(f"{name} must be a whole number") from None
    if not low <= value <= high:
        raise BadRequestInput(f"{name} must be between {low} and {high}{more}")
    return value


def attribute_fields(form: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """`attribute[code]=value` pairs (repeated for multi-value lists) as {code: [values]}."""
    out: dict[str, list[str]] = {}
    for key, value in form:
        if key.startswith("attribute[") and key.endswith("]"):
            code = key[len("attribute["):-1]
            # multivaluelist may also come as attribute[code][]
            if code.endswith("]["):
                code = code[:-2]
            out.setdefault(code, []).append(value)
    return out
