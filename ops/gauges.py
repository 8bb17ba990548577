"""The packages' gauges that /metrics reads when Prometheus scrapes (gridlink.metrics): the
outbox, the schedule, the statistics folder and the open cases by colour per street. Indexed
lookups only: no scan of cases or of sent messages. Registered by `gridlink.app.wire_domains`."""

from __future__ import annotations

import time
from datetime import timedelta

from prometheus_client.core import Metric

from gridlink.clock import Clock
from gridlink.db import Database
from gridlink.metrics import gauge, read_with
from gridlink.settings import Settings
from notify.repository import outbox_shards
from stats import board
from stats import repository as stats_repo
from stats.facts import DISTRICT_GROUP

OUTBOX_DEPTH_STATES = ("queued", "sending", "retry", "dead")  # sent ones are pruned, not depth
OVERDUE_AFTER = timedelta(minutes=5)


async def outbox(db: Database, clock: Clock, settings: Settings) -> list[Metric]:
    """Depth by state and the oldest waiting message (the shards' `state` index)."""
    now = clock.now()
    depth = gauge("gridlink_outbox_messages", "Outbox messages by state (sent ones excluded)", labels=["state"])
    counts = dict.fromkeys(OUTBOX_DEPTH_STATES, 0)
    oldest = None
    for shard in outbox_shards(db):
        for state in OUTBOX_DEPTH_STATES:
            counts[state] += await shard.count_documents({"state": state})
        for state in ("queued", "retry"):
            first = await shard.find_one({"state": state}, {"created_at": 1}, sort=[("created_at", 1)])
            if first is not None and (oldest is None or first["created_at"] < oldest):
                oldest = first["created_at"]
    for state, n in counts.items():
        depth.add_metric([state], n)
    age = max((now - oldest).total_seconds(), 0.0) if oldest is not None else 0.0
    return [depth,
            gauge("gridlink_outbox_oldest_queued_age_seconds", "Age of the oldest message waiting to be sent", age),
            gauge("gridlink_outbox_dead_letters", "Dead-lettered messages kept in the outbox", counts["dead"])]


async def schedule(db: Database, clock: Clock, settings: Settings) -> list[Metric]:
    """Reminder/escalation jobs due and not fired (the `state, due_at` index)."""
    now = clock.now()
    due = await db.schedule.count_documents({"state": "pending", "due_at": {"$lte": now}})
    overdue = await db.schedule.count_documents({"state": "pending", "due_at": {"$lte": now - OVERDUE_AFTER}})
    return [gauge("gridlink_schedule_jobs_due", "Reminder/escalation jobs due and not yet fired", due),
            gauge("gridlink_schedule_jobs_overdue",
                  f"Jobs due more than {int(OVERDUE_AFTER.total_seconds())} s ago and not yet fired", overdue)]


async def statistics(db: Database, clock: Clock, settings: Settings) -> list[Metric]:
    """The folder's lag (its own mark and the change log's seconds after it) and open cases by
    colour per street (the district board's group document: one lookup, however many cases)."""
    wall = time.time()
    _, folded_at, waiting = await stats_repo.log_state(db, count=1000, wall=wall)
    out: list[Metric] = [gauge("gridlink_stats_pending_changes",
                               "Case changes logged and not yet folded into the statistics (capped at 1000)",
                               waiting)]
    if folded_at is not None:
        out.append(gauge("gridlink_stats_seconds_since_fold", "Seconds since the statistics were last folded",
                         max(wall - folded_at, 0.0)))
    group = "g|" + DISTRICT_GROUP
    docs = await stats_repo.stats_docs(db, ids=[group])
    colours = gauge("gridlink_open_cases", "Open cases by colour per street (from the district board)",
                    labels=["street", "colour"])
    if group in docs:
        sums = {k: s for k, s in stats_repo.group_summaries(docs[group]).items() if k.startswith("st:")}
        stale = [k for k, s in sums.items() if not board.valid(s, wall)]
        times = await stats_repo.times(db, ids=stale) if stale else {}
        for list_id, summary in sorted(sums.items()):
            counts = board.from_summary(summary, wall, settings.tz, times.get(list_id))
            for colour in ("red", "yellow", "blue"):
                colours.add_metric([list_id[3:], colour], counts[colour])
    out.append(colours)
    return out


def register() -> None:
    for reader in (outbox, schedule, statistics):
        read_with(reader)
