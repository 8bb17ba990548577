"""Events → outbox: who must hear about each case transition, in their language, queued once.

Each event of `cases/` is claimed with a lease (`events.notify_*` fields), turned into
messages with deterministic ids (event id + chat), and marked done. A worker that dies
mid-batch leaves claims that expire; the next worker redoes the batch and the ids keep the
outbox free of doubles. Every event also re-shapes the case's reminder schedule from the
case as it is now, so the order in which events are processed does not matter.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from cases import workflow
from cases.colour import colour_of
from cases.model import Actor
from gridlink import appsecrets
from gridlink.buttons import fixed_markup, rating_markup
from gridlink.clock import Clock
from gridlink.db import Database, Document
from gridlink.i18n import locale_for, t
from notify import joint, render, schedule, toolset
from notify import repository as repo
from notify.config import NotifyConfig
from notify.recipients import EVENT_AUDIENCE, Directory, Recipient
from notify.texts import unit_name, when
from stats.portal import rating_code

log = logging.getLogger(__name__)

LOW_RATING = 2  # a score this low flags the case for the center (desk queue, a message)
Build = Callable[[Recipient, dict[str, Any], str], Document]
Markup = Callable[[Recipient, str], Document | None]


class _Batch:
    """One batch's shared lookups and the messages it produces."""

    def __init__(self, db: Database, cfg: NotifyConfig, now: datetime) -> None:
        self.db, self.cfg, self.now = db, cfg, now
        self.directory = Directory(db, district=cfg.district)
        self.messages: list[Document] = []
        self._fields: dict[tuple[str, str], dict[str, Any]] = {}

    async def fields(self, case: Document, locale: str) -> dict[str, Any]:
        key = (case["_id"], locale)
        if key not in self._fields:
            self._fields[key] = await render.fields(case, locale, self.cfg, self.directory)
        return self._fields[key]

    async def send(self, event: Document, case: Document, recipients: list[Recipient],
                   key: str, *, extra: Callable[[str], Awaitable[dict[str, Any]]] | None = None,
                   markup: Markup | None = None,
                   on_sent: Document | None = None, album: list[str] | None = None,
                   with_venue: bool = False, tag: str = "") -> None:
        for recipient in recipients:
            locale = locale_for(recipient.locale, self.cfg.default_locale)
            kw = dict(await self.fields(case, locale))
            if extra is not None:
                kw.update(await extra(locale))
            self.messages.append(render.message(
                source=f"ev:{event['_id']}{tag}", recipient=recipient, key=key, kw=kw,
                kind=event["type"], now=self.now, cfg=self.cfg, case_id=case["_id"],
                reply_markup=markup(recipient, locale) if markup else None, on_sent=on_sent,
                album=album, venue=await render.venue(case, locale, self.directory)
                if with_venue else None))


async def _reporters(case: Document, directory: Directory) -> list[Recipient]:
    """The reporter and the followers (reporters of merged duplicates) that have a chat, each
    in the language they chose with /language, else the one stored with their report (else
    the roster's, else the default)."""
    out: list[Recipient] = []
    seen: set[int] = set()
    for person in [case.get("reporter") or {}, *(case.get("followers") or [])]:
        chat = person.get("chat_id")
        if chat is None or int(chat) in seen:
            continue
        seen.add(int(chat))
        locale = person.get("locale")
        if person.get("user_id") is not None:
            locale = await repo.chosen_language(directory.db, user_id=int(person["user_id"])) or locale
        if locale is None and person.get("user_id") is not None:
            locale = await directory.member_locale(int(person["user_id"]))
        out.append(Recipient(chat_id=int(chat), locale=locale, unit=None,
                             role="citizen", name=str(person.get("name") or ""),
                             user_id=person.get("user_id")))
    return out


def _assignment_buttons(case: Document) -> Markup:
    """The buttons the workflow table offers this recipient on the case as it is now (none
    for a level above the assignee that only hears of it)."""

    def markup(recipient: Recipient, locale: str) -> Document | None:
        return render.case_buttons(case, recipient, locale)

    return markup


def _main_reporter(case: Document, recipients: list[Recipient]) -> tuple[list[Recipient], list[Recipient]]:
    """(the reporter who may answer "is it fixed?", everyone else)."""
    asked = [r for r in recipients if r.user_id is not None and workflow.may(
        Actor(role="citizen", user_id=r.user_id, chat_id=r.chat_id), case, "answer")]
    return asked, [r for r in recipients if r not in asked]


def _result_photos(case: Document) -> list[str]:
    """The latest result's photos a reporter may see (public ones only)."""
    public = set(case.get("public_photos") or [])
    return [p for p in (case.get("result") or {}).get("photos") or [] if p in public]


async def _rating_code(db: Database, cfg: NotifyConfig, case_id: str) -> str:
    key = cfg.rating_code_key or await appsecrets.stored_secret(db, appsecrets.RATING_CODE_KEY)
    return rating_code(case_id, key)


async def _actor_unit(batch: _Batch, event: Document, case: Document, locale: str) -> str:
    actor = event.get("actor") or {}
    code = actor.get("unit") or (event.get("data") or {}).get("unit") \
        or (case.get("assignee") or {}).get("unit")
    unit = await batch.directory.unit(code)
    return unit_name(unit, locale, str(actor.get("name") or code or ""))


async def _handle(batch: _Batch, event: Document, case: Document) -> None:
    kind = event.get("type")
    data = event.get("data") or {}
    reason = str(data.get("reason") or "")
    d = batch.directory

    async def reason_kw(locale: str) -> dict[str, Any]:
        return {"reason": reason or "—", "unit": await _actor_unit(batch, event, case, locale)}

    buttons = _assignment_buttons(case)
    result_text = str((case.get("result") or {}).get("text") or data.get("text") or "—")
    # a joint case's assisting units and its waiting (cases.joint), beside what follows
    await joint.handle(batch, event, case)
    if toolset.handles(event):  # refuse, void, suspend, resume, direct answer (issue 22)
        await toolset.handle(batch, event, case, reporters=lambda: _reporters(case, d),
                             rating_code=lambda: _rating_code(batch.db, batch.cfg, case["_id"]))
    elif kind == "case.assigned":
        dot = colour_of(case, batch.now)
        await batch.send(event, case, await d.assignee(case), "notify.assignment",
                         extra=lambda loc: _const({"dot": t(f"colour.{dot}", loc)}),
                         markup=buttons, album=list(case.get("photos") or []), with_venue=True)
        await batch.send(event, case, await _reporters(case, d), "notify.reporter_dispatched",
                         tag=":r")
    elif kind == "case.returned":
        await batch.send(event, case, await d.center(case=case), "notify.returned", extra=reason_kw)
        await batch.send(event, case, await _reporters(case, d), "notify.reporter_returned", tag=":r")
    elif kind == "case.extension_requested":
        await batch.send(event, case, await d.center(case=case), "notify.extension_requested",
                         extra=reason_kw, markup=buttons)
    elif kind == "case.extension_decided":
        key = "notify.extension_approved" if data.get("approved") else "notify.extension_refused"
        await batch.send(event, case, await d.assignee(case), key,
                         extra=lambda loc: _const({"reason": reason}), markup=buttons)
        if data.get("approved"):
            await batch.send(event, case, await _reporters(case, d), "notify.reporter_extended",
                             tag=":r")
    elif (kind == "case.feedback" and not data.get("waiting_for")) or (
            kind in ("case.part_feedback", "case.part_returned")
            and data.get("to") == "awaiting_verification"):  # the last part: to verify
        result = str(data.get("result") or data.get("text") or data.get("note") or reason or "—")

        async def feedback_kw(locale: str) -> dict[str, Any]:
            return {"result": result, "unit": await _actor_unit(batch, event, case, locale)}

        await batch.send(event, case, await d.center(case=case), "notify.feedback_center",
                         extra=feedback_kw)
        asked, others = _main_reporter(case, await _reporters(case, d))
        await batch.send(event, case, asked, "notify.fixed_question",
                         extra=lambda loc: _const({"result": result}),
                         markup=lambda _, loc: fixed_markup(case["_id"], loc),
                         album=_result_photos(case))
        await batch.send(event, case, others, "notify.feedback_reporter")
    elif kind in ("case.reopened", "case.supervised"):
        key = "notify.reopened" if kind == "case.reopened" else "notify.supervised"
        await batch.send(event, case, await d.assignee(case), key, extra=reason_kw, markup=buttons)
        if kind == "case.reopened":
            await batch.send(event, case, await _reporters(case, d), "notify.reporter_reopened",
                             tag=":r")
    elif kind == "case.closed" and data.get("action") != "close_on_spot":
        code = await _rating_code(batch.db, batch.cfg, case["_id"])
        await batch.send(event, case, await _reporters(case, d), "notify.closed_result",
                         extra=lambda loc: _const({"result": result_text, "code": code}),
                         markup=lambda _, loc: rating_markup(case["_id"], loc),
                         on_sent={"rating_prompt": case["_id"]}, album=_result_photos(case))
    elif kind == "case.rated" and int(data.get("score") or 5) <= LOW_RATING:
        rating = case.get("rating") or {}

        async def low_kw(locale: str) -> dict[str, Any]:
            return {"label": t(f"rating.{data.get('score')}", locale),
                    "comment": str(rating.get("comment") or "—")}

        await batch.send(event, case, await d.center(case=case), "notify.low_rating", extra=low_kw)
    elif kind == "case.merged" and data.get("action", "merge") == "merge":
        main = await repo.get_case(batch.db, case_id=str(case.get("merged_into") or ""))
        main_serial = (main or {}).get("serial") or str(case.get("merged_into") or "")
        await batch.send(event, case, await _reporters(case, d), "notify.merged",
                         extra=lambda loc: _const({"main_serial": main_serial}))
    elif kind == "case.taken_back":  # an automatic assignment the center took back
        was = data.get("assignee") or {}
        await batch.send(event, case, await d.members(was.get("unit"), kind=was.get("kind")),
                         "notify.taken_back")
    elif kind in EVENT_AUDIENCE:  # e.g. case.deadline_changed → the assignee (issue 18)
        who, key = EVENT_AUDIENCE[kind]
        previous = data.get("previous")
        await batch.send(event, case, await d.audience(who, case), key,
                         extra=lambda loc: _const({"previous": when(previous, batch.cfg.tz, loc)}))
    # case.reported, case.accepted, case.rated: nobody else needs a message.


async def _const(value: dict[str, Any]) -> dict[str, Any]:
    return value


async def process_batch(db: Database, cfg: NotifyConfig, *, now: datetime, worker: str,
                        case_ids: list[str] | None = None) -> int:
    """Claim up to `cfg.batch` events (of `case_ids` only, when given), queue their messages,
    re-shape their cases' schedules."""
    events = await repo.claim_events(db, now=now, lease=cfg.lease, worker=worker, limit=cfg.batch,
                                     case_ids=case_ids)
    if not events:
        return 0
    batch = _Batch(db, cfg, now)
    cases = await repo.cases_by_id(db, ids=[e["case_id"] for e in events])
    for event in events:
        case = cases.get(event["case_id"])
        if case is None:
            log.warning("event of an unknown case", extra={"event": event["_id"]})
            continue
        await _handle(batch, event, case)
    await repo.enqueue(db, messages=batch.messages)
    jobs = await repo.jobs_by_case(db, case_ids=cases)  # one query, not one per case
    # one planner per batch: categories and working-day calendars read once, not per case
    # (three round trips an event less: the notifier keeps up with a busy intake)
    planner = schedule.Planner(db, cfg)
    new_jobs: list[Document] = []
    dispatched: list[str] = []
    for case in cases.values():
        await schedule.sync_case(db, cfg, batch.directory, case, now=now, jobs=jobs[case["_id"]],
                                 planner=planner, new_jobs=new_jobs, dispatched=dispatched)
    await repo.insert_jobs(db, jobs=new_jobs)  # one insert for the batch's new jobs
    await repo.finish_events(db, events=events, now=now)
    if dispatched:
        # a rule's assignment goes out now, not after the next batch's backlog (issue 22: a
        # coordinator's report reaches the leader within seconds under load)
        return len(events) + await process_batch(db, cfg, now=now, worker=worker, case_ids=dispatched)
    return len(events)


async def run(db: Database, cfg: NotifyConfig, *, clock: Clock, worker: str,
              stop: asyncio.Event, wake: Callable[[], None] | None = None) -> None:
    """Drain events batch by batch; poll when there is nothing to do. `wake` is called after a
    batch (the sender in this process plans what it queued at once)."""
    while not stop.is_set():
        try:
            done = await process_batch(db, cfg, now=clock.now(), worker=worker)
        except Exception:
            log.exception("notifier batch failed; retrying")
            done = 0
        if done and wake is not None:
            wake()
        if not done:
            try:
                await asyncio.wait_for(stop.wait(), timeout=cfg.poll_s)
            except TimeoutError:
                pass
