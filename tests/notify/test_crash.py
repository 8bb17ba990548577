"""Crash safety: a worker SIGKILLed while draining 1,000 messages loses none after restart."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from gridlink.clock import SystemClock
from gridlink.db import Database
from gridlink.settings import PROJECT_ROOT, Settings
from notify import repository as repo
from tests.sandbox.conftest import RunningSandbox

pytestmark = pytest.mark.slow

CHATS = list(range(7000, 7100))
PER_CHAT = 10


def start_worker(settings: Settings, sandbox: RunningSandbox, log: Path) -> subprocess.Popen[bytes]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "MONGODB_URI": settings.mongodb_uri or "", "MONGODB_DB": settings.mongodb_db,
        "TELEGRAM_API_URL": sandbox.url, "DATA_DIR": str(settings.data_dir),
        "NOTIFY_RATE_PER_S": "1000", "NOTIFY_CHAT_INTERVAL_S": "0", "NOTIFY_POLL_S": "0.1",
        "NOTIFY_LEASE_S": "2", "NOTIFY_LEADER_TTL_S": "1.5", "NOTIFY_CONCURRENCY": "8",
    }
    with open(log, "ab") as out:
        return subprocess.Popen([sys.executable, "-m", "gridlink.cli", "worker"], env=env,
                                cwd=PROJECT_ROOT, stdout=out, stderr=out)


async def sent_total(sandbox: RunningSandbox) -> int:
    return sum(sandbox.state.stats.sent_per_chat.values())


async def wait_for(predicate: object, limit_s: float, what: str) -> None:
    started = time.monotonic()
    while not await predicate():  # type: ignore[operator]
        assert time.monotonic() - started < limit_s, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


async def test_sigkilled_worker_loses_nothing_and_duplicates_at_most_in_flight(
        db: Database, settings: Settings, sandbox: RunningSandbox, tmp_path: Path) -> None:
    now = SystemClock().now()
    for chat in CHATS:
        sandbox.state.create_user(first_name=f"u{chat}", id=chat)
    await repo.enqueue(db, messages=[
        repo.new_message(msg_id=f"crash:{chat}:{k}", chat_id=chat, text=f"m{chat}-{k}",
                         kind="test", now=now, locale="zh-CN")
        for k in range(PER_CHAT) for chat in CHATS])
    total = len(CHATS) * PER_CHAT
    log = tmp_path / "worker.log"

    first = start_worker(settings, sandbox, log)
    try:
        await wait_for(lambda: _at_least(sandbox, 300), 60, "300 messages sent")
    except AssertionError:
        raise AssertionError(log.read_text()[-4000:]) from None
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    in_flight = await repo.count_messages(db, query={"state": "sending"})
    sent_at_kill = await sent_total(sandbox)
    assert sent_at_kill < total, "the worker finished before the kill; nothing was tested"

    # Two workers together finish the job: one leads, the other stands by.
    workers = [start_worker(settings, sandbox, log) for _ in range(2)]
    try:
        await wait_for(lambda: _drained(db), 90, "the outbox to drain")
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            w.wait(20)
    assert all(w.returncode == 0 for w in workers), log.read_text()[-3000:]

    seen: Counter[str] = Counter()
    for chat in CHATS:
        for msg in sandbox.state.chats[chat].messages.values():
            seen[msg["text"]] += 1
    expected = {f"m{chat}-{k}" for chat in CHATS for k in range(PER_CHAT)}
    assert set(seen) == expected  # none lost
    duplicates = sum(n - 1 for n in seen.values())
    assert duplicates <= in_flight, (duplicates, in_flight)
    assert await repo.count_messages(db, query={"state": "sent"}) == total
    # Per chat, the order of queueing is the order of delivery (apart from a re-sent one).
    for chat in CHATS[:5]:
        texts = [m["text"] for m in sandbox.state.chats[chat].messages.values()]
        firsts = list(dict.fromkeys(texts))
        assert firsts == sorted(firsts, key=lambda t: int(t.rsplit("-", 1)[1]))


async def _at_least(sandbox: RunningSandbox, n: int) -> bool:
    return await sent_total(sandbox) >= n


async def _drained(db: Database) -> bool:
    return not await repo.count_messages(db, query={"state": {"$in": ["queued", "retry", "sending"]}})
