"""Injected time, so deadlines, reminders and escalations are testable without sleeping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current time, timezone-aware UTC."""
        ...


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)


class FakeClock:
    """A clock tests move by hand."""

    def __init__(self, start: datetime | None = None) -> None:
        self._now = start or datetime(2026, 11, 27, 1, 0, tzinfo=UTC)

    def now(self) -> datetime:
        return self._now

    def set(self, when: datetime) -> None:
        self._now = when

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        self._now += delta if delta is not None else timedelta(**kwargs)
        return self._now


class OffsetClock:
    """The system clock shifted by a fixed offset: a stepped server clock in drills and tests
    that span processes (a FakeClock cannot cross a process boundary); `CLOCK_OFFSET_S`."""

    def __init__(self, offset: timedelta) -> None:
        self.offset = offset

    def now(self) -> datetime:
        return datetime.now(UTC) + self.offset


def clock_for(offset_s: float) -> Clock:
    """The process clock: the system clock, or an `OffsetClock` when an offset is configured."""
    return OffsetClock(timedelta(seconds=offset_s)) if offset_s else SystemClock()
