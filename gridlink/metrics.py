"""Prometheus metrics for `web` (/metrics on its HTTP port) and `worker` (/metrics on METRICS_PORT).

Two kinds: counters and histograms updated where things happen (HTTP requests, webhook
updates, Bot API calls), kept in this module's registry; and the state of the system (outbox,
schedule, statistics folder, database latency, open cases by colour per street) read from the
database when Prometheus scrapes, with a few indexed queries (`read_state`). Labels are
bounded: route templates, methods, outcomes, states, street codes — never case ids, chat
ids, people or serials. docs/OPERATIONS.md lists every series and the alerts built on them.
"""

from __future__ import annotations

import asyncio
import functools
import hmac
import ipaddress
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator
from typing import Any, TypeVar, cast

from aiohttp import web
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from pymongo.errors import PyMongoError
from telegram._utils.types import ODVInput
from telegram.request import BaseRequest, RequestData

from gridlink.clock import Clock
from gridlink.db import Database
from gridlink.settings import Settings

log = logging.getLogger(__name__)

disable_created_metrics()  # the `_created` twin of every counter doubles a scrape for nothing
REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)
PlatformCollector(registry=REGISTRY)

_LATENCY = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

HTTP_REQUESTS = Counter("gridlink_http_requests", "HTTP requests by route template, method and status",
                        ["route", "method", "status"], registry=REGISTRY)
HTTP_LATENCY = Histogram("gridlink_http_request_duration_seconds", "HTTP request latency by route template",
                         ["route", "method"], buckets=_LATENCY, registry=REGISTRY)
WEBHOOK_UPDATES = Counter("gridlink_webhook_updates", "Telegram webhook updates by outcome "
                          "(processed, duplicate, refused = 503 database, busy, forbidden, invalid)",
                          ["outcome"], registry=REGISTRY)
BOT_API_CALLS = Counter("gridlink_bot_api_calls", "Bot API calls by method and result "
                        "(ok, 429, 5xx, 4xx, network)", ["method", "result"], registry=REGISTRY)
BOT_API_LATENCY = Histogram("gridlink_bot_api_call_duration_seconds", "Bot API call latency by method",
                            ["method"], buckets=_LATENCY, registry=REGISTRY)

WEBHOOK_OUTCOMES = ("processed", "duplicate", "refused", "busy", "forbidden", "invalid")
BOT_RESULTS = ("ok", "429", "5xx", "4xx", "network")
for _outcome in WEBHOOK_OUTCOMES:  # every outcome exists from the start: rate() needs a zero
    WEBHOOK_UPDATES.labels(_outcome)

# ------------------------------------------------------------------ HTTP


def route_of(request: web.Request) -> str:
    """The route template (`/api/v1/cases/{case_id}`), never the path a client typed."""
    route = request.match_info.route
    resource = route.resource if route is not None else None
    return resource.canonical if resource is not None else "unmatched"


def observe_request(request: web.Request, status: int, seconds: float) -> None:
    """Count one answered request by route template, method and status (the access log's
    middleware, which times every request, calls this)."""
    method = request.method
    if method not in ("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"):
        method = "other"
    route = route_of(request)
    HTTP_REQUESTS.labels(route, method, str(status)).inc()
    HTTP_LATENCY.labels(route, method).observe(seconds)


def count_webhook(handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                  ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wrap the webhook handler: count each update by the outcome its answer tells."""

    @functools.wraps(handler)
    async def counted(request: web.Request) -> web.StreamResponse:
        try:
            response = await handler(request)
        except web.HTTPException as exc:
            WEBHOOK_UPDATES.labels(_webhook_outcome(exc.status, b"")).inc()
            raise
        except Exception:
            WEBHOOK_UPDATES.labels("invalid").inc()  # mapped to a 4xx by the error middleware
            raise
        body = response.body if isinstance(response, web.Response) else b""
        WEBHOOK_UPDATES.labels(_webhook_outcome(response.status, body)).inc()
        return response

    return counted


def _webhook_outcome(status: int, body: Any) -> str:
    text = bytes(body) if isinstance(body, (bytes, bytearray)) else b""
    if status == 200:
        return "duplicate" if b'"duplicate"' in text else "processed"
    if status == 503:
        return "busy" if b"update_in_progress" in text else "refused"
    if status in (401, 403):
        return "forbidden"
    return "invalid"


# ------------------------------------------------------------------ Bot API calls

_METHOD = re.compile(r"^[A-Za-z]{1,40}$")


def bot_method(url: str) -> str:
    """The Bot API method of a request URL (`…/bot<token>/sendMessage`); the token never leaves."""
    name = url.rsplit("/", 1)[-1].split("?", 1)[0]
    return name if _METHOD.match(name) else "other"


def record_bot_call(url: str, started: float, status: int | None) -> None:
    method = bot_method(url)
    if status is None:
        result = "network"
    elif status == 429:
        result = "429"
    elif status >= 500:
        result = "5xx"
    elif status >= 400:
        result = "4xx"
    else:
        result = "ok"
    BOT_API_CALLS.labels(method, result).inc()
    BOT_API_LATENCY.labels(method).observe(time.perf_counter() - started)


DoRequest = TypeVar("DoRequest", bound=Callable[..., Awaitable[tuple[int, bytes]]])


def counted_bot_calls(do_request: DoRequest) -> DoRequest:
    """Decorate a PTB `BaseRequest.do_request`: count each call by method and result."""

    @functools.wraps(do_request)
    async def counted(self: Any, url: str, method: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        started = time.perf_counter()
        try:
            status, payload = await do_request(self, url, method, *args, **kwargs)
        except Exception:
            record_bot_call(url, started, None)
            raise
        record_bot_call(url, started, status)
        return status, payload

    return cast(DoRequest, counted)


class CountedRequest(BaseRequest):
    """A PTB request object (the worker's HTTPXRequest) whose calls are counted."""

    def __init__(self, inner: BaseRequest) -> None:
        self._inner = inner

    @property
    def read_timeout(self) -> float | None:
        return self._inner.read_timeout

    async def initialize(self) -> None:
        await self._inner.initialize()

    async def shutdown(self) -> None:
        await self._inner.shutdown()

    @counted_bot_calls
    async def do_request(self, url: str, method: str, request_data: RequestData | None = None,
                         read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
                         write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
                         connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
                         pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE) -> tuple[int, bytes]:
        return await self._inner.do_request(url, method, request_data, read_timeout=read_timeout,
                                            write_timeout=write_timeout, connect_timeout=connect_timeout,
                                            pool_timeout=pool_timeout)


def counted(request: BaseRequest) -> BaseRequest:
    return CountedRequest(request)


# ------------------------------------------------------------------ state read at scrape time

STATE_TTL_S = 2.0  # scrapes closer together than this share one reading
STATE_TIMEOUT_S = 5.0


class StateCollector:
    """A prometheus_client collector yielding the families of the last `read_state`."""

    def __init__(self, db: Database, clock: Clock, settings: Settings, *, process: str) -> None:
        self.db, self.clock, self.settings, self.process = db, clock, settings, process
        self.families: list[Metric] = []
        self.read_at = -1e9
        self.lock = asyncio.Lock()

    async def refresh(self) -> None:
        async with self.lock:
            if time.monotonic() - self.read_at < STATE_TTL_S:
                return
            try:
                self.families = await asyncio.wait_for(read_state(self.db, self.clock, self.settings),
                                                       STATE_TIMEOUT_S)
            except (PyMongoError, TimeoutError) as exc:
                log.warning("metrics: database state unavailable", extra={"error": type(exc).__name__})
                up = GaugeMetricFamily("gridlink_db_up", "1 when the database answered the last scrape")
                up.add_metric([], 0)
                self.families = [up]
            self.read_at = time.monotonic()

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def gauge(name: str, doc: str, value: float | None = None, labels: Iterable[str] = ()) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=list(labels) or None)
    if value is not None:
        family.add_metric([], value)
    return family


Reader = Callable[[Database, Clock, Settings], Awaitable[list[Metric]]]
# The packages' scrape-time gauges (ops.gauges: outbox, schedule, statistics), registered by
# the composition root (gridlink.app.wire_domains), so gridlink imports none of them.
READERS: list[Reader] = []


def read_with(reader: Reader) -> None:
    if reader not in READERS:
        READERS.append(reader)


async def read_state(db: Database, clock: Clock, settings: Settings) -> list[Metric]:
    """The database's round trip, then every registered reader's gauges."""
    started = time.perf_counter()
    await db.command("ping")
    out: list[Metric] = [gauge("gridlink_db_ping_seconds", "Database round trip (ping)",
                               time.perf_counter() - started),
                         gauge("gridlink_db_up", "1 when the database answered the last scrape", 1)]
    for reader in READERS:
        out += await reader(db, clock, settings)
    return out


# ------------------------------------------------------------------ the endpoint


def allowed(request: web.Request, settings: Settings) -> bool:
    """A bearer METRICS_TOKEN, or a client address inside METRICS_NETWORKS."""
    from gridlink.proxy import client_ip

    token = settings.metrics_token
    given = request.headers.get("Authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    try:
        addr = ipaddress.ip_address(client_ip(request, settings))
    except ValueError:
        return False
    return any(addr in net for net in settings.metrics_allowed_networks)


async def exposition(collector: StateCollector | None) -> bytes:
    body = generate_latest(REGISTRY)
    if collector is not None:
        await collector.refresh()
        scrape = CollectorRegistry(auto_describe=False)
        scrape.register(collector)  # type: ignore[arg-type]
        body += generate_latest(scrape)
    return body


STATE = web.AppKey("metrics_state", StateCollector)
SETTINGS = web.AppKey("metrics_settings", Settings)


async def metrics_handler(request: web.Request) -> web.Response:
    """GET /metrics: the Prometheus text format, to allowed networks or the bearer token."""
    if not allowed(request, request.app[SETTINGS]):
        return web.json_response({"error": {"code": "forbidden",
                                            "message": "metrics are served to configured networks "
                                                       "or with METRICS_TOKEN"}}, status=403)
    body = await exposition(request.app.get(STATE))
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def setup(app: web.Application, *, settings: Settings, db: Callable[[], Database], clock: Clock) -> None:
    """Wire metrics into the web app: GET /metrics and the state
    reader, made once the database is open (`db()`, after the database's cleanup_ctx)."""

    async def state_ctx(app: web.Application) -> AsyncIterator[None]:
        app[STATE] = StateCollector(db(), clock, settings, process="web")
        yield

    app[SETTINGS] = settings
    app.router.add_get("/metrics", metrics_handler)
    app.cleanup_ctx.append(state_ctx)


async def serve_worker_metrics(db: Database, clock: Clock, settings: Settings,
                               stop: asyncio.Event) -> None:
    """The worker's /metrics on METRICS_PORT (off when 0), until `stop`."""
    if not settings.metrics_port:
        return
    app = web.Application()
    app[SETTINGS] = settings
    app[STATE] = StateCollector(db, clock, settings, process="worker")
    app.router.add_get("/metrics", metrics_handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, settings.http_host, settings.metrics_port)
        try:
            await site.start()
        except OSError as exc:
            log.error("metrics port unavailable", extra={"port": settings.metrics_port, "error": str(exc)})
            return
        log.info("worker metrics listening",
                 extra={"url": f"http://{settings.http_host}:{settings.metrics_port}/metrics"})
        await stop.wait()
    finally:
        await runner.cleanup()
