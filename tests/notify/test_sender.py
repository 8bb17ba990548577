"""The sender against the Bot API sandbox, through the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import itertools
import time
from typing import Any

import pytest

from gridlink.buttons import assignment_markup
from gridlink.clock import SystemClock
from gridlink.db import Database, Document
from gridlink.settings import Settings
from notify import repository as repo
from notify.sender import Sender
from tests.notify.conftest import BLOCK, LEADER, STREET_DISPATCHER
from tests.sandbox.conftest import RunningSandbox, running_sandbox

PENDING = {"state": {"$in": ["queued", "retry", "sending"]}}


def make_sender(db: Database, settings: Settings, sandbox: RunningSandbox, worker: str = "w1",
                **overrides: Any) -> Sender:
    knobs: dict[str, Any] = {"telegram_api_url": sandbox.url, "notify_backoff_s": 0.05,
                             "notify_poll_s": 0.05, "notify_chat_interval_s": 0.05,
                             "notify_leader_ttl_s": 2.0, **overrides}
    return Sender(db, settings.model_copy(update=knobs), clock=SystemClock(), worker=worker)


async def run_until_drained(db: Database, *senders: Sender, limit_s: float = 30) -> None:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(s.run(stop)) for s in senders]
    started = time.monotonic()
    try:
        while await repo.count_messages(db, query=PENDING):
            assert time.monotonic() - started < limit_s, "outbox did not drain"
            assert not any(t.done() for t in tasks), [t.exception() for t in tasks if t.done()]
            await asyncio.sleep(0.05)
    finally:
        stop.set()
        await asyncio.gather(*tasks)


async def queue(db: Database, chat_id: int, text: str, **kw: Any) -> Document:
    msg = repo.new_message(msg_id=f"t:{text}:{chat_id}", chat_id=chat_id, text=text, kind="test",
                           now=SystemClock().now(), locale="zh-CN", **kw)
    await repo.enqueue(db, messages=[msg])
    return msg


def texts(sandbox: RunningSandbox, chat_id: int) -> list[str]:
    chat = sandbox.state.chats[chat_id]
    return [m.get("text") or m.get("caption") or "" for m in chat.messages.values()]


def users(sandbox: RunningSandbox, *ids: int) -> None:
    for user_id in ids:
        sandbox.state.create_user(first_name=f"u{user_id}", id=user_id)


async def test_delivers_with_buttons_and_records_the_rating_prompt(
        district: Database, settings: Settings, sandbox: RunningSandbox) -> None:
    db = district
    users(sandbox, LEADER, 2001)
    await queue(db, LEADER, "assignment", reply_markup=assignment_markup("c1", 3, "zh-CN"),
                recipient={"chat_id": LEADER, "unit": BLOCK})
    await queue(db, 2001, "please rate", on_sent={"rating_prompt": "c1"})
    await run_until_drained(db, make_sender(db, settings, sandbox))

    assert texts(sandbox, LEADER) == ["assignment"]
    [sent] = sandbox.state.chats[LEADER].messages.values()
    buttons = [b["callback_data"] for row in sent["reply_markup"]["inline_keyboard"] for b in row]
    assert buttons == ["c:accept:c1:3", "c:return:c1:3", "c:extend:c1:3", "c:done:c1:3"]
    [rate] = sandbox.state.chats[2001].messages.values()
    prompt = await db.rating_prompts.find_one({"chat_id": 2001})
    assert prompt is not None and prompt["message_id"] == rate["message_id"]
    assert prompt["case_id"] == "c1"
    stats = await repo.outbox_stats(db, now=SystemClock().now())
    assert stats["sent"] == 2 and stats["queued"] == stats["dead"] == 0


async def test_backs_off_on_server_errors_then_delivers(
        district: Database, settings: Settings, sandbox: RunningSandbox) -> None:
    db = district
    users(sandbox, LEADER)
    await sandbox.client.inject_fault("error", count=2, status=500, methods=["sendMessage"])
    await queue(db, LEADER, "after two 500s")
    started = time.monotonic()
    await run_until_drained(db, make_sender(db, settings, sandbox, notify_backoff_s=0.3))
    elapsed = time.monotonic() - started
    [doc] = await repo.find_messages(db, query={})
    assert doc is not None and doc["state"] == "sent" and doc["attempts"] == 2
    assert "500" in doc["error"] or "Internal" in doc["error"]
    assert texts(sandbox, LEADER) == ["after two 500s"]
    assert elapsed >= 0.3 + 0.6  # backoff 0.3 s, then 0.6 s


async def test_honours_retry_after_of_a_429(
        district: Database, settings: Settings, sandbox: RunningSandbox) -> None:
    db = district
    users(sandbox, LEADER)
    await sandbox.client.inject_fault("429", count=1, retry_after=1, methods=["sendMessage"])
    await queue(db, LEADER, "throttled once")
    started = time.monotonic()
    await run_until_drained(db, make_sender(db, settings, sandbox))
    assert time.monotonic() - started >= 1.0
    [doc] = await repo.find_messages(db, query={})
    assert doc is not None and doc["state"] == "sent"
    assert doc["attempts"] == 0 and doc["throttled"] == 1  # a 429 is not a failed attempt
    assert texts(sandbox, LEADER) == ["throttled once"]


async def test_blocked_user_is_marked_unreachable_and_the_center_is_told(
        district: Database, settings: Settings, sandbox: RunningSandbox) -> None:
    db = district
    users(sandbox, LEADER, STREET_DISPATCHER)
    sandbox.state.set_blocked(LEADER, True)
    await queue(db, LEADER, "new assignment A1",
                recipient={"chat_id": LEADER, "unit": BLOCK, "name": "Leader Li"})
    await run_until_drained(db, make_sender(db, settings, sandbox))

    dead = await repo.get_message(db, msg_id=f"t:new assignment A1:{LEADER}", chat_id=LEADER)
    assert dead is not None and dead["state"] == "dead" and "blocked" in dead["error"]
    member = await db.roster.find_one({"chat_id": LEADER})
    assert member is not None and member["unreachable"] is True
    [told] = texts(sandbox, STREET_DISPATCHER)
    assert "Leader Li" in told and "new assignment A1" in told
    # Unreachable members are skipped from now on.
    assert await repo.reachable_members(db, unit=BLOCK, roles=["leader"]) == []


async def test_unknown_chat_is_unreachable_too(
        district: Database, settings: Settings, sandbox: RunningSandbox) -> None:
    db = district
    users(sandbox, STREET_DISPATCHER)  # LEADER has no chat with the bot at all
    await queue(db, LEADER, "to nowhere", recipient={"chat_id": LEADER, "unit": BLOCK})
    await run_until_drained(db, make_sender(db, settings, sandbox))
    dead = await repo.get_message(db, msg_id=f"t:to nowhere:{LEADER}", chat_id=LEADER)
    assert dead is not None and dead["state"] == "dead" and "chat not found" in dead["error"].lower()
    assert (await db.roster.find_one({"chat_id": LEADER}) or {}).get("unreachable") is True
    assert len(texts(sandbox, STREET_DISPATCHER)) == 1


async def test_dead_letter_after_max_attempts(
        district: Database, settings: Settings, sandbox: RunningSandbox) -> None:
    db = district
    users(sandbox, LEADER)
    await sandbox.client.inject_fault("error", count=10, status=502, methods=["sendMessage"])
    await queue(db, LEADER, "never")
    await run_until_drained(db, make_sender(db, settings, sandbox, notify_max_attempts=3))
    [doc] = await repo.find_messages(db, query={})
    assert doc is not None and doc["state"] == "dead" and doc["attempts"] == 3
    assert texts(sandbox, LEADER) == []
    assert [d["_id"] for d in await repo.dead_letters(db, limit=10, after=None)] == [doc["_id"]]


async def test_two_senders_one_leader_each_message_once(
        district: Database, settings: Settings, sandbox: RunningSandbox) -> None:
    db = district
    chats = list(range(5000, 5040))
    users(sandbox, *chats)
    for chat in chats:
        await queue(db, chat, f"m{chat}")
    a, b = make_sender(db, settings, sandbox, "a"), make_sender(db, settings, sandbox, "b")
    await run_until_drained(db, a, b)
    assert all(texts(sandbox, chat) == [f"m{chat}"] for chat in chats)
    assert {a.sent, b.sent} == {0, 40}
    assert len({d["claimed_by"] for d in await repo.find_messages(db, query={})}) == 1


@pytest.fixture
async def limited_sandbox() -> Any:
    async with running_sandbox(rate_limits=True) as running:
        yield running


async def test_shaping_keeps_under_the_sandbox_limits(
        district: Database, settings: Settings, limited_sandbox: RunningSandbox) -> None:
    """Six messages for one chat and 40 for others: per-chat pacing, no 429 at all."""
    db = district
    sandbox = limited_sandbox
    chats = list(range(6000, 6040))
    users(sandbox, LEADER, *chats)
    for i in range(6):
        await queue(db, LEADER, f"burst {i}")
    for chat in chats:
        await queue(db, chat, f"m{chat}")
    sender = make_sender(db, settings, sandbox, notify_chat_interval_s=1.05)
    await run_until_drained(db, sender)
    stats = await sandbox.client.stats()
    assert stats["total_429"] == 0 and sender.throttled == 0
    assert texts(sandbox, LEADER) == [f"burst {i}" for i in range(6)]  # in order
    assert stats["sent_total"] == 46
    times = sorted(d["sent_at"] for d in await repo.find_messages(db, query={"chat_id": LEADER}))
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    # Paced at 1.05 s; `sent_at` is taken when the answer arrives, so a slow answer followed by
    # a quick one shortens a gap on a loaded machine. Unpaced, the gaps would be milliseconds.
    assert min(gaps) >= 0.7


async def test_outbox_route_counts_states(
        district: Database, client: Any, settings: Settings) -> None:
    from gridlink import auth

    db = district
    now = SystemClock().now()
    await queue(db, LEADER, "q1")
    await queue(db, LEADER, "q2")
    await repo.outbox_of(db, LEADER).update_one({"_id": f"t:q2:{LEADER}"},
                                                {"$set": {"state": "dead"}})
    resp = await client.get("/api/v1/ops/outbox")
    assert resp.status == 401
    token = await auth.create_token(db, role="dispatcher", unit="310101", district="310101",
                                    name="ops", now=now)
    resp = await client.get("/api/v1/ops/outbox", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 200
    body = await resp.json()
    assert body["queued"] == 1 and body["dead"] == 1 and body["sent"] == 0
    assert body["oldest_queued_age_s"] >= 0
    resp = await client.get("/api/v1/ops/outbox/dead",
                            headers={"Authorization": f"Bearer {token}"})
    # A dispatcher learns which message died, not the chat it was for (api/ops.py masks it).
    [item] = (await resp.json())["items"]
    assert item["id"].startswith("t:q2:") and item["id"] != f"t:q2:{LEADER}"
    assert item.get("chat_id") is None
    admin = await auth.create_token(db, role="admin", unit="310101", district="310101",
                                    name="admin", now=now)
    resp = await client.get("/api/v1/ops/outbox/dead", headers={"Authorization": f"Bearer {admin}"})
    assert [d["id"] for d in (await resp.json())["items"]] == [f"t:q2:{LEADER}"]
    resp = await client.get("/api/v1/ops/outbox/dead?limit=zero",
                            headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 400





async def test_sent_messages_are_pruned_after_the_keep_period(
        district: Database, settings: Settings) -> None:
    from datetime import timedelta

    from notify.config import NotifyConfig

    db = district
    now = SystemClock().now()
    keep = NotifyConfig.from_settings(settings.model_copy(
        update={"notify_outbox_keep_days": 7})).outbox_keep
    assert keep == timedelta(days=7)
    for text, state, sent_days_ago in (("old", "sent", 8), ("recent", "sent", 6),
                                       ("stuck", "retry", None), ("dead", "dead", None)):
        msg = await queue(db, LEADER, text)
        update: dict[str, Any] = {"state": state}
        if sent_days_ago is not None:
            update["sent_at"] = now - timedelta(days=sent_days_ago)
        await repo.outbox_of(db, LEADER).update_one({"_id": msg["_id"]}, {"$set": update})
    assert await repo.prune_sent(db, before=now - keep) == 1
    left = await repo.find_messages(db, query={"chat_id": LEADER})
    assert sorted(m["text"] for m in left) == ["dead", "recent", "stuck"]
