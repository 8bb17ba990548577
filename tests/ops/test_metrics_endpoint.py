"""/metrics on the real app: who may read it, and the series a scrape carries."""

from __future__ import annotations

import uuid

from aiohttp.test_utils import TestClient, TestServer

from gridlink.app import create_app
from gridlink.db import Database
from gridlink.settings import Settings
from tests.conftest import FakeClock


async def _scrape(settings: Settings, mongo_uri: str, clock: FakeClock,
                  headers: dict[str, str] | None = None) -> tuple[int, str]:
    app = create_app(settings, mongo_uri=mongo_uri, clock=clock)
    async with TestClient(TestServer(app, host="127.0.0.1")) as http:
        await http.get("/healthz")
        await http.get(f"/api/v1/cases/{uuid.uuid4().hex}")  # a templated route, 401
        resp = await http.get("/metrics", headers=headers or {})
        return resp.status, await resp.text()


async def test_loopback_reads_metrics_with_route_templates(settings: Settings, mongo_uri: str,
                                                           clock: FakeClock, db: Database) -> None:
    status, text = await _scrape(settings, mongo_uri, clock)
    assert status == 200, text
    assert 'gridlink_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'route="/api/v1/cases/{ref}"' in text  # the template, never the id typed
    for name in ("gridlink_db_ping_seconds", "gridlink_db_up 1.0", 'gridlink_outbox_messages{state="queued"}',
                 "gridlink_outbox_oldest_queued_age_seconds", "gridlink_schedule_jobs_due",
                 "gridlink_schedule_jobs_overdue", "gridlink_stats_pending_changes",
                 'gridlink_webhook_updates_total{outcome="refused"}', "process_cpu_seconds_total"):
        assert name in text, name


async def test_other_networks_need_the_token(settings: Settings, mongo_uri: str, clock: FakeClock,
                                             db: Database) -> None:
    token = "metrics-token-" + uuid.uuid4().hex
    closed = settings.model_copy(update={"metrics_networks": "10.9.0.0/16", "metrics_token": token})
    status, text = await _scrape(closed, mongo_uri, clock)
    assert status == 403 and "gridlink_" not in text
    status, _ = await _scrape(closed, mongo_uri, clock, {"Authorization": "Bearer wrong-token-000000"})
    assert status == 403
    status, text = await _scrape(closed, mongo_uri, clock, {"Authorization": f"Bearer {token}"})
    assert status == 200 and "gridlink_http_requests_total" in text
