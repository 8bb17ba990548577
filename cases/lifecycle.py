"""Case transitions: guarded by role and state, recorded in history, announced as events.

Which action may be taken from which state, by whom, is the table in `cases.workflow`;
each function here checks its row with `workflow.check` and records one history entry
(`verify` records close or reopen, a dispatch from returned records redispatch; intake
records report and, for a patrol case handled on the spot, close_on_spot).

Every transition is one state- and version-guarded `find_one_and_update` that also pushes
the history entry `{seq, at, actor, action, from, to, reason?, data?}`; the event
`{_id: "<case_id>:<seq>", ...}` is inserted right after. If the process dies between the two
writes, `reemit_missing_events` rebuilds the missing events from the history (the `_id` makes
that idempotent). Before the update, the writer inserts `case_claims/{case_id}:{new version}`
(unique `_id`): FerretDB v1 does not isolate conditional updates, so this insert is what
makes exactly one of two concurrent writers win; the loser gets `StaleCase` (409) with the
state the winner left (on MongoDB the version filter alone would do).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any

from cases import lists, refusals
from cases import photos as case_photos
from cases import repository as repo
from cases.calendar import check_year, deadline_for, warn_time, years_needed
from cases.changelog import derived, spot_fields
from cases.errors import BadCaseInput, StaleCase, TransitionNotAllowed
from cases.model import FINAL_STATES, RATINGS, SYSTEM, Actor, CasePolicy
from cases.routing import kind_of_unit
from cases.schema import check_set
from cases.schema import derived as list_fields
from cases.visibility import access_fields
from cases.workflow import check, check_role, check_state
from gridlink.db import Database, Document

ActorLike = Actor | Mapping[str, Any]
log = logging.getLogger(__name__)

EVENT_TYPES: dict[str, str] = {
    "report": "case.reported",
    "close_on_spot": "case.closed",
    "dispatch": "case.assigned",
    "redispatch": "case.assigned",
    "accept": "case.accepted",
    "return": "case.returned",
    "request_extension": "case.extension_requested",
    "decide_extension": "case.extension_decided",
    "feedback": "case.feedback",
    "close": "case.closed",
    "reopen": "case.reopened",
    "rate": "case.rated",
    "merge": "case.merged",
    "absorb": "case.merged",
    "supervise": "case.supervised",
    "recompute_deadline": "case.deadline_changed",
    "take_back": "case.taken_back",  # an automatic assignment back to the center (autodispatch)
}


# ---------------------------------------------------------------- history and events


def history_entry(case: Document, *, actor: Actor, action: str, to: str, now: datetime,
                  reason: str | None = None, data: Mapping[str, Any] | None = None) -> Document:
    entry: Document = {"seq": len(case.get("history") or []) + 1, "at": now,
                       "actor": actor.to_dict(), "action": action,
                       "from": case.get("state"), "to": to}
    if reason:
        entry["reason"] = reason
    if data:
        entry["data"] = dict(data)
    return entry


def event_for(case: Document, entry: Mapping[str, Any]) -> Document:
    """The event of one history entry; built from the case and the entry alone so re-emitting
    is exact (what readers derived at the change itself, `emit` adds)."""
    data: Document = {"action": entry["action"], "from": entry["from"], "to": entry["to"],
                      "category": case.get("category"), "kind": case.get("kind"),
                      "channel": case.get("channel")}
    if entry.get("reason"):
        data["reason"] = entry["reason"]
    data.update(entry.get("data") or {})
    return {"_id": f"{case['_id']}:{entry['seq']}", "type": EVENT_TYPES[entry["action"]],
            "case_id": case["_id"], "serial": case["serial"], "at": entry["at"],
            "actor": entry["actor"], "data": data, "notify_state": "new",
            **spot_fields(case, entry)}


async def emit(db: Database, case: Document, entries: list[Document], *,
               before: Document | None) -> None:
    """Write the change log of one change (`case` as it is after it, `before` None at intake):
    one event per entry, the last one carrying what registered readers derive from the change
    (cases.changelog) — the one write besides the case."""
    events = [event_for(case, e) for e in entries]
    events[-1].update(derived(before, case))
    await repo.insert_events(db, events=events)


REEMIT_CHUNK = 200  # cases whose events are looked up in one query


async def reemit_missing_events(db: Database, *, since: datetime | None = None) -> int:
    """Insert the events of history entries that have none (a crash between the two writes).

    Scans cases updated since `since` (all when None); returns how many events it restored.
    """
    cases = await repo.cases_updated_since(db, since=since)
    restored = 0
    for i in range(0, len(cases), REEMIT_CHUNK):
        restored += await _reemit(db, cases[i:i + REEMIT_CHUNK])
    return restored


async def reemit_case_events(db: Database, *, case: Document) -> int:
    """Insert the events of this case's history entries that have none; how many it restored."""
    return await _reemit(db, [case])


async def _reemit(db: Database, cases: list[Document]) -> int:
    """One lookup of the cases' events, one insert of those missing."""
    wanted = {f"{case['_id']}:{e['seq']}": (case, e)
              for case in cases for e in case.get("history") or []}
    if not wanted:
        return 0
    have = await repo.existing_event_ids(db, ids=list(wanted))
    return await repo.insert_events(db, events=[event_for(case, e) for key, (case, e)
                                                in wanted.items() if key not in have])


# ---------------------------------------------------------------- guards


def _check_version(case: Document, expected: int | None) -> None:
    if expected is not None and expected != case["version"]:
        raise StaleCase(f"case {case['serial']} changed since you saw it; it is now {case['state']}",
                        state=case["state"], version=case["version"], case_id=case["_id"])


def clean_text(value: object, field: str, *, required: bool, limit: int = 2000) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise BadCaseInput(f"{field} is required", field=field)
        return None
    if not isinstance(value, str):
        raise BadCaseInput(f"{field} must be text", field=field)
    if len(value) > limit:
        raise BadCaseInput(f"{field} is longer than {limit} characters", field=field)
    return value.strip()


# Photos one case (or one feedback) may carry; the bot stops collecting at this many.
MAX_PHOTOS = 20


def photo_ids(photos: object, field: str = "photos") -> list[str]:
    if photos is None:
        return []
    if not isinstance(photos, list | tuple) or not all(isinstance(p, str) and p for p in photos):
        raise BadCaseInput(f"{field} must be a list of photo ids", field=field)
    if len(photos) > MAX_PHOTOS:
        raise BadCaseInput(f"at most {MAX_PHOTOS} {field}", field=field)
    return list(photos)


async def _load(db: Database, ref: str, expected_version: int | None) -> Document:
    case = await repo.get_case(db, ref=ref)
    _check_version(case, expected_version)
    return case


async def _after_winner(db: Database, case: Document) -> Document:
    """The case once the writer that beat us has stored its change (a few ms), so the 409
    names the state it left, not the one both of us saw."""
    current = await repo.get_case(db, ref=case["_id"])
    for _ in range(40):
        if current["version"] > case["version"]:
            break
        await asyncio.sleep(0.025)
        current = await repo.get_case(db, ref=case["_id"])
    return current


async def _commit(db: Database, case: Document, entry: Document, *,
                  set_: Mapping[str, Any] | None = None, push: Mapping[str, Any] | None = None,
                  inc: Mapping[str, Any] | None = None,
                  extra_filter: Mapping[str, Any] | None = None) -> Document:
    """Apply the change and the history entry in one guarded update, then write the event."""
    changes = dict(set_ or {})
    if "assignee" in changes or "placement" in changes or "parts" in changes:
        changes.update(access_fields({**case, **changes, "history": [*(case.get("history") or []), entry]}))
    check_set(changes)
    # the list fields (cases.schema.derived) follow the fields they come from
    changes.update(list_fields({**case, **changes, "state": entry["to"]}))
    update: dict[str, Any] = {
        "$set": {**changes, "state": entry["to"], "updated_at": entry["at"],
                 "version": case["version"] + 1},
        "$push": {"history": entry, **(push or {})},
    }
    if inc:
        update["$inc"] = dict(inc)
    if not await repo.claim_version(db, case_id=case["_id"], version=case["version"] + 1,
                                    now=entry["at"]):
        current = await _after_winner(db, case)
        raise StaleCase(f"case {case['serial']} was changed by someone else first; "
                        f"it is now {current['state']}",
                        state=current["state"], version=current["version"], case_id=case["_id"])
    new = await repo.apply_update(db, case_id=case["_id"], version=case["version"],
                                  update=update, extra_filter={"state": case["state"], **(extra_filter or {})})
    if new is None:
        current = await repo.get_case(db, ref=case["_id"])
        raise StaleCase(f"case {case['serial']} was changed by someone else first; "
                        f"it is now {current['state']}",
                        state=current["state"], version=current["version"], case_id=case["_id"])
    await lists.sync_keys(db, new, entry["at"], before=case)
    # The change log is the one write besides the case: statistics and the duplicate
    # search's spots are derived from it (cases.changelog).
    await emit(db, new, [entry], before=case)
    return new


# ---------------------------------------------------------------- deadlines


async def compute_deadline(db: Database, *, limit: Mapping[str, Any], start: datetime,
                           policy: CasePolicy) -> datetime:
    return (await _deadline(db, limit=limit, start=start, policy=policy))["deadline"]


async def _deadline(db: Database, *, limit: Mapping[str, Any], start: datetime,
                    policy: CasePolicy) -> dict[str, Any]:
    """The deadline fields of a step started at `start`: the time, whether it rests on a year
    nobody entered yet, and what it was computed from (to recompute it when the year is entered)."""
    calendar = await repo.load_calendar(db, years=years_needed(dict(limit), start, policy.tz))
    due = deadline_for(dict(limit), start, tz=policy.tz, calendar=calendar)
    provisional = "working_days" in limit and calendar.is_provisional(
        start.astimezone(policy.tz).date(), due.astimezone(policy.tz).date())
    return {"deadline": due, "deadline_provisional": provisional,
            "deadline_basis": {"start": start, "limit": dict(limit)}}


def _fixed(due: datetime) -> dict[str, Any]:
    """The deadline fields of a deadline someone set by hand."""
    return {"deadline": due, "deadline_provisional": False, "deadline_basis": None}


def _due_fields(start: datetime, due: datetime, policy: CasePolicy) -> dict[str, datetime]:
    return {"due_at": due, "warn_at": warn_time(start, due, policy.yellow_fraction)}


def _aware(value: datetime, field: str) -> datetime:
    if value.tzinfo is None:
        raise BadCaseInput(f"{field} needs a time zone (e.g. 2026-12-01T18:00:00+08:00)", field=field)
    return value


# ---------------------------------------------------------------- transitions


async def dispatch(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                   policy: CasePolicy, unit: str | None = None, unit_kind: str | None = None,
                   deadline: datetime | None = None, note: str | None = None,
                   expected_version: int | None = None,
                   auto: Mapping[str, Any] | None = None,
                   assisting: list[str] | None = None) -> Document:
    """Assign the case (first dispatch or re-dispatch after a return) with a deadline.

    Without `unit` the proposed assignee is used; without `deadline` it is computed from the
    time limit the case was given at intake. `auto` is the category's rule when no dispatcher
    chose (cases.autodispatch): the history records it, the case waits in the center's list.
    `assisting` units make it a joint case (联勤联动, cases.joint): each gets its own part with
    the same time limit from now.
    """
    from cases import joint
    who = Actor.of(actor)
    case = await _load(db, case_ref, expected_version)
    check(who, case, "dispatch")
    note = clean_text(note, "note", required=False)
    if unit:
        kind = unit_kind or kind_of_unit(unit, district=case["district"], placement=case.get("placement"))
        assignee = {"unit": unit, "kind": kind}
    else:
        proposed = case.get("proposed_assignee")
        if not proposed:
            raise BadCaseInput("no proposed assignee; give a unit", field="unit")
        assignee = {"unit": proposed["unit"], "kind": proposed["kind"]}
    assignee["name"] = await repo.unit_name(db, unit=assignee["unit"]) or assignee["unit"]
    if deadline is not None:
        due = _aware(deadline, "deadline")
        if due <= now:
            raise BadCaseInput("the deadline must be in the future", field="deadline")
        fields = _fixed(due)
    else:
        fields = await _deadline(db, limit=case["limit"], start=now, policy=policy)
        due = fields["deadline"]
    parts = await joint.new_parts(db, case, units=assisting or [], lead=assignee["unit"],
                                  now=now, policy=policy, deadline=deadline)
    action = "redispatch" if case["state"] == "returned" else "dispatch"
    entry = history_entry(case, actor=who, action=action, to="dispatched", now=now, reason=note,
                          data={"assignee": assignee, "deadline": due,
                                **({"assisting": [p["unit"] for p in parts]} if parts else {}),
                                "provisional": fields["deadline_provisional"],
                                "overridden": bool(unit) and unit != (case.get("proposed_assignee") or {}).get("unit"),
                                **({"auto": dict(auto)} if auto else {})})
    set_ = {"assignee": assignee, **fields, "dispatched_at": now, "extension": None,
            "auto_dispatched": auto is not None, **_due_fields(now, due, policy)}
    if parts:
        set_.update(parts=joint.merge_parts(case.get("parts") or [], parts), waiting_parts=False)
    if case.get("first_dispatched_at") is None:
        set_["first_dispatched_at"] = now
    return await _commit(db, case, entry, set_=set_)


async def accept(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                 expected_version: int | None = None) -> Document:
    who = Actor.of(actor)
    case = await _load(db, case_ref, expected_version)
    check(who, case, "accept")
    entry = history_entry(case, actor=who, action="accept", to="in_progress", now=now)
    return await _commit(db, case, entry, set_={"accepted_at": now})


async def return_case(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                      policy: CasePolicy, reason: str | None,
                      expected_version: int | None = None) -> Document:
    """The handler says "not our jurisdiction" (reason required); the center re-dispatches."""
    who = Actor.of(actor)
    case = await _load(db, case_ref, expected_version)
    check(who, case, "return")
    why = clean_text(reason, "reason", required=True, limit=1000)
    due = now + timedelta(minutes=int(case["dispatch_minutes"]))
    entry = history_entry(case, actor=who, action="return", to="returned", now=now, reason=why,
                          data={"assignee": case["assignee"]})
    return await _commit(db, case, entry, inc={"returns": 1},
                         set_={"assignee": None, "deadline": None, "deadline_provisional": False,
                               "deadline_basis": None, "extension": None,
                               **_due_fields(now, due, policy)})


async def request_extension(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                            policy: CasePolicy, reason: str | None,
                            until: datetime | None = None, working_days: int | None = None,
                            hours: float | None = None,
                            expected_version: int | None = None) -> Document:
    """Ask the center for more time: a new deadline (`until`) or more working days/hours."""
    who = Actor.of(actor)
    case = await _load(db, case_ref, expected_version)
    check(who, case, "extend")
    why = clean_text(reason, "reason", required=True, limit=1000)
    request = await extension_request(db, current=case["deadline"], now=now, who=who, why=why,
                                      policy=policy, until=until, working_days=working_days,
                                      hours=hours)
    entry = history_entry(case, actor=who, action="request_extension", to=case["state"], now=now,
                          reason=why, data={"until": request["until"], "previous": request["previous"]})
    return await _commit(db, case, entry, set_={"extension": request})


async def extension_request(db: Database, *, current: datetime, now: datetime, who: Actor,
                            why: str | None, policy: CasePolicy, until: datetime | None,
                            working_days: int | None, hours: float | None) -> dict[str, Any]:
    """A pending extension request from the `current` deadline (the case's, or a joint case's
    part's): exactly one of a new deadline, more working days or more hours."""
    given = [x is not None for x in (until, working_days, hours)]
    if sum(given) != 1:
        raise BadCaseInput("give exactly one of until, working_days or hours", field="until")
    fields: dict[str, Any] | None = None
    if until is not None:
        new = _aware(until, "until")
    elif working_days is not None:
        if not 0 < working_days <= 60:
            raise BadCaseInput("working_days must be 1..60", field="working_days")
        fields = await _deadline(db, limit={"working_days": working_days}, start=current, policy=policy)
        new = fields["deadline"]
    else:
        assert hours is not None
        if not 0 < hours <= 24 * 30:
            raise BadCaseInput("hours must be in (0, 720]", field="hours")
        new = current + timedelta(hours=hours)
    if new <= current:
        raise BadCaseInput("the requested deadline must be later than the current one", field="until")
    return {"status": "pending", "requested_at": now, "requested_by": who.to_dict(),
            "until": new, "previous": current, "reason": why,
            "provisional": bool(fields and fields["deadline_provisional"]),
            "basis": fields["deadline_basis"] if fields else None}


async def decide_extension(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                           policy: CasePolicy, approve: bool, reason: str | None = None,
                           expected_version: int | None = None) -> Document:
    who = Actor.of(actor)
    case = await _load(db, case_ref, expected_version)
    check(who, case, "decide")
    request = case["extension"]
    why = clean_text(reason, "reason", required=not approve, limit=1000)
    decided = {**request, "status": "approved" if approve else "refused", "decided_at": now,
               "decided_by": who.to_dict(), "decision_reason": why}
    set_: dict[str, Any] = {"extension": decided}
    inc = None
    if approve:
        new = request["until"]
        set_.update(deadline=new, deadline_provisional=bool(request.get("provisional")),
                    deadline_basis=request.get("basis"), **_due_fields(case["dispatched_at"], new, policy))
        inc = {"extensions": 1}
    entry = history_entry(case, actor=who, action="decide_extension", to=case["state"], now=now,
                          reason=why, data={"approved": approve, "deadline": set_.get("deadline", case["deadline"]),
                                            "previous": case["deadline"]})
    return await _commit(db, case, entry, set_=set_, inc=inc)


async def feedback(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                   policy: CasePolicy, text: str | None, photos: list[str] | None = None,
                   expected_version: int | None = None) -> Document:
    """The handler reports the result (text + photos); the center verifies it next."""
    from cases import joint

    who = Actor.of(actor)
    case = await _load(db, case_ref, expected_version)
    check(who, case, "feedback")
    body = clean_text(text, "text", required=True)
    pics = photo_ids(photos)
    await case_photos.take(db, photos=pics, actor=who, case_id=case["_id"])
    on_time = case.get("deadline") is None or now <= case["deadline"]
    due = now + timedelta(hours=float(case["verify_hours"]))
    result = {"text": body, "photos": pics, "at": now, "by": who.to_dict(), "on_time": on_time}
    # a joint case waits for its open parts (cases.joint): in_progress on their clocks
    waiting = joint.open_parts(case)
    clock = joint.parts_clock(waiting) if waiting else _due_fields(now, due, policy)
    entry = history_entry(case, actor=who, action="feedback",
                          to="in_progress" if waiting else "awaiting_verification", now=now,
                          data={"text": body, "photos": pics, "on_time": on_time,
                                **({"waiting_for": [p["unit"] for p in waiting]} if waiting else {})})
    return await _commit(db, case, entry, set_={"result": result, "waiting_parts": bool(waiting),
                                                 **clock},
                         push={"result_photos": {"$each": pics}, "public_photos": {"$each": pics},
                               "photo_ids": {"$each": pics}})


async def verify(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                 policy: CasePolicy, ok: bool, note: str | None = None,
                 callback: str | None = None, deadline: datetime | None = None,
                 parts: list[str] | None = None,
                 expected_version: int | None = None) -> Document:
    """The center's re-inspection / callback (核查, 回访): close, or reopen under supervision (督办).

    A failed verification needs a reason (`note`) and gives the handler a fresh deadline: the
    case's own time limit from now, unless `deadline` is given. A joint case sends back with
    the lead the parts `parts` names (all its parts with feedback when None) on the same deadline.
    """
    from cases import joint

    who = Actor.of(actor)
    case = await _load(db, case_ref, expected_version)
    check(who, case, "verify")
    why = clean_text(note, "note", required=not ok, limit=1000)
    cb = clean_text(callback, "callback", required=False, limit=1000)
    data: dict[str, Any] = {"ok": ok}
    if cb:
        data["callback"] = cb
    if ok:
        # the case is on time when the lead and every part fed back in time (cases.joint)
        on_time = bool((case.get("result") or {}).get("on_time", True)) and joint.parts_on_time(case)
        data["on_time"] = on_time
        entry = history_entry(case, actor=who, action="close", to="closed", now=now, reason=why, data=data)
        return await _commit(db, case, entry, set_={"closed_at": now, "closed_on_time": on_time,
                                                     "due_at": None, "warn_at": None})
    if deadline is not None:
        due = _aware(deadline, "deadline")
        if due <= now:
            raise BadCaseInput("the deadline must be in the future", field="deadline")
        fields = _fixed(due)
    else:
        fields = await _deadline(db, limit=case["limit"], start=now, policy=policy)
        due = fields["deadline"]
    data.update(deadline=due, provisional=fields["deadline_provisional"])
    sent_back = joint.reopen_parts(case, units=parts, due=due, now=now, policy=policy)
    if sent_back is not None:
        data["parts"] = [p["unit"] for p in sent_back["parts"] if p.get("reopened_at") == now]
    entry = history_entry(case, actor=who, action="reopen", to="in_progress", now=now, reason=why, data=data)
    return await _commit(db, case, entry, inc={"reworks": 1},
                         set_={"supervised": True, **fields, "reopened_at": now,
                               **_due_fields(now, due, policy), **(sent_back or {})})


async def rate(db: Database, *, case_ref: str, actor: ActorLike, now: datetime, score: int,
               comment: str | None = None, expected_version: int | None = None) -> Document:
    """The reporter's 1–5 rating (满意 5 … 差 1), once per case; a dispatcher may record the one
    given on the callback phone call."""
    who = Actor.of(actor)
    case = await _load(db, case_ref, expected_version)
    check_role(who, case, "rate")
    if isinstance(score, bool) or not isinstance(score, int) or score not in RATINGS:
        raise BadCaseInput("score must be 1 (差) to 5 (满意)", field="score")
    if case["state"] == "closed" and case.get("rating") is not None:
        raise TransitionNotAllowed("this case has already been rated", state=case["state"],
                                   version=case["version"], case_id=case["_id"],
                                   rating=case["rating"]["score"])
    check_state(case, "rate")
    words = clean_text(comment, "comment", required=False, limit=1000)
    label_zh, label_en = RATINGS[score]
    rating = {"score": score, "label_zh": label_zh, "label_en": label_en, "at": now,
              "comment": words, "by": who.to_dict()}
    entry = history_entry(case, actor=who, action="rate", to="closed", now=now,
                          data={"score": score, "label_zh": label_zh})
    flag = {"low_rating": True} if score <= LOW_RATING else {}  # the desk's "low ratings" queue
    return await _commit(db, case, entry, set_={"rating": rating, **flag}, extra_filter={"rating": None})


async def supervise(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                    note: str | None = None, expected_version: int | None = None) -> Document:
    """督办: the center presses the handler now (notify pushes a reminder on the event)."""
    who = Actor.of(actor)
    case = await _load(db, case_ref, expected_version)
    check(who, case, "supervise")
    why = clean_text(note, "note", required=False, limit=1000)
    entry = history_entry(case, actor=who, action="supervise", to=case["state"], now=now, reason=why,
                          data={"assignee": case.get("assignee")})
    return await _commit(db, case, entry, set_={"supervised": True}, inc={"supervisions": 1})


async def merge(db: Database, *, duplicate_ref: str, into_ref: str, actor: ActorLike,
                now: datetime, reason: str | None = None,
                expected_version: int | None = None) -> tuple[Document, Document]:
    """Fold a duplicate into an existing open case; the duplicate's reporter follows the main case.

    Returns (duplicate, main). The two documents are updated one after the other (no
    transactions); the follower update retries on version conflicts since it only appends.
    """
    who = Actor.of(actor)
    dup = await _load(db, duplicate_ref, expected_version)
    main = await repo.get_case(db, ref=into_ref)
    check_role(who, dup, "merge")
    # the main case gains the duplicate's reporter: it must be the center's too
    check_role(who, main, "merge")
    if dup["_id"] == main["_id"]:
        raise BadCaseInput("a case cannot be merged into itself", field="into")
    check_state(dup, "merge")
    if main["state"] in FINAL_STATES:
        raise TransitionNotAllowed(f"the main case {main['serial']} is {main['state']}",
                                   state=main["state"], version=main["version"], case_id=main["_id"])
    why = clean_text(reason, "reason", required=False, limit=1000)
    entry = history_entry(dup, actor=who, action="merge", to="merged", now=now, reason=why,
                          data={"into": main["_id"], "into_serial": main["serial"]})
    dup = await _commit(db, dup, entry, set_={"merged_into": main["_id"], "due_at": None,
                                              "warn_at": None, "closed_at": now})
    newcomers = [p for p in [dup.get("reporter"), *(dup.get("followers") or [])] if p]
    for _ in range(10):
        main = await repo.get_case(db, ref=main["_id"])
        absorb = history_entry(main, actor=who, action="absorb", to=main["state"], now=now,
                               data={"duplicate": dup["_id"], "duplicate_serial": dup["serial"]})
        try:
            main = await _commit(db, main, absorb, push={"followers": {"$each": newcomers},
                                                         "merged_cases": dup["_id"]})
            return dup, main
        except StaleCase:
            continue
    raise StaleCase("the main case keeps changing; retry the merge", case_id=main["_id"])


async def enter_calendar_year(db: Database, *, year: int, holidays: Mapping[date, str],
                              workdays: Mapping[date, str], now: datetime, by: str,
                              policy: CasePolicy) -> list[Document]:
    """An admin enters a year's holidays and adjusted workdays; the provisional deadlines are
    recomputed on it. Returns the cases whose deadline changed."""
    check_year(year, holidays, workdays)
    await repo.replace_calendar_year(db, year=year, holidays=holidays, workdays=workdays, now=now, by=by)
    return await recompute_provisional_deadlines(db, now=now, policy=policy)


# States whose deadline is running: a provisional one is recomputed when its year is entered.
DEADLINE_STATES = ("dispatched", "in_progress")


async def recompute_provisional_deadlines(db: Database, *, now: datetime,
                                          policy: CasePolicy) -> list[Document]:
    """Recompute every running provisional deadline on the calendar as it is now (after an admin
    entered a year); each case whose deadline moves or stops being provisional records it, and
    the change-log entry tells the assignee. Returns the cases changed."""
    changed = []
    for case in await repo.provisional_deadline_cases(db, states=DEADLINE_STATES):
        for _ in range(5):
            basis = case.get("deadline_basis")
            if case["state"] not in DEADLINE_STATES or not case.get("deadline_provisional") or not basis:
                break
            fields = await _deadline(db, limit=basis["limit"], start=basis["start"], policy=policy)
            if fields["deadline"] == case["deadline"] and fields["deadline_provisional"]:
                break  # the year is still not entered
            entry = history_entry(case, actor=SYSTEM, action="recompute_deadline", to=case["state"],
                                  now=now, data={"deadline": fields["deadline"], "previous": case["deadline"],
                                                 "provisional": fields["deadline_provisional"],
                                                 "assignee": case.get("assignee")})
            start = case.get("reopened_at") or case.get("dispatched_at") or basis["start"]
            try:
                changed.append(await _commit(db, case, entry, set_={
                    **fields, **_due_fields(start, fields["deadline"], policy)}))
                break
            except StaleCase:
                case = await repo.get_case(db, ref=case["_id"])
    return changed


# ---------------------------------------------------------------- the reporter in chat (issue 17)

EVENT_TYPES["callback"] = "case.callback"
# A rating this low (较差, 差) flags the case for its center: `low_rating: True`, stored so the
# desk's queue is one equality (api.desk.repository) and the digest counts it.
LOW_RATING = 2
EVENT_TYPES["rating_comment"] = "case.rating_commented"


async def answer_callback(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                          policy: CasePolicy, fixed: bool, comment: str | None = None,
                          expected_version: int | None = None) -> Document:
    """The reporter answers "is it fixed?": yes is recorded as the callback (the center then
    closes); "not yet" reopens the case under supervision with a fresh deadline."""
    who = Actor.of(actor)
    case = await _load(db, case_ref, expected_version)
    check(who, case, "answer")
    words = clean_text(comment, "comment", required=False, limit=1000)
    callback = {"fixed": fixed, "comment": words, "at": now, "by": who.to_dict()}
    if fixed:
        entry = history_entry(case, actor=who, action="callback", to=case["state"], now=now,
                              reason=words, data={"fixed": True})
        return await _commit(db, case, entry, set_={"reporter_callback": callback})
    fields = await _deadline(db, limit=case["limit"], start=now, policy=policy)
    due = fields["deadline"]
    entry = history_entry(case, actor=who, action="reopen", to="in_progress", now=now,
                          reason=words or "reporter: not fixed yet",
                          data={"ok": False, "callback": words or "", "by_reporter": True,
                                "deadline": due, "provisional": fields["deadline_provisional"]})
    return await _commit(db, case, entry, inc={"reworks": 1},
                         set_={"supervised": True, "reporter_callback": callback, **fields,
                               "reopened_at": now, **_due_fields(now, due, policy)})


async def comment_rating(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                         comment: str) -> Document:
    """The reporter's words after a rating given by button (once; a comment is never replaced)."""
    who = Actor.of(actor)
    case = await repo.get_case(db, ref=case_ref)
    check_role(who, case, "rate")
    rating = case.get("rating")
    if rating is None or rating.get("comment"):
        raise TransitionNotAllowed("there is no rating without a comment to add to",
                                   state=case["state"], version=case["version"], case_id=case["_id"])
    words = clean_text(comment, "comment", required=True, limit=1000)
    entry = history_entry(case, actor=who, action="rating_comment", to=case["state"], now=now,
                          data={"comment": words})
    return await _commit(db, case, entry, set_={"rating": {**rating, "comment": words}})


# ---------------------------------------------------------------- reminders and escalations

# A reminder or escalation the schedule sent is history too (shown on the case page); its
# event tells nobody (notify sent the messages itself) but keeps the change log complete.
EVENT_TYPES.update({"remind": "case.reminded", "escalate": "case.escalated"})
NOTICE_KINDS = ("remind", "escalate")


async def record_notice(db: Database, *, case_id: str, kind: str, step: str, level: int,
                        due: datetime, now: datetime, told: list[str] | None = None) -> bool:
    """Append a `remind`/`escalate` entry to the case's history without changing its state.

    Once per (kind, step, level, due): a worker that re-fires the job after a crash finds the
    entry and records nothing. The append goes through the same claimed, version-guarded
    commit as a transition, so its `seq` never collides with a concurrent writer's. Returns
    whether it recorded (False: already there, or the case left the state meanwhile)."""
    if kind not in NOTICE_KINDS:
        raise BadCaseInput(f"kind must be one of {', '.join(NOTICE_KINDS)}", field="kind")
    for _ in range(10):
        case = await repo.get_case(db, ref=case_id)
        if any(e.get("action") == kind and (e.get("data") or {}).get("step") == step
               and (e.get("data") or {}).get("level") == level
               and (e.get("data") or {}).get("due") == due for e in case.get("history") or []):
            return False
        if case["state"] in FINAL_STATES:
            return False
        data: dict[str, Any] = {"step": step, "level": level, "due": due}
        if told:
            data["told"] = list(told)
        entry = history_entry(case, actor=SYSTEM, action=kind, to=case["state"], now=now,
                              data=data)
        try:
            await _commit(db, case, entry)
            return True
        except StaleCase:
            continue
    log.warning("notice not recorded: the case keeps changing", extra={"case_id": case_id})
    return False


# ---------------------------------------------------------------- a coordinator's repeat (issue 17)

EVENT_TYPES["follow"] = "case.followed"


async def likely_duplicates(db: Database, *, category: str, location: Mapping[str, float],
                            photos: list[str], actor: ActorLike, now: datetime) -> list[Document]:
    """The duplicates intake would suggest for a report not yet filed (the chat shows them
    before the reporter confirms): open cases of the category within the radius, with a
    near-identical photo when both have photos, as `{case_id, serial, distance_m, hamming?}`."""
    from cases.duplicates import WINDOW, bounding_box, rank_duplicates

    who = Actor.of(actor)
    lon, lat = float(location["lon"]), float(location["lat"])
    hashes = await case_photos.take(db, photos=photos, actor=who)
    candidates = await repo.nearby_open_cases(db, category=category, box=bounding_box(lon, lat),
                                              since=now - WINDOW, until=now,
                                              exclude_states=FINAL_STATES)
    return rank_duplicates(lon=lon, lat=lat, phashes=hashes, candidates=candidates)


async def add_report(db: Database, *, case_ref: str, actor: ActorLike, photos: list[str],
                     now: datetime) -> Document:
    """"Add my photo to A": instead of filing a duplicate, a chat reporter adds their photos to
    an open case and follows it (hears its changes like its reporter). A patrol's photos are
    public as at intake; a citizen's stay staff-only."""
    who = Actor.of(actor)
    if who.user_id is None or who.chat_id is None:
        raise BadCaseInput("only a chat reporter can add a report to a case", field="actor")
    for _ in range(10):
        case = await repo.get_case(db, ref=case_ref)
        if case["state"] in FINAL_STATES:
            raise TransitionNotAllowed(f"case {case['serial']} is {case['state']}",
                                       state=case["state"], version=case["version"],
                                       case_id=case["_id"])
        hashes = await case_photos.take(db, photos=photos, actor=who, case_id=case["_id"])
        new = [p for p in photos if p not in (case.get("photos") or [])]
        follower = {k: v for k, v in {"user_id": who.user_id, "chat_id": who.chat_id,
                                      "name": who.name, "locale": who.locale,
                                      "role": who.role}.items() if v is not None}
        known = {p.get("user_id") for p in [case.get("reporter") or {}, *(case.get("followers") or [])]}
        entry = history_entry(case, actor=who, action="follow", to=case["state"], now=now,
                              data={"photos": new})
        set_: dict[str, Any] = {
            "photos": [*(case.get("photos") or []), *new],
            "photo_ids": list(dict.fromkeys([*(case.get("photo_ids") or []), *new])),
            "phashes": list(dict.fromkeys([*(case.get("phashes") or []), *hashes]))}
        if who.role == "coordinator":
            set_["public_photos"] = [*(case.get("public_photos") or []), *new]
        try:
            return await _commit(db, case, entry, set_=set_,
                                 push=None if who.user_id in known else {"followers": follower})
        except StaleCase:
            continue
    raise StaleCase("the case keeps changing; try again", case_id=case_ref)


# ---------------------------------------------------------------- the center's toolset (issue 22)

EVENT_TYPES.update({"refuse": "case.refused", "void": "case.voided", "suspend": "case.suspended",
                    "resume": "case.resumed", "direct_answer": "case.closed",
                    "refile": "case.refiled", "replace": "case.placed"})
# The longest a case may stay suspended before its review (挂账 is for budgets and courts,
# not for forgetting a case).
MAX_SUSPENSION = timedelta(days=366)


async def refuse(db: Database, *, case_ref: str, actor: ActorLike, now: datetime, action: str,
                 reason_code: str, note: str | None = None,
                 expected_version: int | None = None) -> Document:
    """不予立案 (`refuse`, before dispatch) or 作废 (`void`, later): the case ends unhandled with
    an active reason of the admin-kept list (cases.refusals), its words stored on the case;
    the reporter is told its words, the note stays staff-only."""
    if action not in ("refuse", "void"):
        raise BadCaseInput("action must be refuse or void", field="action")
    who = Actor.of(actor)
    case = await _load(db, case_ref, expected_version)
    check(who, case, action)
    reason = await refusals.active_reason(db, code=str(reason_code))
    words = clean_text(note, "note", required=False, limit=1000)
    zh, en = reason["zh"], reason["en"]
    refusal = {"code": reason_code, "label_zh": zh, "label_en": en, "note": words, "at": now,
               "by": who.to_dict(), "from": case["state"]}
    to = "refused" if action == "refuse" else "voided"
    entry = history_entry(case, actor=who, action=action, to=to, now=now, reason=words,
                          data={"reason_code": reason_code, "assignee": case.get("assignee")})
    return await _commit(db, case, entry, set_={"refusal": refusal, "due_at": None,
                                                 "warn_at": None, "review_at": None})


async def suspend(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                  reason: str | None, review_at: datetime | None,
                  expected_version: int | None = None) -> Document:
    """挂账: a case that cannot be solved now (awaiting budget, policy, a court) waits until its
    review date off every running clock (no step, never red); it then comes back by itself."""
    who = Actor.of(actor)
    case = await _load(db, case_ref, expected_version)
    check(who, case, "suspend")
    why = clean_text(reason, "reason", required=True, limit=1000)
    if review_at is None:
        raise BadCaseInput("review_at is required", field="review_at")
    review = _aware(review_at, "review_at")
    if review <= now:
        raise BadCaseInput("the review date must be in the future", field="review_at")
    if review - now > MAX_SUSPENSION:
        raise BadCaseInput("the review date must be within a year", field="review_at")
    suspension = {"from": case["state"], "at": now, "by": who.to_dict(), "reason": why,
                  "review_at": review, "deadline": case.get("deadline")}
    entry = history_entry(case, actor=who, action="suspend", to="suspended", now=now, reason=why,
                          data={"review_at": review, "assignee": case.get("assignee")})
    return await _commit(db, case, entry, set_={"suspension": suspension, "review_at": review,
                                                 "due_at": None, "warn_at": None})


async def resume(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                 policy: CasePolicy, note: str | None = None,
                 expected_version: int | None = None) -> Document:
    """The suspended case goes back to the state it left, with its step's clock started again:
    the dispatch limit before dispatch, a fresh handling deadline from its time limit after.
    The center resumes by hand; at the review date the schedule resumes as the system."""
    who = Actor.of(actor)
    case = await _load(db, case_ref, expected_version)
    if who.role == "system":
        check_state(case, "resume")  # the review date came: nobody's role to check
    else:
        check(who, case, "resume")
    why = clean_text(note, "note", required=False, limit=1000)
    back = str((case.get("suspension") or {}).get("from") or "reported")
    data: dict[str, Any] = {"review_at": case.get("review_at"), "at_review": who.role == "system"}
    set_: dict[str, Any] = {"review_at": None,
                            "suspension": {**(case.get("suspension") or {}), "resumed_at": now}}
    if back in ("dispatched", "in_progress") and case.get("assignee"):
        fields = await _deadline(db, limit=case["limit"], start=now, policy=policy)
        due = fields["deadline"]
        set_.update(fields, reopened_at=now, **_due_fields(now, due, policy))
        data.update(deadline=due, assignee=case.get("assignee"))
    else:
        back = back if back in ("reported", "returned") else "reported"
        due = now + timedelta(minutes=int(case["dispatch_minutes"]))
        set_.update(_due_fields(now, due, policy))
    entry = history_entry(case, actor=who, action="resume", to=back, now=now, reason=why, data=data)
    return await _commit(db, case, entry, set_=set_)


async def direct_answer(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                        text: str | None, expected_version: int | None = None) -> Document:
    """直接答复: the center answers a consultation at intake (on the phone, from the knowledge
    base) and closes it; the answer is the result the reporter receives and rates."""
    who = Actor.of(actor)
    case = await _load(db, case_ref, expected_version)
    check(who, case, "direct_answer")
    body = clean_text(text, "text", required=True)
    result: dict[str, Any] = {"text": body, "photos": [], "at": now, "by": who.to_dict(),
                              "on_time": True, "direct": True}
    entry = history_entry(case, actor=who, action="direct_answer", to="closed", now=now,
                          data={"text": body, "on_time": True})
    return await _commit(db, case, entry, set_={"result": result, "closed_at": now,
                                                 "closed_on_time": True, "due_at": None,
                                                 "warn_at": None})


async def refile(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                 policy: CasePolicy, category: str, reason: str | None,
                 expected_version: int | None = None) -> Document:
    """Re-file under another category: its routing (proposed assignee), time limits and public
    flag follow the new category; the old and new codes are recorded with the reason."""
    from cases.intake import is_public
    from cases.routing import propose_assignee

    who = Actor.of(actor)
    case = await _load(db, case_ref, expected_version)
    check(who, case, "refile")
    why = clean_text(reason, "reason", required=True, limit=1000)
    code = clean_text(category, "category", required=True, limit=60)
    assert code is not None
    if code == case.get("category"):
        raise BadCaseInput(f"the case is already filed as {code}", field="category")
    cat = await repo.get_category(db, code=code)
    if not cat.get("active", True):
        raise BadCaseInput(f"category {code!r} is no longer in use", field="category")
    proposed = propose_assignee(cat, case.get("placement"), district=case["district"] or policy.district)
    proposed["name"] = await repo.unit_name(db, unit=proposed["unit"]) or proposed["unit"]
    entry = history_entry(case, actor=who, action="refile", to=case["state"], now=now, reason=why,
                          data={"from": case.get("category"), "to": code,
                                "proposed_assignee": proposed})
    return await _commit(db, case, entry, set_={
        "category": code, "category_name": {"zh": cat["name_zh"], "en": cat["name_en"]},
        "layer": cat["layer"], "level": cat["level"], "urgency": cat.get("urgency", "normal"),
        "limit": cat["limit"], "dispatch_minutes": cat["dispatch_minutes"],
        "verify_hours": cat["verify_hours"], "proposed_assignee": proposed,
        "public": is_public(case["channel"], code)})


async def replace(db: Database, *, case_ref: str, actor: ActorLike, now: datetime,
                  policy: CasePolicy, location: Mapping[str, Any], grid: Any,
                  reason: str | None = None, expected_version: int | None = None) -> Document:
    """Re-place: set or correct the location (a map click, coordinates), place it in its blocks
    again and route it again. An address-only case (hotline, Open311) becomes placeable so."""
    from cases.intake import _location
    from cases.routing import propose_assignee

    who = Actor.of(actor)
    case = await _load(db, case_ref, expected_version)
    check(who, case, "replace")
    why = clean_text(reason, "reason", required=False, limit=1000)
    loc = _location(location)
    assert loc is not None
    # outside the district the center cannot route it: the grid's OutsideDistrict (400) says so
    placement = dict(grid.place(loc["lon"], loc["lat"]).to_dict())
    cat = await repo.get_category(db, code=case["category"])
    proposed = propose_assignee(cat, placement, district=case["district"] or policy.district)
    proposed["name"] = await repo.unit_name(db, unit=proposed["unit"]) or proposed["unit"]
    entry = history_entry(case, actor=who, action="replace", to=case["state"], now=now, reason=why,
                          data={"from": case.get("location"), "to": loc,
                                "block": placement.get("community_block") or placement.get("street_block"),
                                "proposed_assignee": proposed})
    return await _commit(db, case, entry, set_={"location": loc, "placement": placement,
                                                 "proposed_assignee": proposed})
