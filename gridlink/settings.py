"""The one settings object, read from environment variables."""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# The token the local Bot API sandbox accepts when TELEGRAM_BOT_TOKEN is unset.
SANDBOX_BOT_TOKEN = "123456789:sandbox-gridlink-bot-token"
DEFAULT_WEBHOOK_SECRET = "dev-webhook-secret"
MIN_WEBHOOK_SECRET = 32
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class Settings(BaseSettings):
    """Every knob of gridlink; field names are the environment variables, upper-cased."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    mongodb_uri: str | None = Field(None, description="MongoDB URI; unset = embedded local server")
    mongodb_db: str = Field("gridlink", min_length=1, max_length=60)
    mongodb_timeout_ms: int = Field(3000, ge=100, le=120_000)
    mongodb_socket_timeout_ms: int = Field(30_000, ge=1000, le=600_000)
    telegram_bot_token: str | None = None
    telegram_api_url: str = "https://api.telegram.org"
    public_base_url: str = "http://127.0.0.1:8080"
    webhook_secret: str = Field(DEFAULT_WEBHOOK_SECRET, min_length=1, max_length=256)
    # HMAC key of the portal's rating codes; unset = generated once and kept in the database
    # (gridlink.appsecrets.rating_code_key), never the webhook secret.
    rating_code_key: str | None = Field(None, min_length=32, max_length=256)
    # Reverse proxies (comma-separated CIDRs) whose X-Forwarded-For/-Proto and Forwarded
    # headers are believed (gridlink/proxy.py); empty = the TCP peer is the client.
    trusted_proxies: str = ""
    # Request bodies: anonymous routes, signed-in staff; photo uploads get PHOTO_MAX_BYTES + 1 MiB
    http_max_body_anonymous: int = Field(64 * 1024, ge=1024, le=16 * 1024 * 1024)
    http_max_body_staff: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    json_max_depth: int = Field(32, ge=2, le=500)
    timezone: str = "Asia/Shanghai"
    default_locale: str = "zh-CN"
    http_host: str = "127.0.0.1"
    http_port: int = Field(8080, ge=0, le=65535)
    sandbox_port: int = Field(8081, ge=0, le=65535)
    data_dir: Path = PROJECT_ROOT / "var"
    keep_photo_originals: bool = False
    photo_max_bytes: int = Field(20 * 1024 * 1024, ge=1024, le=200 * 1024 * 1024)
    photo_max_pixels: int = Field(64_000_000, ge=10_000, le=200_000_000)
    photo_max_frames: int = Field(8, ge=1, le=1000)
    photo_workers: int = Field(2, ge=1, le=64)
    # A coordinator's photo taken longer ago than this (EXIF) is questioned: "still there?"
    photo_max_age_h: float = Field(24.0, gt=0, le=24 * 365)
    district_code: str = Field("310101", pattern=r"^\d{6}$")
    serial_prefix: str = Field("A", pattern=r"^[A-Z]{1,3}$")
    colour_yellow_fraction: float = Field(0.25, ge=0, lt=1)
    # grids: GPS tolerance of placement, largest gap an import accepts, index refresh period
    grid_snap_tolerance_m: float = Field(30.0, ge=0, le=1000)
    grid_max_gap_m2: float = Field(1.0, ge=0)
    grid_refresh_s: float = Field(5.0, gt=0, le=3600)
    conversation_ttl_minutes: int = Field(30, ge=1, le=7 * 24 * 60)
    # desk: failed sign-ins that lock a username, for how long; how long a desk session lasts
    desk_lockout_attempts: int = Field(5, ge=1, le=100)
    desk_lockout_minutes: float = Field(15.0, gt=0, le=24 * 60)
    desk_session_hours: float = Field(12.0, gt=0, le=24 * 30)
    # desk: sign-in POSTs per client address and window (any username); 0 = off
    desk_signin_per_ip: int = Field(30, ge=0, le=100_000)
    desk_signin_window_s: float = Field(300.0, gt=0, le=86_400)
    # notify: reminders, escalation, digest, sending pace (README "Configuration")
    notify_reminder_fraction: float = Field(0.75, gt=0, lt=1)
    notify_digest_time: str = Field("08:30", pattern=r"^([01]\d|2[0-3]):[0-5]\d$")
    notify_rate_per_s: float = Field(29.5, gt=0, le=1000)
    notify_chat_interval_s: float = Field(1.05, ge=0, le=60)
    notify_group_interval_s: float = Field(3.1, ge=0, le=600)
    notify_concurrency: int = Field(8, ge=1, le=100)
    notify_max_attempts: int = Field(6, ge=1, le=50)
    notify_backoff_s: float = Field(2.0, ge=0, le=3600)
    notify_lease_s: float = Field(30.0, gt=0, le=3600)
    notify_leader_ttl_s: float = Field(10.0, gt=0, le=600)
    notify_batch: int = Field(200, ge=1, le=10_000)
    notify_poll_s: float = Field(1.0, gt=0, le=60)
    notify_stats_interval_s: float = Field(60.0, gt=0, le=3600)
    notify_outbox_keep_days: float = Field(30.0, gt=0, le=3650)
    # citizen intake limits (gridlink/ratelimit.py), shared by every process; 0 = off
    rate_limit_chat_reports: int = Field(10, ge=0, le=100_000)
    rate_limit_chat_window_s: float = Field(3600.0, gt=0, le=86_400)
    rate_limit_ip_requests: int = Field(120, ge=0, le=1_000_000)
    rate_limit_ip_window_s: float = Field(60.0, gt=0, le=86_400)
    # anonymous Open311 reads (no valid api_key) per client address and window; 0 = off
    rate_limit_read_requests: int = Field(300, ge=0, le=1_000_000)
    rate_limit_read_window_s: float = Field(60.0, gt=0, le=86_400)
    # early warning (stats/early_warning.py Config, docs/EARLY_WARNING.md): per-test false-alarm
    # probability and least cases of the daily and 7-day windows (≥ 2: 0 → 1 never alarms),
    # baseline weeks, guard band, seasonal windows, least expected cases a week, days without an
    # alarm that close an episode; localising a street alarm to its blocks
    early_warning_daily_alpha: float = Field(0.0005, gt=0, lt=0.5)
    early_warning_daily_min_count: int = Field(4, ge=2, le=100_000)
    early_warning_weekly_alpha: float = Field(0.001, gt=0, lt=0.5)
    early_warning_weekly_min_count: int = Field(6, ge=2, le=100_000)
    early_warning_recent_days: int = Field(84, ge=28, le=364)
    early_warning_guard_days: int = Field(7, ge=0, le=91)
    early_warning_season_windows: int = Field(3, ge=0, le=12)
    early_warning_min_expected: float = Field(0.2, gt=0, le=1000)
    early_warning_quiet_days: int = Field(7, ge=1, le=91)
    early_warning_localise_alpha: float = Field(0.01, gt=0, lt=0.5)
    early_warning_localise_min_count: int = Field(3, ge=2, le=100_000)
    early_warning_localise_prior: float = Field(0.5, gt=0, le=1000)
    # tests and drills only: shift this process's clock (a stepped server clock)
    clock_offset_s: float = Field(0.0, ge=-10 * 365 * 86_400, le=10 * 365 * 86_400)
    # /metrics (gridlink/metrics.py): the worker's own port (0 = none; web serves it on
    # HTTP_PORT), and who may read it: a client in METRICS_NETWORKS (CIDRs) or the bearer token
    metrics_port: int = Field(0, ge=0, le=65535)
    metrics_token: str | None = Field(None, min_length=16, max_length=256)
    metrics_networks: str = "127.0.0.1/32,::1/128"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {value!r}") from exc
        return value

    @field_validator("default_locale")
    @classmethod
    def _supported_locale(cls, value: str) -> str:
        if value not in ("zh-CN", "en"):
            raise ValueError("must be zh-CN or en")
        return value

    @field_validator("telegram_api_url", "public_base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("trusted_proxies", "metrics_networks")
    @classmethod
    def _cidrs(cls, value: str) -> str:
        _networks(value)
        return value

    @field_validator("mongodb_uri")
    @classmethod
    def _mongo_uri(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not value.startswith(("mongodb://", "mongodb+srv://")):
            raise ValueError("must start with mongodb:// or mongodb+srv://")
        return value

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    @property
    def bot_token(self) -> str:
        """The Bot API token: the configured one, or the fixed token the local sandbox accepts."""
        return self.telegram_bot_token or SANDBOX_BOT_TOKEN

    @property
    def bot_api_url(self) -> str:
        """Bot API base URL; without a token and with the default URL, the local sandbox."""
        if self.sandbox and self.telegram_api_url == "https://api.telegram.org":
            return f"http://{self.http_host}:{self.sandbox_port}"
        return self.telegram_api_url

    @property
    def sandbox(self) -> bool:
        """True when no Telegram token is set: the bot talks to the local Bot API sandbox."""
        return not self.telegram_bot_token

    @property
    def trusted_networks(self) -> tuple[Network, ...]:
        return _networks(self.trusted_proxies)

    @property
    def metrics_allowed_networks(self) -> tuple[Network, ...]:
        return _networks(self.metrics_networks)

    def production_problems(self) -> list[str]:
        """What makes these settings unsafe with a real bot token (empty in the sandbox):
        anyone knowing a default or short webhook secret can forge updates from any sender."""
        if self.sandbox:
            return []
        out = []
        if self.webhook_secret == DEFAULT_WEBHOOK_SECRET:
            out.append("WEBHOOK_SECRET: is the development default; set a random secret of at least "
                       f"{MIN_WEBHOOK_SECRET} characters (A-Z, a-z, 0-9, _ and -)")
        elif len(self.webhook_secret) < MIN_WEBHOOK_SECRET:
            out.append(f"WEBHOOK_SECRET: has {len(self.webhook_secret)} characters; a real bot token "
                       f"needs at least {MIN_WEBHOOK_SECRET}")
        if not self.public_base_url.startswith("https://"):
            out.append(f"PUBLIC_BASE_URL: must be https:// with a real bot token (Telegram delivers "
                       f"webhooks over HTTPS only), got {self.public_base_url!r}")
        return out

    def check_production(self) -> None:
        """Raise SettingsError naming every variable that is unsafe with a real token."""
        problems = self.production_problems()
        if problems:
            raise SettingsError("unsafe settings with TELEGRAM_BOT_TOKEN set:\n  " + "\n  ".join(problems))


@lru_cache(maxsize=16)
def _networks(value: str) -> tuple[Network, ...]:
    out = []
    for part in value.replace(";", ",").replace(" ", ",").split(","):
        if part.strip():
            try:
                out.append(ipaddress.ip_network(part.strip(), strict=False))
            except ValueError:
                raise ValueError(f"{part.strip()!r} is not an IP address or CIDR network") from None
    return tuple(out)


class SettingsError(Exception):
    """Settings that cannot be used; the message names each bad variable."""


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, turning validation errors into one clear message."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        lines = []
        for err in exc.errors():
            name = "_".join(str(p) for p in err["loc"]).upper() or "?"
            lines.append(f"{name}: {err['msg']} (got {err.get('input')!r})")
        raise SettingsError("invalid settings:\n  " + "\n  ".join(lines)) from None
