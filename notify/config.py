"""The notify knobs, taken from settings once so the loops never read the environment."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import time, timedelta
from zoneinfo import ZoneInfo

from gridlink.settings import Settings


@dataclass(frozen=True)
class NotifyConfig:
    tz: ZoneInfo
    default_locale: str
    district: str
    reminder_fraction: float
    digest_time: time
    batch: int
    lease: timedelta
    poll_s: float
    outbox_keep: timedelta = timedelta(days=30)
    rating_code_key: str | None = None  # RATING_CODE_KEY; else the key stored on first start
    yellow_fraction: float = 0.25  # COLOUR_YELLOW_FRACTION, for a dispatch the worker makes

    @classmethod
    def from_settings(cls, settings: Settings) -> NotifyConfig:
        hour, minute = (int(p) for p in settings.notify_digest_time.split(":"))
        return cls(tz=settings.tz, default_locale=settings.default_locale,
                   district=settings.district_code,
                   reminder_fraction=settings.notify_reminder_fraction,
                   digest_time=time(hour, minute), batch=settings.notify_batch,
                   lease=timedelta(seconds=settings.notify_lease_s),
                   poll_s=settings.notify_poll_s,
                   outbox_keep=timedelta(days=settings.notify_outbox_keep_days),
                   rating_code_key=settings.rating_code_key or None,
                   yellow_fraction=settings.colour_yellow_fraction)
