"""The durable reminder and escalation schedule: every step of a case has an owner who hears.

| step | while | owner | limit |
|---|---|---|---|
| `dispatch` | reported | the center | `due_at` (the category's dispatch minutes) |
| `handling` | dispatched, in progress | the assignee | the deadline |
| `extension` | an extension request is pending | the center | requested + the category's `extension_hours` |
| `verification` | awaiting verification | the center | `due_at` (the verify hours) |
| `redispatch` | returned | the center | `due_at` (the dispatch minutes) |
| `part-<unit>` | a joint case's open part | its assisting unit | the part's deadline |

Per step, from the category's data (`cases.categories.step_notices`, by urgency: minutes for
urgent matters, working days otherwise): a reminder to the owner `remind_before` the limit
(never before the step began: then at `NOTIFY_REMINDER_FRACTION` of it), the handling step's
red alert to the assignee at the deadline, and one escalation per level above the owner
`escalate_after[N-1]` past the limit (block → station head → street center → district center;
a department → its head → the district center; the center's steps → the district center).
Each reminder and escalation is recorded in the case's history (`lifecycle.record_notice`).

Jobs live in the `schedule` collection keyed `<case_id>:<step>:<kind>:<level>`, carry the
step's limit they were planned for (`deadline_version`) and the case version that shaped
them. A new limit moves them, leaving the step cancels them; firing re-reads the case and
drops a job whose step or limit is no longer the case's. Due jobs are claimed a bounded batch
at a time with a lease, so a crashed worker's claims go to another worker after the lease,
and a backlog of any size runs in constant memory; message ids and the history's notice
entries are keyed by the job, so a re-fired job tells nobody twice.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pymongo.errors import PyMongoError

from cases import autodispatch, lifecycle
from cases import repository as cases_repo
from cases.calendar import WorkCalendar
from cases.categories import Offset, extension_limit, step_notices
from cases.model import SYSTEM, CasePolicy
from gridlink.clock import Clock
from gridlink.db import Database, Document
from gridlink.errors import DomainError
from gridlink.i18n import has, locale_for
from notify import digest, render
from notify import repository as repo
from notify.config import NotifyConfig
from notify.recipients import Directory, Recipient

log = logging.getLogger(__name__)

KINDS = ("remind", "red", "escalate", "resume")
# What the outbox calls each kind (kept from the single ladder, so dashboards read on).
MESSAGE_KIND = {"remind": "schedule.reminder", "red": "schedule.red",
                "escalate": "schedule.escalation"}
# A suspended case (挂账) has one step, `review`, whose one job resumes it at the review date
# (cases.lifecycle.resume as the system; its event tells whom it concerns).
REVIEW = "review"
# A joint case's assisting unit (cases.joint) runs its own handling step, `part-<unit>`, on its
# part's deadline: reminded, red and escalated as the case's assignee would be (`subject_of`).
PART = "part-"


@dataclass(frozen=True)
class Step:
    name: str
    start: datetime
    due: datetime
    owner: str  # "assignee" | "center"


@dataclass(frozen=True)
class JobSpec:
    step: str
    kind: str
    level: int
    due_at: datetime
    limit: datetime
    target: str | None = None  # "<unit>@<role>" for an escalation

    def job_id(self, case_id: str) -> str:
        return f"{case_id}:{self.step}:{self.kind}:{self.level}"


def _last_return(case: Document) -> datetime | None:
    returns = [e["at"] for e in case.get("history") or [] if e.get("action") == "return"]
    return returns[-1] if returns else None


def steps_of(case: Document, *, category: Document | None) -> list[Step]:
    """The steps running on the case now, each with its owner and limit."""
    state = case.get("state")
    due = case.get("due_at")
    out: list[Step] = []
    if state == "suspended" and case.get("review_at") is not None:
        review = case["review_at"]
        out.append(Step(REVIEW, (case.get("suspension") or {}).get("at") or review, review, "center"))
    elif state == "reported" and due is not None:
        out.append(Step("dispatch", case.get("created_at") or due, due, "center"))
    elif state == "returned" and due is not None:
        out.append(Step("redispatch", _last_return(case) or case.get("updated_at") or due, due,
                        "center"))
    elif state == "awaiting_verification" and due is not None:
        start = (case.get("result") or {}).get("at") or case.get("updated_at") or due
        out.append(Step("verification", start, due, "center"))
    elif state in repo.ACTIVE_STATES and case.get("deadline") is not None and case.get("assignee"):
        start = case.get("reopened_at") or case.get("dispatched_at") or case.get("created_at")
        if not case.get("waiting_parts"):  # a lead that has reported waits on nobody's clock
            out.append(Step("handling", start or case["deadline"], case["deadline"], "assignee"))
        ext = case.get("extension") or {}
        if ext.get("status") == "pending" and ext.get("requested_at") is not None:
            asked = ext["requested_at"]
            out.append(Step("extension", asked, asked + extension_limit(category), "center"))
    if state in repo.ACTIVE_STATES:
        for part in case.get("parts") or []:
            if part.get("state") in repo.ACTIVE_STATES and part.get("due_at") is not None:
                begun = part.get("reopened_at") or part.get("dispatched_at") or part["due_at"]
                out.append(Step(PART + str(part["unit"]), begun, part["due_at"], "assignee"))
    return out


def subject_of(case: Document, step: str) -> Document:
    """The case as a step's owner is told of it: for a part's step, its assisting unit as the
    assignee on the part's deadline (whom it reminds and escalates to, what it says)."""
    if not step.startswith(PART):
        return case
    unit = step[len(PART):]
    part = next((p for p in case.get("parts") or [] if p.get("unit") == unit), None)
    if part is None:
        return case
    return {**case, "assignee": {"unit": unit, "kind": part.get("kind"), "name": part.get("name")},
            "deadline": part.get("due_at"), "deadline_provisional": False}


class Planner:
    """Categories and working-day calendars, looked up once per batch."""

    def __init__(self, db: Database, cfg: NotifyConfig) -> None:
        self.db, self.cfg = db, cfg
        self._categories: dict[str, Document | None] = {}
        self._calendars: dict[int, WorkCalendar | None] = {}

    async def category(self, code: str | None) -> Document | None:
        if not code:
            return None
        if code not in self._categories:
            self._categories[code] = await self.db.categories.find_one({"_id": code})
        return self._categories[code]

    async def calendar(self, year: int) -> WorkCalendar | None:
        if year not in self._calendars:
            try:
                self._calendars[year] = await cases_repo.load_calendar(
                    self.db, years=range(year - 1, year + 2))
            except (DomainError, PyMongoError):
                self._calendars[year] = None
        return self._calendars[year]

    async def shift(self, at: datetime, offset: Offset, sign: int) -> datetime:
        """`at` moved by `offset`: clock minutes, or working days at the same local time."""
        if offset.minutes is not None:
            return at + sign * timedelta(minutes=offset.minutes)
        n = int(offset.working_days or 0)
        local = at.astimezone(self.cfg.tz)
        day = local.date()
        calendar = await self.calendar(day.year)
        counted = 0
        while counted < n:
            day += timedelta(days=sign)
            try:
                working = calendar.is_working_day(day) if calendar else day.weekday() < 5
            except DomainError:  # a year the calendar knows nothing of: weekdays
                working = day.weekday() < 5
            if working:
                counted += 1
        return datetime.combine(day, local.timetz()).astimezone(at.tzinfo)

    async def steps(self, case: Document) -> list[Step]:
        return steps_of(case, category=await self.category(case.get("category")))

    async def plan(self, case: Document, directory: Directory, *, now: datetime) -> list[JobSpec]:
        """The jobs a case should have right now."""
        category = await self.category(case.get("category"))
        jobs: list[JobSpec] = []
        for step in steps_of(case, category=category):
            if step.name == REVIEW:
                jobs.append(JobSpec(step.name, "resume", 0, step.due, step.due))
                continue
            notices = step_notices(category, "handling" if step.name.startswith(PART) else step.name)
            remind = await self.shift(step.due, notices.remind_before, -1)
            if remind <= step.start:
                remind = step.start + (step.due - step.start) * self.cfg.reminder_fraction
            if step.due > now and step.due > step.start:
                jobs.append(JobSpec(step.name, "remind", 0, remind, step.due))
            if step.name == "handling" or step.name.startswith(PART):
                jobs.append(JobSpec(step.name, "red", 0, step.due, step.due))
            levels = await directory.escalation_levels(subject_of(case, step.name), step.owner)
            for level, (offset, (code, role)) in enumerate(
                    zip(notices.escalate_after, levels, strict=False), start=1):
                jobs.append(JobSpec(step.name, "escalate", level,
                                    await self.shift(step.due, offset, +1), step.due,
                                    f"{code}@{role}"))
        return jobs


def plan(case: Document, *, levels_above: list[str], cfg: NotifyConfig, now: datetime
         ) -> list[JobSpec]:
    """Kept for callers of the single ladder: the handling step's reminder and red alert."""
    deadline = case.get("deadline")
    if case.get("state") not in repo.ACTIVE_STATES or deadline is None or not case.get("assignee"):
        return []
    start = case.get("dispatched_at") or case.get("created_at") or deadline
    jobs = []
    if deadline > now and deadline > start:
        jobs.append(JobSpec("handling", "remind", 0,
                            start + (deadline - start) * cfg.reminder_fraction, deadline))
    jobs.append(JobSpec("handling", "red", 0, deadline, deadline))
    return jobs


async def sync_case(db: Database, cfg: NotifyConfig, directory: Directory, case: Document, *,
                    now: datetime, jobs: list[Document],
                    planner: Planner | None = None,
                    new_jobs: list[Document] | None = None,
                    dispatched: list[str] | None = None) -> list[JobSpec]:
    """Make the case's jobs match the case as read: add, move, keep or cancel.

    `jobs` are the case's jobs as read (repo.jobs_by_case, for a whole batch of cases); only
    what differs is written; a job already shaped by a newer case version is left alone
    (events of one case may be processed out of order).
    """
    planner = planner or Planner(db, cfg)
    if case.get("state") == "reported":
        # The dispatch step's first move: a category's rule may dispatch a new case at once
        # (the assignment's event then goes out like any other); else the center's step runs.
        by_rule = await autodispatch.dispatch_new(db, case=case, now=now, policy=case_policy(cfg))
        if by_rule is not None:
            case = by_rule
            if dispatched is not None:
                dispatched.append(case["_id"])
    specs = await planner.plan(case, directory, now=now)
    version = int(case.get("version") or 0)
    existing = {j["_id"]: j for j in jobs}
    fresh: list[Document] = []
    for spec in specs:
        job_id = spec.job_id(case["_id"])
        job = existing.get(job_id)
        if job is None:
            fresh.append(repo.new_job(job_id=job_id, case_id=case["_id"], kind=spec.kind,
                                      step=spec.level, due_at=spec.due_at,
                                      deadline_version=spec.limit, case_version=version,
                                      target=spec.target, now=now))
        elif job.get("case_version", 0) >= version:
            continue  # a newer (or the same) case version shaped it
        elif job.get("deadline_version") == spec.limit and job.get("state") != "cancelled" \
                and job.get("due_at") == spec.due_at:
            continue  # same limit: keep its state, a fired reminder does not fire again
        else:
            await repo.sync_job(db, job_id=job_id, case_id=case["_id"], kind=spec.kind,
                                step=spec.level, due_at=spec.due_at,
                                deadline_version=spec.limit, case_version=version,
                                target=spec.target, now=now)
    if new_jobs is not None:
        new_jobs.extend(fresh)  # the caller inserts a whole batch's new jobs at once
    else:
        await repo.insert_jobs(db, jobs=fresh)
    wanted = {s.job_id(case["_id"]) for s in specs}
    stale = [j["_id"] for j in existing.values() if j["_id"] not in wanted
             and j.get("state") == "pending" and j.get("case_version", 0) < version]
    await repo.cancel_jobs(db, ids=stale, case_version=version, now=now)
    return specs


async def _resume(db: Database, cfg: NotifyConfig, case: Document, now: datetime) -> None:
    """The review date of a suspended case came: it goes back to where it was (once: a
    re-fired job finds it no longer suspended)."""
    try:
        await lifecycle.resume(db, case_ref=case["_id"], actor=SYSTEM, now=now, policy=case_policy(cfg),
                               expected_version=case.get("version"))
    except DomainError:  # resumed by hand meanwhile, or changed: its own event re-plans it
        log.info("suspended case not resumed at its review date", extra={"case_id": case["_id"]})


def case_policy(cfg: NotifyConfig) -> CasePolicy:
    """What a transition the worker makes needs of the settings (deadlines and colours)."""
    return CasePolicy(district=cfg.district, timezone=str(cfg.tz.key),
                      yellow_fraction=cfg.yellow_fraction)


@dataclass
class FireStats:
    batches: int = 0
    fired: int = 0
    cancelled: int = 0
    messages: int = 0
    largest_batch: int = 0
    digests: int = 0


def _step_of(job: Document) -> str | None:
    """The step a job belongs to (None: a job of the single ladder, before steps)."""
    parts = str(job["_id"]).split(":")
    return parts[-3] if len(parts) >= 4 and job.get("kind") in KINDS else None


async def _still_due(job: Document, case: Document | None, planner: Planner) -> Step | None:
    if case is None:
        return None
    name = _step_of(job)
    for step in await planner.steps(case):
        if step.name == name and step.due == job.get("deadline_version"):
            return step
    return None


def _text_key(kind: str, step: str) -> str:
    if kind == "red":
        return "notify.red"
    if step == "handling" or step.startswith(PART):
        return "notify.reminder" if kind == "remind" else "notify.escalation"
    key = f"notify.{kind}.{step}"
    return key if has(key) else ("notify.reminder" if kind == "remind" else "notify.escalation")


async def _recipients(job: Document, case: Document, step: Step,
                      directory: Directory) -> list[Recipient]:
    kind = job["kind"]
    case = subject_of(case, step.name)
    if kind == "escalate":
        # Nobody bound at that level → the next level up, so the escalation reaches someone.
        levels = await directory.escalation_levels(case, step.owner)
        code, _, role = str(job.get("target") or "").partition("@")
        at = next((i for i, lv in enumerate(levels) if lv == (code, role)), None)
        return await directory.reach(levels[at:] if at is not None else [(code, role)])
    if step.owner == "center":
        return await directory.center(case=case)
    return await directory.assignee(case)


async def _messages_for(job: Document, case: Document, step: Step, cfg: NotifyConfig,
                        directory: Directory, now: datetime,
                        recipients: list[Recipient]) -> list[Document]:
    kind = job["kind"]
    source = f"job:{job['_id']}@{int(job['deadline_version'].timestamp())}"
    out = []
    fields: dict[str, dict[str, Any]] = {}
    for recipient in recipients:
        locale = locale_for(recipient.locale, cfg.default_locale)
        if locale not in fields:
            fields[locale] = await render.fields(subject_of(case, step.name), locale, cfg,
                                                 directory, deadline=step.due)
        out.append(render.message(source=source, recipient=recipient,
                                  key=_text_key(kind, step.name), kw=fields[locale],
                                  kind=MESSAGE_KIND[kind], now=now, cfg=cfg, case_id=case["_id"]))
    return out


async def fire_batch(db: Database, cfg: NotifyConfig, *, now: datetime, worker: str,
                     stats: FireStats, recent_only: bool = False) -> int:
    """Claim one bounded batch of due jobs and fire it; returns how many jobs it claimed."""
    jobs = await repo.claim_jobs(db, now=now, lease=cfg.lease, worker=worker, limit=cfg.batch,
                                 recent_only=recent_only)
    if not jobs:
        return 0
    stats.batches += 1
    stats.largest_batch = max(stats.largest_batch, len(jobs))
    case_jobs = [j for j in jobs if j["kind"] != "digest"]
    for job in (j for j in jobs if j["kind"] == "digest"):
        stats.messages += await digest.send_digest(db, cfg, job=job, now=now)
        await repo.finish_jobs(db, jobs=[job], state="done", now=now)
        stats.digests += 1
    cases = await repo.cases_by_id(db, ids=[j["case_id"] for j in case_jobs])
    directory = Directory(db, district=cfg.district)
    planner = Planner(db, cfg)
    done, cancelled, messages, notes = [], [], [], []
    legacy: set[str] = set()
    for job in case_jobs:
        case = cases.get(job["case_id"])
        step = await _still_due(job, case, planner)
        if case is None or step is None:
            if case is not None and _step_of(job) is None:
                legacy.add(case["_id"])  # a single-ladder job: plan the case's steps instead
            cancelled.append(job)
            continue
        if job["kind"] == "resume":
            await _resume(db, cfg, case, now)
            done.append(job)
            continue
        told = await _recipients(job, case, step, directory)
        messages.extend(await _messages_for(job, case, step, cfg, directory, now, told))
        if job["kind"] != "red":
            notes.append((job, step, sorted({r.unit or "" for r in told} - {""})))
        done.append(job)
    await repo.enqueue(db, messages=messages)
    for job, step, units in notes:
        try:
            await lifecycle.record_notice(db, case_id=job["case_id"], kind=job["kind"],
                                          step=step.name, level=int(job.get("step") or 0),
                                          due=step.due, now=now, told=units)
        except DomainError:
            log.exception("notice not recorded", extra={"job": job["_id"]})
    await repo.finish_jobs(db, jobs=done, state="done", now=now)
    await repo.finish_jobs(db, jobs=cancelled, state="cancelled", now=now)
    if legacy:
        existing = await repo.jobs_by_case(db, case_ids=legacy)
        for case_id in legacy:
            await sync_case(db, cfg, directory, cases[case_id], now=now,
                            jobs=existing[case_id], planner=planner)
    stats.fired += len(done)
    stats.cancelled += len(cancelled)
    stats.messages += len(messages)
    return len(jobs)


async def fire_due(db: Database, cfg: NotifyConfig, *, now: datetime, worker: str,
                   max_batches: int | None = None, recent_only: bool = False) -> FireStats:
    """Fire every job due at `now` (with `recent_only`, those due within the last hour), one
    bounded batch after another."""
    stats = FireStats()
    await digest.ensure_jobs(db, cfg, now=now)
    while max_batches is None or stats.batches < max_batches:
        if not await fire_batch(db, cfg, now=now, worker=worker, stats=stats,
                                recent_only=recent_only):
            break
    return stats


CLAIMS_KEPT = timedelta(days=2)
PRUNE_EVERY_S = 3600.0
# The poll reads only the last hour's slots; everything due (a worker down for longer, a clock
# step) is picked up by a complete query this often, and at start.
CATCH_UP_EVERY_S = 300.0
# Batches per round before the loop checks for pruning and the catch-up again.
BATCHES_PER_ROUND = 20


async def run(db: Database, cfg: NotifyConfig, *, clock: Clock, worker: str,
              stop: asyncio.Event) -> None:
    pruned_at = time.monotonic()
    caught_up_at = -CATCH_UP_EVERY_S
    while not stop.is_set():
        if time.monotonic() - pruned_at >= PRUNE_EVERY_S:
            pruned_at = time.monotonic()
            try:
                # Claims only guard work in progress; two days on, all of it finished long ago.
                await repo.prune_claims(db, before=clock.now() - CLAIMS_KEPT)
                pruned = await repo.prune_sent(db, before=clock.now() - cfg.outbox_keep)
                if pruned:
                    log.info("outbox pruned", extra={"sent_messages_deleted": pruned})
            except Exception:
                log.exception("pruning claims or sent messages failed")
        try:
            complete = time.monotonic() - caught_up_at >= CATCH_UP_EVERY_S
            stats = await fire_due(db, cfg, now=clock.now(), worker=worker,
                                   max_batches=BATCHES_PER_ROUND, recent_only=not complete)
            busy = stats.batches >= BATCHES_PER_ROUND
            if complete and not busy:
                caught_up_at = time.monotonic()  # nothing older left behind
            if stats.fired or stats.cancelled:
                log.info("schedule fired", extra={"fired": stats.fired,
                                                  "cancelled": stats.cancelled,
                                                  "messages": stats.messages})
        except Exception:
            log.exception("schedule batch failed; retrying")
            busy = False
        if not busy:
            try:
                await asyncio.wait_for(stop.wait(), timeout=cfg.poll_s)
            except TimeoutError:
                pass
