"""The durable reminder and escalation schedule.

For a case under its handler's clock (dispatched, in progress) with a deadline:

| job | due | tells |
|---|---|---|
| `reminder:0` | dispatch + `NOTIFY_REMINDER_FRACTION` × limit (75 %) | the assignee unit |
| `red:0` | the deadline | the assignee unit (the case is red) |
| `escalation:N` | deadline + `NOTIFY_ESCALATION_HOURS[N-1]` | the N-th level above the assignee |

with the levels block leader → station head → street center → district center (a department
escalates straight to the district). Jobs live in the `schedule` collection keyed
`<case_id>:<kind>:<step>`, carry the deadline they were planned for (`deadline_version`) and
the case version that shaped them. An extension moves them, closing or merging cancels
them; firing re-reads the case and drops a job whose deadline is no longer the case's.
Due jobs are claimed a bounded batch at a time with a lease, so a crashed worker's claims go
to another worker after the lease, and a backlog of any size runs in constant memory.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from gridlink.clock import Clock
from gridlink.db import Database, Document
from gridlink.i18n import locale_for
from notify import digest, render
from notify import repository as repo
from notify.config import NotifyConfig
from notify.recipients import Directory

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class JobSpec:
    kind: str
    step: int
    due_at: datetime
    target: str | None = None

    def job_id(self, case_id: str) -> str:
        return f"{case_id}:{self.kind}:{self.step}"


def plan(case: Document, *, levels_above: list[str], cfg: NotifyConfig, now: datetime
         ) -> list[JobSpec]:
    """The jobs a case should have right now (none when it is not under a handler's clock)."""
    deadline = case.get("deadline")
    if case.get("state") not in repo.ACTIVE_STATES or deadline is None or not case.get("assignee"):
        return []
    start = case.get("dispatched_at") or case.get("created_at") or deadline
    jobs: list[JobSpec] = []
    if deadline > now and deadline > start:
        jobs.append(JobSpec("reminder", 0, start + (deadline - start) * cfg.reminder_fraction))
    jobs.append(JobSpec("red", 0, deadline))
    for step, (hours, target) in enumerate(zip(cfg.escalation_hours, levels_above, strict=False),
                                           start=1):
        jobs.append(JobSpec("escalation", step, deadline + timedelta(hours=hours), target))
    return jobs


async def sync_case(db: Database, cfg: NotifyConfig, directory: Directory, case: Document, *,
                    now: datetime, jobs: list[Document]) -> list[JobSpec]:
    """Make the case's jobs match the case as read: add, move, keep or cancel.

    `jobs` are the case's jobs as read (repo.jobs_by_case, for a whole batch of cases); only
    what differs is written; a job already shaped by a newer case version is left alone
    (events of one case may be processed out of order).
    """
    levels = await directory.escalation_targets(case) if case.get("assignee") else []
    specs = plan(case, levels_above=levels, cfg=cfg, now=now)
    version = int(case.get("version") or 0)
    existing = {j["_id"]: j for j in jobs}
    fresh: list[Document] = []
    for spec in specs:
        job_id = spec.job_id(case["_id"])
        job = existing.get(job_id)
        if job is None:
            fresh.append(repo.new_job(job_id=job_id, case_id=case["_id"], kind=spec.kind,
                                      step=spec.step, due_at=spec.due_at,
                                      deadline_version=case["deadline"], case_version=version,
                                      target=spec.target, now=now))
        elif job.get("case_version", 0) >= version:
            continue  # a newer (or the same) case version shaped it
        elif job.get("deadline_version") == case["deadline"] and job.get("state") != "cancelled":
            continue  # same deadline: keep its state, a fired reminder does not fire again
        else:
            await repo.sync_job(db, job_id=job_id, case_id=case["_id"], kind=spec.kind,
                                step=spec.step, due_at=spec.due_at,
                                deadline_version=case["deadline"], case_version=version,
                                target=spec.target, now=now)
    await repo.insert_jobs(db, jobs=fresh)
    wanted = {s.job_id(case["_id"]) for s in specs}
    stale = [j["_id"] for j in existing.values() if j["_id"] not in wanted
             and j.get("state") == "pending" and j.get("case_version", 0) < version]
    await repo.cancel_jobs(db, ids=stale, case_version=version, now=now)
    return specs


@dataclass
class FireStats:
    batches: int = 0
    fired: int = 0
    cancelled: int = 0
    messages: int = 0
    largest_batch: int = 0
    digests: int = 0


def _still_due(job: Document, case: Document | None) -> bool:
    return (case is not None and case.get("state") in repo.ACTIVE_STATES
            and case.get("deadline") == job.get("deadline_version"))


async def _messages_for(job: Document, case: Document, cfg: NotifyConfig, directory: Directory,
                        now: datetime) -> list[Document]:
    kind = job["kind"]
    if kind == "escalation":
        # Nobody bound at that level → the next level up, so the escalation reaches someone.
        recipients = await directory.first_with_members(await directory.chain(job.get("target")))
    else:
        recipients = await directory.assignee(case)
    key = {"reminder": "notify.reminder", "red": "notify.red",
           "escalation": "notify.escalation"}[kind]
    source = f"job:{job['_id']}@{int(job['deadline_version'].timestamp())}"
    out = []
    fields: dict[str, dict[str, Any]] = {}
    for recipient in recipients:
        locale = locale_for(recipient.locale, cfg.default_locale)
        if locale not in fields:
            fields[locale] = await render.fields(case, locale, cfg, directory)
        out.append(render.message(source=source, recipient=recipient, key=key,
                                  kw=fields[locale], kind=f"schedule.{kind}", now=now, cfg=cfg,
                                  case_id=case["_id"]))
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
    done, cancelled, messages = [], [], []
    for job in case_jobs:
        case = cases.get(job["case_id"])
        if case is None or not _still_due(job, case):
            cancelled.append(job)
            continue
        messages.extend(await _messages_for(job, case, cfg, directory, now))
        done.append(job)
    await repo.enqueue(db, messages=messages)
    await repo.finish_jobs(db, jobs=done, state="done", now=now)
    await repo.finish_jobs(db, jobs=cancelled, state="cancelled", now=now)
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
