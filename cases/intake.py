"""Intake, once for every door: bot hazards and appeals, on-the-spot cases, desk hotline and
mailbox entries, REST, Open311 and the portal all call `intake`.

It places the location (with the grid index the caller holds, unless the caller placed it
already to offer categories), checks the photos and stores their hashes (the case carries
its photos: `photo_ids` is what the photo routes and duplicate search read), records the
reporter with their language, numbers the case and suggests duplicates. A repeated request
(same idempotency key or Telegram update) returns the case it opened the first time.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from bson import ObjectId

from cases import photos as case_photos
from cases import repository as repo
from cases.duplicates import WINDOW, bounding_box, rank_duplicates
from cases.errors import BadCaseInput
from cases.lifecycle import (
    ActorLike,
    clean_text,
    emit,
    history_entry,
    photo_ids,
    reemit_case_events,
)
from cases.model import CHANNELS, FINAL_STATES, KINDS, SYSTEM, Actor, CasePolicy
from cases.routing import propose_assignee
from cases.visibility import access_fields
from gridlink.db import Database, Document
from gridlink.errors import Unavailable
from grids.errors import GridNotLoaded, OutsideDistrict

REPORTER_FIELDS = ("user_id", "chat_id", "phone", "name", "locale", "email", "address")
# Cases that may carry sensitive police matters are not shown by the public lookup.
NOT_PUBLIC_CHANNELS = ("transfer_110",)
MAX_SERIAL_ATTEMPTS = 500
NOT_PUBLIC_CATEGORIES = ("public_security",)


class Placer(Protocol):
    """The grid index (grids.placement.GridIndex) a process holds."""

    def place(self, lon: float, lat: float) -> Any: ...


def is_public(channel: str, category: str) -> bool:
    """Whether the public may see a case of this channel and category (never 110 transfers or
    public-security matters)."""
    return channel not in NOT_PUBLIC_CHANNELS and category not in NOT_PUBLIC_CATEGORIES


@dataclass
class IntakeResult:
    case: Document
    created: bool
    duplicates: list[dict[str, Any]] = field(default_factory=list)


def _location(value: Mapping[str, Any] | None) -> dict[str, float] | None:
    if value is None:
        return None
    try:
        lon, lat = float(value["lon"]), float(value["lat"])
    except (KeyError, TypeError, ValueError):
        raise BadCaseInput("location needs numeric lon and lat", field="location") from None
    if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
        raise BadCaseInput("location is not a valid WGS-84 lon/lat", field="location")
    return {"lon": lon, "lat": lat}


def _reporter(reporter: Mapping[str, Any] | None, actor: Actor) -> dict[str, Any]:
    if reporter:
        out = {k: reporter[k] for k in REPORTER_FIELDS if reporter.get(k) not in (None, "")}
    elif actor.user_id is not None:
        out = {"user_id": actor.user_id, "chat_id": actor.chat_id, "name": actor.name or None}
        out = {k: v for k, v in out.items() if v is not None}
    else:
        out = {}
    if actor.locale and "locale" not in out:
        out["locale"] = actor.locale
    if actor.role in ("coordinator", "leader", "station_head") and "role" not in out:
        out["role"] = actor.role
    return out


def intake_key(*, idempotency_key: str | None, update_id: int | None) -> str | None:
    if idempotency_key:
        if len(idempotency_key) > 200:
            raise BadCaseInput("Idempotency-Key is longer than 200 characters", field="idempotency_key")
        return f"key:{idempotency_key}"
    if update_id is not None:
        return f"tg:{update_id}"
    return None


async def intake(db: Database, *, policy: CasePolicy, now: datetime, channel: str, kind: str,
                 category: str, description: str | None, actor: ActorLike | None = None,
                 reporter: Mapping[str, Any] | None = None,
                 location: Mapping[str, Any] | None = None,
                 placement: Mapping[str, Any] | None = None,
                 photos: Sequence[str] | None = None, grid: Placer | None = None,
                 idempotency_key: str | None = None, update_id: int | None = None,
                 on_the_spot: Mapping[str, Any] | None = None) -> IntakeResult:
    """Open a case (or return the one this request already opened).

    `placement` is given by a caller that placed the location already; otherwise `grid`
    places it. A point outside the district is refused for hazards (someone must go there)
    and left unplaced for appeals (the center places those). `on_the_spot` =
    `{"after_photos": [...], "note"?}` records a patrol case handled on the spot: it is
    closed at intake, the intake photos being the "before" pictures.
    """
    who = Actor.of(actor) if actor is not None else SYSTEM
    key = intake_key(idempotency_key=idempotency_key, update_id=update_id)
    if channel not in CHANNELS:
        raise BadCaseInput(f"unknown channel {channel!r}; one of {', '.join(CHANNELS)}", field="channel")
    if kind not in KINDS:
        raise BadCaseInput(f"unknown kind {kind!r}; one of {', '.join(KINDS)}", field="kind")
    text = clean_text(description, "description", required=True, limit=4000)
    loc = _location(location)
    pics = photo_ids(list(photos) if photos is not None else None)
    after: list[str] = []
    if on_the_spot is not None:
        if channel != "patrol_bot" or kind != "hazard":
            raise BadCaseInput("only patrol hazards can be handled on the spot", field="on_the_spot")
        after = photo_ids(on_the_spot.get("after_photos"), "after_photos")
        if not pics or not after:
            raise BadCaseInput("a case handled on the spot needs before and after photos",
                               field="after_photos")
    if placement is None and loc is not None and grid is not None:
        placement = _place(grid, loc, hazard=kind == "hazard")

    # The duplicate search needs nothing else read here: it runs while the retry check, the
    # category and the serial number are answered (round trips, not CPU, are what an intake
    # costs on the database).
    search: asyncio.Future[list[Document]] | None = None
    if loc is not None and on_the_spot is None:
        search = asyncio.ensure_future(repo.nearby_open_cases(
            db, category=category, box=bounding_box(loc["lon"], loc["lat"]),
            since=now - WINDOW, until=now, exclude_states=FINAL_STATES))
    try:
        if key is not None:
            existing = await repo.case_by_intake_key(db, intake_key=key)
            if existing is not None:
                # A retry: the first attempt may have died between the case and its event.
                await reemit_case_events(db, case=existing)
                return IntakeResult(existing, False, existing.get("duplicate_candidates") or [])
        # The case's id is chosen now: its photos are marked as its own before it is stored.
        case_id = str(ObjectId())
        hashes = await case_photos.take(db, photos=pics, actor=who, case_id=case_id)
        if after:
            await case_photos.take(db, photos=after, actor=who, case_id=case_id)
        cat = await repo.get_category(db, code=category)
        if not cat.get("active", True):
            raise BadCaseInput(f"category {category!r} is no longer in use", field="category")
        proposed = propose_assignee(cat, dict(placement) if placement else None,
                                    district=policy.district)
        proposed["name"] = await repo.unit_name(db, unit=proposed["unit"]) or proposed["unit"]
        # Numbered only once the report is known to be good and new: no gaps from retries or
        # bad input.
        serial = await repo.next_serial_number(db, prefix=policy.serial_prefix,
                                               day=now.astimezone(policy.tz).date())
        candidates = await search if search is not None else []
    finally:
        if search is not None and not search.done():
            search.cancel()
        elif search is not None and not search.cancelled():
            search.exception()  # retrieved, so an unused failure is not reported as lost
    duplicates = (rank_duplicates(lon=loc["lon"], lat=loc["lat"], phashes=hashes, candidates=candidates)
                  if loc is not None else [])
    return await _store(db, policy=policy, now=now, channel=channel, kind=kind, category=category,
                        cat=cat, text=text, loc=loc, placement=placement, pics=pics, hashes=hashes,
                        after=after, who=who, reporter=reporter, proposed=proposed,
                        duplicates=duplicates, key=key, update_id=update_id,
                        on_the_spot=on_the_spot, serial=serial, case_id=case_id)


def _place(grid: Placer, loc: Mapping[str, float], *, hazard: bool) -> dict[str, Any] | None:
    try:
        return dict(grid.place(loc["lon"], loc["lat"]).to_dict())
    except GridNotLoaded:
        return None  # taken before any grid is imported: it routes to the district
    except OutsideDistrict:
        if hazard:
            raise
        return None


async def _store(db: Database, *, policy: CasePolicy, now: datetime, channel: str, kind: str,
                 category: str, cat: Document, text: str | None, loc: dict[str, float] | None,
                 placement: Mapping[str, Any] | None, pics: list[str], hashes: list[str],
                 after: list[str], who: Actor, reporter: Mapping[str, Any] | None,
                 proposed: dict[str, str], duplicates: list[dict[str, Any]], key: str | None,
                 update_id: int | None, on_the_spot: Mapping[str, Any] | None,
                 serial: str, case_id: str) -> IntakeResult:
    local_day = now.astimezone(policy.tz).date()
    place = dict(placement) if placement else None
    dispatch_due = now + timedelta(minutes=int(cat["dispatch_minutes"]))
    case: Document = {
        "_id": case_id, "serial": None, "district": policy.district,
        "channel": channel, "kind": kind, "category": category,
        "category_name": {"zh": cat["name_zh"], "en": cat["name_en"]},
        "layer": cat["layer"], "level": cat["level"], "urgency": cat.get("urgency", "normal"),
        # The limits the case was given: later category edits never move its deadlines.
        "limit": cat["limit"], "dispatch_minutes": cat["dispatch_minutes"],
        "verify_hours": cat["verify_hours"],
        "description": text, "location": loc, "placement": place,
        "photos": pics, "phashes": hashes, "result_photos": [], "after_photos": after,
        # What the public lookup may show: a patrol's own pictures and the handlers' results;
        # citizens' photos may show their home or faces and stay staff-only.
        "public_photos": list(pics) if channel == "patrol_bot" else [],
        "reporter": _reporter(reporter, who), "followers": [],
        "state": "reported", "version": 1, "proposed_assignee": proposed, "assignee": None,
        "deadline": None, "deadline_provisional": False, "deadline_basis": None, "dispatched_at": None, "first_dispatched_at": None,
        "due_at": dispatch_due,
        "warn_at": dispatch_due - (dispatch_due - now) * policy.yellow_fraction,
        "created_at": now, "updated_at": now, "closed_at": None, "rating": None,
        "supervised": False, "extension": None, "result": None,
        "returns": 0, "extensions": 0, "reworks": 0, "supervisions": 0,
        "photo_ids": list(dict.fromkeys([*pics, *after])),
        "duplicate_candidates": duplicates,
        "public": is_public(channel, category),
        "merged_into": None, "merged_cases": [],
        "intake_key": key or f"case:{case_id}", "update_id": update_id,
        "history": [],
    }
    entries = [history_entry(case, actor=who, action="report", to="reported", now=now,
                             data={"photos": len(pics), "duplicates": [d["serial"] for d in duplicates]})]
    entries[0]["from"] = None  # a new case comes from nowhere
    case["history"] = entries
    case.update(access_fields(case))
    if on_the_spot is not None:
        note = clean_text(on_the_spot.get("note"), "note", required=False, limit=1000)
        case["state"] = "reported"
        done = history_entry(case, actor=who, action="close_on_spot", to="closed", now=now,
                             reason=note, data={"before_photos": pics, "after_photos": after,
                                                "on_the_spot": True})
        entries.append(done)
        case.update(state="closed", closed_at=now, closed_on_time=True, due_at=None, warn_at=None,
                    result={"text": note or "handled on the spot", "photos": after, "at": now,
                            "by": who.to_dict(), "on_time": True},
                    result_photos=list(after), handled_on_the_spot=True,
                    public_photos=[*pics, *after])
    for attempt in range(MAX_SERIAL_ATTEMPTS):
        case["serial"] = serial if attempt == 0 else await repo.next_serial_number(
            db, prefix=policy.serial_prefix, day=local_day)
        try:
            stored = await repo.insert_case(db, case=case)
            break
        except repo.SerialTaken:
            continue  # the counter gave a used number (see repository.claim_version): next one
    else:
        raise Unavailable("could not allocate a serial number; try again")
    if stored is None:  # a concurrent request with the same key won the race
        assert key is not None
        existing = await repo.case_by_intake_key(db, intake_key=key)
        assert existing is not None
        return IntakeResult(existing, False, existing.get("duplicate_candidates") or [])
    # The change log is the one write besides the case and its serial: statistics and the
    # duplicate search's spot are derived from it (cases.changelog).
    await emit(db, case, entries, before=None)
    return IntakeResult(case, True, duplicates)
