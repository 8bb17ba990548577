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


async def test_webhook_refused_while_the_bot_is_not_connected(settings: Settings, mongo_uri: str,
                                                              clock: FakeClock, db: Database) -> None:
    """The Bot API is unreachable here, so the bot never connects: updates are refused (503)."""
    from gridlink.metrics import WEBHOOK_UPDATES

    before = WEBHOOK_UPDATES.labels("refused")._value.get()
    forbidden = WEBHOOK_UPDATES.labels("forbidden")._value.get()
    closed = settings.model_copy(update={"telegram_api_url": "http://127.0.0.1:9"})
    app = create_app(closed, mongo_uri=mongo_uri, clock=clock)
    async with TestClient(TestServer(app, host="127.0.0.1")) as http:
        update = {"update_id": 1, "message": {"message_id": 1, "date": 0, "text": "hi",
                                              "chat": {"id": 5, "type": "private"}}}
        resp = await http.post("/telegram/webhook", json=update,
                               headers={"X-Telegram-Bot-Api-Secret-Token": closed.webhook_secret})
        assert resp.status == 503
        resp = await http.post("/telegram/webhook", json=update)
        assert resp.status == 403
    assert WEBHOOK_UPDATES.labels("refused")._value.get() == before + 1
    assert WEBHOOK_UPDATES.labels("forbidden")._value.get() == forbidden + 1


def test_webhook_outcomes_from_the_answers() -> None:
    from api.errors import error_response
    from gridlink.metrics import _webhook_outcome

    busy = error_response(503, "update_in_progress", "this update is being processed")
    refused = error_response(503, "database_unavailable", "retry")
    assert _webhook_outcome(busy.status, busy.body) == "busy"
    assert _webhook_outcome(refused.status, refused.body) == "refused"
    assert _webhook_outcome(200, b'{"ok": true, "outcome": "duplicate"}') == "duplicate"
    assert _webhook_outcome(200, b'{"ok": true, "outcome": "processed"}') == "processed"
    assert _webhook_outcome(400, b"") == "invalid"


def test_bot_api_method_never_carries_the_token() -> None:
    from gridlink.metrics import bot_method

    assert bot_method("https://api.telegram.org/bot123456:AAE-secret/sendMessage") == "sendMessage"
    assert bot_method("https://api.telegram.org/file/bot123456:AAE-secret/photos/file_7.jpg") == "other"
    assert bot_method("https://api.telegram.org/bot123456:AAE-secret") == "other"
