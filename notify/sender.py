"""Drains the outbox through the Bot API at Telegram's pace.

Shaping, not discovering limits by 429s: token buckets (aiolimiter) for the bot as a whole
(`NOTIFY_RATE_PER_S`, a small burst) and one per chat — a private chat every
`NOTIFY_CHAT_INTERVAL_S`, a group every `NOTIFY_GROUP_INTERVAL_S` (20/min). Messages wait in
per-chat FIFO queues and the next one sent is from the chat that has been ready longest, so
ten messages for one chat never hold up the other chats.

The buckets are in memory, so exactly one process sends per bot: the holder of the leader
lease `sender:<bot id>` in `notify_leases`. A new leader waits one chat interval before its
first message, so the old leader's last second cannot add up with its own.

Crash safety: a message is `sending` with a lease before the call and `sent` after it. A
worker killed between the two leaves `sending` with a lease that expires; the message is then
due again (duplicates are at most the messages in flight at the kill).

Outcomes: 429 → `retry` at `retry_after` and every send pauses for it (not an attempt);
network errors and 5xx → `retry` with exponential backoff up to `NOTIFY_MAX_ATTEMPTS`, then
`dead`; 403 / 400 chat not found → the roster marks the chat unreachable, the message is
`dead` and the unit's center is told instead; other 400s → `dead` (retrying cannot help).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import time
import warnings
from collections import deque
from datetime import datetime, timedelta
from typing import Any

from aiolimiter import AsyncLimiter
from telegram import Bot, InlineKeyboardMarkup, InputMediaPhoto
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
)
from telegram.request import HTTPXRequest
from telegram.warnings import PTBDeprecationWarning

from gridlink.clock import Clock
from gridlink.db import Database, Document
from gridlink.errors import DomainError
from gridlink.metrics import counted
from gridlink.settings import Settings
from media import service as media_service
from notify import render
from notify import repository as repo
from notify.config import NotifyConfig
from notify.recipients import Directory, Recipient
from notify.texts import unit_name

log = logging.getLogger(__name__)

# PTB 22 builds RetryAfter by reading its own deprecated int-valued `retry_after`, which warns
# on every 429; opting in to the coming timedelta behaviour silences that (both are handled).
os.environ.setdefault("PTB_TIMEDELTA", "1")

UNREACHABLE_400 = ("chat not found", "user not found", "peer_id_invalid", "chat_id is empty",
                   "have no rights to send", "group chat was upgraded")
MAX_BACKOFF_S = 600.0
WINDOW = 400  # messages held in memory, planned per chat


def make_bot(settings: Settings) -> Bot:
    """The real python-telegram-bot client, pointed at Telegram or the local sandbox."""
    api = settings.bot_api_url
    pool = settings.notify_concurrency + 2
    return Bot(settings.bot_token, base_url=f"{api}/bot", base_file_url=f"{api}/file/bot",
               request=counted(HTTPXRequest(connection_pool_size=pool, read_timeout=15,
                                    write_timeout=15, connect_timeout=5, pool_timeout=10)))


def lease_name(token: str) -> str:
    return "sender:" + hashlib.sha256(token.encode()).hexdigest()[:16]


def retry_after_s(exc: RetryAfter) -> float:
    with warnings.catch_warnings():
        # PTB 22 warns that the int becomes a timedelta; accept both.
        warnings.simplefilter("ignore", PTBDeprecationWarning)
        value = exc.retry_after
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)


class Sender:
    def __init__(self, db: Database, settings: Settings, *, clock: Clock, worker: str,
                 bot: Bot | None = None) -> None:
        self.db = db
        self.settings = settings
        self.cfg = NotifyConfig.from_settings(settings)
        self.clock = clock
        self.worker = worker
        self.bot = bot or make_bot(settings)
        self.lease_name = lease_name(settings.bot_token)
        self.lease_ttl = timedelta(seconds=settings.notify_leader_ttl_s)
        self.send_lease = timedelta(seconds=settings.notify_lease_s)
        rate = settings.notify_rate_per_s
        burst = max(1.0, min(3.0, rate / 10))
        self.global_limiter = AsyncLimiter(burst, burst / rate)
        self.chat_limiters: dict[int, AsyncLimiter] = {}
        self.queues: dict[int, deque[Document]] = {}
        self.order: deque[int] = deque()
        self.planned: set[str] = set()
        self.inflight_chats: set[int] = set()
        self.tasks: set[asyncio.Task[None]] = set()
        self.slots = asyncio.Semaphore(settings.notify_concurrency)
        self.leader_until: datetime | None = None
        self.renewed_at = 0.0
        self.paused_until = 0.0
        self.last_refill = -1e9
        self.woken = False  # messages were queued in this process since the last refill began
        self.refilling: asyncio.Task[int] | None = None
        self.sent = 0
        self.throttled = 0
        self.took_lead_at: datetime | None = None

    # ------------------------------------------------------------------ leadership

    async def _lead(self) -> bool:
        """Take or renew the leader lease when due; True while this process holds it."""
        mono = time.monotonic()
        if self.leader_until is None or mono - self.renewed_at >= self.lease_ttl.total_seconds() / 3:
            was_leader = self.leader_until is not None
            try:
                until = await repo.acquire_lease(self.db, name=self.lease_name, holder=self.worker,
                                                 now=self.clock.now(), ttl=self.lease_ttl)
            except Exception:
                log.exception("leader lease check failed")
                until = self.leader_until if self.leader_until and \
                    self.leader_until > self.clock.now() else None
            self.renewed_at = mono
            if until is not None and not was_leader:
                log.info("sender leading", extra={"worker": self.worker})
                self.took_lead_at = self.clock.now()
                # Let the previous leader's last per-chat sends age out.
                await asyncio.sleep(self.settings.notify_chat_interval_s)
            elif until is None and was_leader:
                log.warning("sender lost the lead", extra={"worker": self.worker})
                self._forget_plan()
            self.leader_until = until
        return self.leader_until is not None and self.leader_until > self.clock.now()

    def _forget_plan(self) -> None:
        self.queues.clear()
        self.order.clear()
        self.planned.clear()

    # ------------------------------------------------------------------ planning

    def _chat_limiter(self, chat_id: int) -> AsyncLimiter:
        limiter = self.chat_limiters.get(chat_id)
        if limiter is None:
            group = chat_id < 0
            period = (self.settings.notify_group_interval_s if group
                      else self.settings.notify_chat_interval_s)
            limiter = AsyncLimiter(1, max(period, 1e-3))
            if len(self.chat_limiters) > 50_000:
                # Forget idle chats; a full bucket is the same as a new one.
                for key in [k for k, v in self.chat_limiters.items() if v.has_capacity()]:
                    del self.chat_limiters[key]
            self.chat_limiters[chat_id] = limiter
        return limiter

    async def _refill(self) -> int:
        """Plan the next due messages (the ones already planned or in flight are skipped here
        rather than in the query: FerretDB evaluates a large `$nin` document by document)."""
        try:
            docs = await repo.due_messages(self.db, now=self.clock.now(), limit=WINDOW)
        finally:
            self.last_refill = time.monotonic()
        held = await self._held_by_predecessor()
        added = 0
        for doc in docs:
            if doc["_id"] in self.planned or len(self.planned) >= WINDOW:
                continue
            chat = int(doc["chat_id"])
            if chat in held:
                continue  # its in-flight message goes first, once its send lease runs out
            if chat not in self.queues:
                self.queues[chat] = deque()
                self.order.append(chat)
            self.queues[chat].append(doc)
            self.planned.add(doc["_id"])
            added += 1
        return added

    async def _held_by_predecessor(self) -> set[int]:
        """Chats with a message a previous leader was sending whose send lease has not run out:
        only possible within one send lease of taking the lead (otherwise none is read)."""
        now = self.clock.now()
        if self.took_lead_at is None or now > self.took_lead_at + self.send_lease:
            return set()
        sending = await repo.find_messages(self.db, query={"state": "sending"}, limit=WINDOW)
        return {int(d["chat_id"]) for d in sending if d["_id"] not in self.planned
                and d.get("lease_until") is not None and d["lease_until"] >= now}

    def _refill_soon(self) -> None:
        """Refill in the background, so sending goes on while the query runs."""
        if self.refilling is None or self.refilling.done():
            self.woken = False
            self.refilling = asyncio.create_task(self._refill())

    def wake(self) -> None:
        """The notifier in this process queued messages: plan them at the next turn, not at the
        next poll (an assignment reaches its chat within the poll interval less)."""
        self.woken = True

    def _next_ready(self) -> Document | None:
        """The head message of the first chat (in round-robin order) its bucket lets through."""
        for _ in range(len(self.order)):
            chat = self.order[0]
            self.order.rotate(-1)
            if chat in self.inflight_chats or not self._chat_limiter(chat).has_capacity():
                continue
            queue = self.queues[chat]
            doc = queue.popleft()
            if not queue:
                del self.queues[chat]
                self.order.remove(chat)
            return doc
        return None

    # ------------------------------------------------------------------ the loop

    async def run(self, stop: asyncio.Event) -> None:
        """Send while holding the lead; stand by otherwise. Returns when `stop` is set."""
        try:
            await self._initialize(stop)
            while not stop.is_set():
                try:
                    if not await self._lead():
                        await _wait(stop, self.lease_ttl.total_seconds() / 3)
                        continue
                    await self.pump_once()
                except Exception:
                    log.exception("sender loop failed; retrying")
                    await _wait(stop, 1.0)
            await self._drain_inflight()
        finally:
            if self.leader_until is not None:
                with contextlib.suppress(Exception):
                    await repo.release_lease(self.db, name=self.lease_name, holder=self.worker)
            with contextlib.suppress(Exception):
                await self.bot.shutdown()

    async def _initialize(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.bot.initialize()
                return
            except TelegramError as exc:
                log.warning("Bot API unavailable; retrying", extra={"error": str(exc)})
                await _wait(stop, 2.0)

    async def pump_once(self) -> bool:
        """Start at most one send; sleeps briefly when nothing is ready. True if it started one."""
        mono = time.monotonic()
        if mono < self.paused_until:
            await asyncio.sleep(min(self.paused_until - mono, 0.5))
            return False
        since = mono - self.last_refill
        if (not self.order and (since >= self.cfg.poll_s or self.woken)) or \
                (len(self.planned) < WINDOW // 2 and (since >= 1.0 or self.woken)):
            self._refill_soon()
        doc = self._next_ready()
        if doc is None:
            await asyncio.sleep(0.01 if self.order else min(self.cfg.poll_s, 0.05))
            return False
        chat = int(doc["chat_id"])
        self.inflight_chats.add(chat)
        try:
            await self.slots.acquire()
            await self.global_limiter.acquire()
            await self._chat_limiter(chat).acquire()
        except BaseException:
            self.inflight_chats.discard(chat)
            self.planned.discard(doc["_id"])
            self.slots.release()
            raise
        # The claim (a write) runs in the task too, so database latency overlaps across sends.
        task = asyncio.create_task(self._deliver(doc))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return True

    async def _drain_inflight(self) -> None:
        if self.refilling is not None:
            await asyncio.gather(self.refilling, return_exceptions=True)
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)

    # ------------------------------------------------------------------ one message

    async def _call(self, msg: Document) -> int:
        markup = msg.get("reply_markup")
        keyboard = InlineKeyboardMarkup.de_json(json.loads(markup), self.bot) if markup else None
        await self._preamble(msg)
        if msg.get("photo"):
            sent = await self.bot.send_photo(msg["chat_id"], msg["photo"], caption=msg["text"],
                                             reply_markup=keyboard)
        else:
            sent = await self.bot.send_message(msg["chat_id"], msg["text"], reply_markup=keyboard)
        return int(sent.message_id)

    async def _preamble(self, msg: Document) -> None:
        """What a case message shows before its text: the photos (an album when several) and
        the place as a pin; done once per message (`preamble_sent`), so a retry of the text
        does not repeat them. A photo that cannot be read is left out."""
        if msg.get("preamble_sent") or not (msg.get("album") or msg.get("venue")):
            return
        chat = msg["chat_id"]
        pictures: list[bytes] = []
        for photo_id in msg.get("album") or []:
            try:
                rendition = await media_service.rendition(self.db, photo_id=photo_id, size="web")
                pictures.append(await rendition.read(self.db))
            except DomainError:
                log.warning("album photo unreadable", extra={"photo_id": photo_id})
        if len(pictures) == 1:
            await self.bot.send_photo(chat, pictures[0])
        elif pictures:
            await self.bot.send_media_group(chat, [InputMediaPhoto(p) for p in pictures])
        venue = msg.get("venue")
        if venue:
            await self.bot.send_venue(chat, latitude=venue["lat"], longitude=venue["lon"],
                                      title=venue["title"], address=venue["address"])
        await repo.mark_preamble_sent(self.db, msg=msg)

    async def _deliver(self, doc: Document) -> None:
        chat = int(doc["chat_id"])
        try:
            if self.leader_until is None or self.leader_until <= self.clock.now():
                return  # lost the lead while waiting for a slot: the next leader sends it
            msg = await repo.claim_message(self.db, msg=doc, now=self.clock.now(),
                                           lease=self.send_lease, worker=self.worker)
            if msg is not None:
                await self.deliver(msg)
        except Exception:
            log.exception("delivery bookkeeping failed", extra={"outbox_id": doc["_id"]})
        finally:
            self.planned.discard(doc["_id"])
            self.inflight_chats.discard(chat)
            self.slots.release()

    async def deliver(self, msg: Document) -> str:
        """Send one claimed message and record the outcome; returns the new state."""
        try:
            message_id = await self._call(msg)
        except RetryAfter as exc:
            wait = retry_after_s(exc)
            self.throttled += 1
            self.paused_until = max(self.paused_until, time.monotonic() + wait)
            log.warning("429 from the Bot API", extra={"retry_after": wait, "chat": msg["chat_id"]})
            await repo.mark_retry(self.db, msg=msg, now=self.clock.now(),
                                  next_at=self.clock.now() + timedelta(seconds=wait),
                                  error=str(exc), count_attempt=False)
            return "retry"
        except Forbidden as exc:
            await self._unreachable(msg, str(exc))
            return "dead"
        except BadRequest as exc:
            if any(s in str(exc).lower() for s in UNREACHABLE_400):
                await self._unreachable(msg, str(exc))
            else:
                await repo.mark_dead(self.db, msg=msg, now=self.clock.now(), error=str(exc))
            return "dead"
        except ChatMigrated as exc:
            await repo.mark_dead(self.db, msg=msg, now=self.clock.now(), error=str(exc))
            return "dead"
        except (NetworkError, InvalidToken, TelegramError, OSError) as exc:
            return await self._failed(msg, f"{type(exc).__name__}: {exc}")
        now = self.clock.now()
        await repo.mark_sent(self.db, msg=msg, now=now, message_id=message_id)
        self.sent += 1
        case_id = (msg.get("on_sent") or {}).get("rating_prompt")
        if case_id:
            await repo.record_rating_prompt(self.db, chat_id=int(msg["chat_id"]),
                                       message_id=message_id, case_id=case_id, now=now)
        return "sent"

    async def _failed(self, msg: Document, error: str) -> str:
        now = self.clock.now()
        attempts = int(msg.get("attempts") or 0) + 1
        if attempts >= self.settings.notify_max_attempts:
            log.error("message dead after retries", extra={"outbox_id": msg["_id"], "error": error})
            await repo.mark_dead(self.db, msg=msg, now=now, error=error)
            return "dead"
        delay = min(self.settings.notify_backoff_s * 2 ** (attempts - 1), MAX_BACKOFF_S)
        await repo.mark_retry(self.db, msg=msg, now=now, next_at=now + timedelta(seconds=delay),
                              error=error, count_attempt=True)
        return "retry"

    async def _unreachable(self, msg: Document, error: str) -> None:
        """The chat refuses us: flag it in the roster, tell the unit's center, dead-letter.

        The center's message is queued before this one is marked dead, so the outbox is
        never seen drained while the replacement is still missing."""
        now = self.clock.now()
        members = await repo.mark_unreachable(self.db, chat_id=int(msg["chat_id"]),
                                              reason=error, now=now)
        log.warning("chat unreachable", extra={"chat": msg["chat_id"], "error": error})
        unit_code = (msg.get("recipient") or {}).get("unit") or next(
            (m.get("unit") for m in members if m.get("unit")), None)
        if unit_code and msg.get("kind") != "undeliverable":
            directory = Directory(self.db, district=self.cfg.district)
            unit = await directory.unit(unit_code)
            name = str((msg.get("recipient") or {}).get("name") or "")
            center = [r for r in await directory.center(unit=unit_code)
                      if r.chat_id != int(msg["chat_id"])]
            await repo.enqueue(self.db, messages=[
                self._undeliverable(msg, r, unit, unit_code, name, error, now) for r in center])
        # A citizen has no unit: nobody to tell instead.
        await repo.mark_dead(self.db, msg=msg, now=now, error=error)

    def _undeliverable(self, msg: Document, recipient: Recipient, unit: Document | None,
                       unit_code: str, name: str, error: str, now: datetime) -> Document:
        locale = recipient.locale or self.cfg.default_locale
        kw: dict[str, Any] = {"name": name or str(msg["chat_id"]),
                              "unit": unit_name(unit, locale, unit_code),
                              "reason": error, "text": msg["text"]}
        return render.message(source=f"{msg['_id']}:undeliverable", recipient=recipient,
                              key="notify.undeliverable", kw=kw, kind="undeliverable", now=now,
                              cfg=self.cfg, case_id=msg.get("case_id"))


async def _wait(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    except TimeoutError:
        pass
