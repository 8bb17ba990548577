"""Telegram's published sending limits as token buckets: per bot, per private chat, per group."""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field


@dataclass
class Limits:
    """Rates and bursts. Defaults follow Telegram's FAQ: ~30 messages/s overall, 1/s per private
    chat (a short burst tolerated), 20/min per group."""

    global_per_s: float = 30.0
    global_burst: float = 30.0
    private_per_s: float = 1.0
    private_burst: float = 3.0
    group_per_min: float = 20.0
    group_burst: float = 20.0

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


@dataclass
class Bucket:
    rate: float  # tokens per second
    capacity: float
    tokens: float
    updated: float

    def refill(self, now: float) -> None:
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    def wait(self, now: float) -> float:
        """Seconds until one token is there (0 when one is there now)."""
        self.refill(now)
        return 0.0 if self.tokens >= 1 else (1 - self.tokens) / self.rate


@dataclass
class RateLimiter:
    limits: Limits = field(default_factory=Limits)
    _global: Bucket | None = None
    _chats: dict[int, Bucket] = field(default_factory=dict)

    def _bucket(self, chat_id: int, group: bool, now: float) -> Bucket:
        bucket = self._chats.get(chat_id)
        if bucket is None:
            if group:
                rate, burst = self.limits.group_per_min / 60, self.limits.group_burst
            else:
                rate, burst = self.limits.private_per_s, self.limits.private_burst
            bucket = self._chats[chat_id] = Bucket(rate, burst, burst, now)
        return bucket

    def acquire(self, chat_id: int, *, group: bool, now: float) -> int | None:
        """Take one message's worth from the bot's and the chat's buckets and return None, or
        take nothing and return the whole seconds to wait (Telegram's `retry_after`)."""
        if self._global is None:
            burst = self.limits.global_burst
            self._global = Bucket(self.limits.global_per_s, burst, burst, now)
        chat = self._bucket(chat_id, group, now)
        wait = max(self._global.wait(now), chat.wait(now))
        if wait > 0:
            return max(1, math.ceil(wait))
        self._global.tokens -= 1
        chat.tokens -= 1
        return None

    def reset(self, limits: Limits | None = None) -> None:
        if limits is not None:
            self.limits = limits
        self._global = None
        self._chats.clear()
