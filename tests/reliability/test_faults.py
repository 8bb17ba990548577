"""Faults on the running system: SIGKILL of web and worker mid-flow, the Bot API failing (500,
429 retry_after, hanging), the database server stopped for 30 s under load, the server clock
stepped forward and back. Nothing acknowledged is lost, nothing is done twice that must not be."""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gridlink.i18n import t
from tests.reliability.cluster import SECRET, Cluster, Proc, cluster, text_update
from tests.reliability.test_processes import BODY, leader_messages, wait_for

pytestmark = pytest.mark.slow


class Intake:
    """Clients behind a load balancer: a report goes to one web; on a broken connection or a
    5xx the client retries it (same Idempotency-Key) on the next web until acknowledged."""

    def __init__(self, c: Cluster) -> None:
        self.c = c
        self.acked: dict[str, str] = {}  # key → serial
        self.outage_answers: list[tuple[int, float, Any]] = []

    async def send(self, key: str, *, first: int = 0, give_up_s: float = 90.0) -> str:
        started = time.monotonic()
        attempt = first
        while True:
            web = self.c.webs[attempt % len(self.c.webs)]
            attempt += 1
            t0 = time.monotonic()
            try:
                status, body = await self.c.post(web, "/api/v1/cases", {**BODY, "description": key},
                                                 headers={"Idempotency-Key": key}, limit_s=15)
            except (TimeoutError, aiohttp.ClientError):
                status, body = 0, None
            if status in (200, 201):
                self.acked[key] = body["case"]["serial"]
                return str(body["case"]["serial"])
            if status >= 500:
                self.outage_answers.append((status, time.monotonic() - t0, body))
            assert status in (0, 503), (status, body)
            assert time.monotonic() - started < give_up_s, f"{key} never acknowledged"
            await asyncio.sleep(0.3)


async def restart(c: Cluster, proc: Proc) -> None:
    proc.start()
    if proc.kind == "web":
        await c.wait_web(proc)


async def assert_cases_whole(c: Cluster, keys: list[str]) -> None:
    """One case per key, each complete: its serial, its history, its intake event."""
    cases = await c.db.cases.find({"description": {"$in": keys}}).to_list(None)
    assert Counter(x["description"] for x in cases) == Counter(set(keys)), "lost or doubled cases"
    events = {e["case_id"] for e in await c.db.events.find({"type": "case.reported"}).to_list(None)}
    for case in cases:
        assert case["serial"] and case["state"] in ("reported", "dispatched") and case["history"], case
        assert case["_id"] in events, f"{case['serial']} has no case.reported event"


async def test_sigkill_bot_api_faults_and_clock_steps(tmp_path: Path) -> None:
    async with cluster(tmp_path, webs=2, workers=2) as c:
        intake = Intake(c)
        leader_chat = int(c.tokens["leader_chat"])
        # --- SIGKILL web0 and worker0 mid-flow, restart them ---------------------------------
        keys = [f"kill-{i}" for i in range(12)]
        gate = asyncio.Semaphore(4)

        async def one(i: int) -> str:
            async with gate:
                serial = await intake.send(keys[i], first=i)
            status, _ = await c.post(c.webs[1], f"/api/v1/cases/{serial}/dispatch",
                                     {"unit": "310101001001001"})
            assert status in (200, 409)
            return serial

        load = asyncio.gather(*(one(i) for i in range(len(keys))))
        await wait_for(lambda: _n_acked(intake, 4), 60, "the first reports")
        c.webs[0].kill(signal.SIGKILL)
        c.workers[0].kill(signal.SIGKILL)
        await asyncio.sleep(1.0)
        await asyncio.gather(restart(c, c.webs[0]), restart(c, c.workers[0]))
        serials = await load
        await assert_cases_whole(c, keys)

        async def assigned() -> bool:
            got = await leader_messages(c)
            return all(got[("New assignment", s)] >= 1 for s in serials)

        await wait_for(assigned, 60, "every assignment after the restart")
        got = await leader_messages(c)
        # At-least-once across a crash: a message in flight when the worker died may go twice.
        assert sum(got[("New assignment", s)] - 1 for s in serials) <= 8

        # --- the Bot API fails: 500s, 429 with retry_after, a hanging call -----------------------
        await c.sb.client.inject_fault("error", count=3, methods=["sendMessage"])
        await c.sb.client.inject_fault("429", count=2, methods=["sendMessage"], retry_after=1)
        await c.sb.client.inject_fault("hang", count=1, methods=["sendMessage"], seconds=6)
        keys2 = [f"fault-{i}" for i in range(4)]
        serials2 = [await intake.send(k) for k in keys2]
        for s in serials2:
            assert (await c.post(c.webs[0], f"/api/v1/cases/{s}/dispatch", {"unit": "310101001001001"}))[0] == 200

        async def assigned2() -> bool:
            got = await leader_messages(c)
            return all(got[("New assignment", s)] >= 1 for s in serials2)

        await wait_for(assigned2, 90, "assignments despite the Bot API faults")
        stats = await c.sb.client.stats()
        assert stats["injected"].get("error", 0) == 3 and stats["injected"].get("429", 0) == 2
        # Retries are bounded: nothing went past NOTIFY_MAX_ATTEMPTS, nothing is dead-lettered.
        async with c.http.get(c.webs[0].url + "/api/v1/ops/outbox/dead",  # type: ignore[union-attr]
                              headers=c.bearer("admin")) as resp:
            dead = await resp.json()
        assert resp.status == 200 and not dead.get("items"), dead
        got = await leader_messages(c)
        # A hung call the sender gave up on was still sent by "Telegram": at most one extra.
        assert sum(got[("New assignment", s)] for s in serials2) <= len(serials2) + 1
        assert all(p.alive for p in c.webs + c.workers)

        # --- the server clock steps (CLOCK_OFFSET_S on the restarted worker) --------------------
        for w in c.workers:
            w.stop()
        now = datetime.now(UTC)
        deadline = now + timedelta(hours=2)  # reminder due at 1.5 h (75 %), red at 2 h
        (serial,) = [await intake.send("clock-0")]
        status, _ = await c.post(c.webs[0], f"/api/v1/cases/{serial}/dispatch",
                                 {"unit": "310101001001001", "deadline": deadline.isoformat()})
        assert status == 200
        stored = await c.db.cases.find_one({"serial": serial})
        assert stored is not None and stored["deadline"] == deadline.replace(microsecond=deadline.microsecond // 1000 * 1000)

        async def step_worker(offset_s: float, expect: tuple[int, int]) -> None:
            """A worker whose clock is `offset_s` ahead; wait for `expect` (reminders, reds)."""
            proc = c.add_worker(CLOCK_OFFSET_S=str(offset_s))
            proc.start()

            async def seen() -> bool:
                got = await leader_messages(c)
                return (got[("Due soon", serial)], got[("Overdue · red", serial)]) == expect

            async def settled() -> bool:  # it has run a schedule pass: it logs its heartbeat
                return await c.db.workers.count_documents({}) >= len(c.workers) or await seen()

            await wait_for(seen, 60, f"{expect} at offset {offset_s}")
            await wait_for(settled, 60, "the worker's first pass")
            await asyncio.sleep(3)  # time for a wrong extra message to show
            proc.stop()
            got = await leader_messages(c)
            assert (got[("Due soon", serial)], got[("Overdue · red", serial)]) == expect

        await step_worker(5400 + 30, (1, 0))  # forward past the reminder, before the deadline
        await step_worker(-3600, (1, 0))  # stepped back: nothing fires again, the deadline stands
        assert (await c.db.cases.find_one({"serial": serial}))["deadline"] == stored["deadline"]
        await step_worker(7200 + 30, (1, 1))  # forward past the deadline: red once
        assert leader_chat  # the leader's chat got them all


def _n_acked(intake: Intake, n: int) -> Any:
    async def check() -> bool:
        return len(intake.acked) >= n
    return check()


async def test_database_outage_of_30_s_under_load(tmp_path: Path) -> None:
    async with cluster(tmp_path, webs=2, workers=1) as c:
        intake = Intake(c)
        citizen = await c.sb.client.create_user("Outage", language_code="en")
        keys = [f"out-{i}" for i in range(30)]
        stop_load = asyncio.Event()

        async def steady() -> None:
            for i, key in enumerate(keys):
                await intake.send(key, first=i)
                if stop_load.is_set():
                    return
                await asyncio.sleep(0.4)

        load = asyncio.create_task(steady())
        await wait_for(lambda: _n_acked(intake, 3), 60, "reports before the outage")
        await asyncio.to_thread(c.server.stop)
        down_at = time.monotonic()
        acked_before = dict(intake.acked)
        # The webhook refuses while the database is away, so Telegram (the sandbox) redelivers.
        status, body = await c.webhook(c.webs[0], text_update(880_001, citizen, "/help", 1))
        assert status == 503 and body["error"]["code"] == "database_unavailable"
        msg = await c.sb.client.send_text(citizen["id"], "/help")
        # Health and reads answer 503 JSON promptly as well.
        for web in c.webs:
            t0 = time.monotonic()
            async with c.http.get(web.url + "/api/v1/cases", headers=c.bearer("admin")) as resp:  # type: ignore[union-attr]
                assert resp.status == 503 and (await resp.json())["error"]["message"]
            assert time.monotonic() - t0 < 12
        await asyncio.sleep(max(0.0, 30 - (time.monotonic() - down_at)))
        assert intake.outage_answers, "no request reached a web during the outage"
        for status, took, body in intake.outage_answers:
            assert status == 503 and body["error"]["code"] == "database_unavailable", body
            # connectTimeoutMS/serverSelectionTimeoutMS = 1.5 s; socket timeout ≥ 10 s: no hang past it
            assert took < 12, took
        c.server = type(c.server)(c.server.data_dir, port=c.server.port)
        await asyncio.to_thread(c.server.start)
        stop_load.set()
        await asyncio.wait_for(load, 120)
        # Every report acknowledged before, during or after is there, exactly once.
        await assert_cases_whole(c, list(intake.acked))
        assert set(acked_before) <= set(intake.acked)
        # The redelivered update is answered once the database is back.
        reply = await c.sb.client.wait_message(citizen["id"], after=int(msg["message_id"]), timeout=60)
        assert reply["text"] == t("help.citizen", "en")
        assert all(p.alive for p in c.webs + c.workers)
        assert SECRET not in c.logs()
