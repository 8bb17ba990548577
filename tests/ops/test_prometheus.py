"""A real Prometheus (Debian's package, on loopback) scraping a running `gridlink web` and
`gridlink worker` with the shipped rules loaded; a journey drives traffic (a citizen's webhook
update and its replay, intakes with a reporter's phone and name, dispatches, a 429 burst from
the sandbox, a leader who blocked the bot: a dead letter), then the matching series are
asked of Prometheus's HTTP API; and the scraped text carries no phone, chat id, name, serial,
case id or photo id."""

from __future__ import annotations

import asyncio
import re
import subprocess
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from gridlink.embedded import free_port
from gridlink.settings import PROJECT_ROOT
from tests.bot.conftest import BLOCK_ONE
from tests.ops.promtool import binary
from tests.reliability.cluster import Cluster, cluster, text_update

RULES = PROJECT_ROOT / "deploy" / "prometheus" / "gridlink-rules.yml"
PHONE, REPORTER, CITIZEN, LEADER = "13912345678", "Reporter Qian", "Citizen Wang", "Leader Sun"


def _config(web: str, worker: str) -> str:
    return f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["{RULES}"]
scrape_configs:
  - job_name: gridlink-web
    static_configs: [{{targets: ["{web}"]}}]
  - job_name: gridlink-worker
    static_configs: [{{targets: ["{worker}"]}}]
"""


def _start_prometheus(tmp: Path, config: str, port: int) -> subprocess.Popen[bytes]:
    (tmp / "prometheus.yml").write_text(config)
    with open(tmp / "prometheus.log", "wb") as log:
        return subprocess.Popen([binary("prometheus"), f"--config.file={tmp / 'prometheus.yml'}",
                                 f"--storage.tsdb.path={tmp / 'tsdb'}",
                                 f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"],
                                stdout=log, stderr=log)


async def _until(check: Callable[[], Awaitable[Any]], limit_s: float, what: str) -> Any:
    started = time.monotonic()
    while True:
        got = await check()
        if got:
            return got
        assert time.monotonic() - started < limit_s, f"never: {what}"
        await asyncio.sleep(0.3)


async def test_prometheus_scrapes_web_and_worker(tmp_path: Path) -> None:
    prom_port, worker_port = free_port(), free_port()
    prom: subprocess.Popen[bytes] | None = None
    async with cluster(tmp_path, webs=1, workers=0, leader_name=LEADER) as c:
        worker = c.add_worker(METRICS_PORT=str(worker_port))
        try:
            started = time.monotonic()
            await c.start_all()
            web = c.webs[0]
            prom = _start_prometheus(tmp_path, _config(f"127.0.0.1:{web.port}", f"127.0.0.1:{worker_port}"),
                                     prom_port)
            api = f"http://127.0.0.1:{prom_port}/api/v1"
            assert c.http is not None
            http = c.http

            async def query(q: str) -> list[dict[str, Any]]:
                try:
                    async with http.get(api + "/query", params={"query": q}) as r:
                        body = await r.json()
                except (aiohttp.ClientError, ValueError):
                    return []
                return list(body.get("data", {}).get("result", [])) if body.get("status") == "success" else []

            # Both scraped before the journey: the gauges' rises are seen, as in production.
            await _until(lambda: query('count(gridlink_outbox_dead_letters) == 2'), 30, "first scrapes")
            secrets = await _journey(c, worker_port)

            expected = {
                'up{job="gridlink-web"} == 1': "web scraped",
                'up{job="gridlink-worker"} == 1': "worker scraped",
                'gridlink_http_requests_total{job="gridlink-web",route="/api/v1/cases",method="POST",status="201"} >= 3':
                    "intakes by route template",
                'gridlink_http_request_duration_seconds_count{route="/api/v1/cases/{ref}/dispatch"} >= 3':
                    "latency of a templated route",
                'gridlink_webhook_updates_total{outcome="processed"} >= 1': "webhook processed",
                'gridlink_webhook_updates_total{outcome="duplicate"} >= 1': "webhook replay",
                'gridlink_webhook_updates_total{outcome="forbidden"} >= 1': "webhook with a wrong secret",
                'gridlink_bot_api_calls_total{job="gridlink-worker",result="429"} >= 1':
                    "the 429 burst",
                'gridlink_bot_api_calls_total{job="gridlink-worker",method="sendMessage",result="ok"} >= 2':
                    "messages sent",
                'gridlink_bot_api_calls_total{job="gridlink-web",method="sendMessage",result="ok"} >= 1':
                    "the bot's reply in web",
                'gridlink_bot_api_call_duration_seconds_count{job="gridlink-worker",method="sendMessage"} >= 2':
                    "Bot API latency",
                'gridlink_outbox_dead_letters{job="gridlink-worker"} >= 1': "the dead letter",
                'gridlink_outbox_messages{state="queued"}': "outbox depth",
                "gridlink_outbox_oldest_queued_age_seconds": "oldest queued age",
                "gridlink_schedule_jobs_due": "due jobs", "gridlink_schedule_jobs_overdue": "overdue jobs",
                "gridlink_stats_pending_changes": "stats folder lag",
                "gridlink_stats_seconds_since_fold": "seconds since the last fold",
                "gridlink_db_ping_seconds > 0": "database round trip",
                'sum(gridlink_open_cases{job="gridlink-web",street="310101001"}) >= 3': "open cases per street",
            }
            for q, what in expected.items():
                try:
                    await _until(lambda q=q: query(q), 30, f"{what}: {q}")  # type: ignore[misc]
                except AssertionError:
                    for url in (web.url, f"http://127.0.0.1:{worker_port}"):
                        async with http.get(url + "/metrics") as r:
                            print(url, [x for x in (await r.text()).splitlines() if "bot_api_calls" in x])
                    print(worker.log.read_text()[-3000:])
                    raise
            async def dead_letter_alert() -> dict[str, Any] | None:
                async with http.get(api + "/rules") as r:
                    groups = (await r.json())["data"]["groups"]
                rules = {rule["name"]: rule for g in groups for rule in g["rules"]}
                assert {"GridlinkOutboxNotDraining", "GridlinkStatsFolderStalled"} <= set(rules), rules
                assert all(rule["health"] in ("ok", "unknown") for rule in rules.values()), rules
                rule = rules["GridlinkDeadLettersRising"]
                return rule if rule["state"] == "firing" else None

            try:
                await _until(dead_letter_alert, 20, "the shipped rules loaded, the dead-letter alert firing")
            except AssertionError:
                print(await query("delta(gridlink_outbox_dead_letters[30m])"),
                      await query("gridlink_outbox_dead_letters[5m]"))
                async with http.get(api + "/rules") as r:
                    print([r for g in (await r.json())["data"]["groups"] for r in g["rules"]
                           if r["name"] == "GridlinkDeadLettersRising"])
                raise
            print(f"\nPrometheus found {len(expected)} series in {time.monotonic() - started:.1f}s "
                  "(cluster start included)")

            # No personal data in any label: what web and worker serve, read directly.
            for url in (web.url + "/metrics", f"http://127.0.0.1:{worker_port}/metrics"):
                async with http.get(url) as r:
                    assert r.status == 200
                    text = await r.text()
                leaks = [s for s in secrets if s and s in text]
                assert not leaks, f"{url} shows {leaks}"
                labels = set(re.findall(r'(\w+)="', text))
                assert labels <= {"route", "method", "status", "outcome", "result", "state", "street",
                                  "colour", "le", "version", "implementation", "major", "minor",
                                  "patchlevel"}, labels
        finally:
            if prom is not None:
                prom.terminate()
                prom.wait(timeout=20)
            if worker.alive:
                worker.stop()


async def _journey(c: Cluster, worker_port: int) -> list[str]:
    """Traffic through every counted path; returns what must never appear in /metrics."""
    from notify import repository as notify_repo

    web = c.webs[0]
    citizen = await c.sb.client.create_user(CITIZEN, language_code="en")
    update = text_update(910_001, citizen, "/start", 1)
    assert (await c.webhook(web, update))[0] == 200
    status, body = await c.webhook(web, update)
    assert status == 200 and body["outcome"] == "duplicate"
    assert (await c.webhook(web, text_update(910_002, citizen, "/start", 2), secret="wrong"))[0] == 403

    serials: list[str] = []
    case_ids: list[str] = []

    async def intake_and_dispatch(n: int) -> None:
        status, body = await c.post(web, "/api/v1/cases", {
            "channel": "hotline_12345", "kind": "complaint", "category": "road_damage",
            "description": f"Pothole {n} by No. 12", "location": {"lon": 121.405, "lat": 31.205},
            "reporter": {"phone": PHONE, "name": REPORTER}})
        assert status == 201, body
        serials.append(body["case"]["serial"])
        case_ids.append(str(body["case"].get("id") or body["case"].get("_id") or ""))
        status, body = await c.post(web, f"/api/v1/cases/{serials[-1]}/dispatch", {"unit": BLOCK_ONE})
        assert status == 200, body

    async def sent_to_leader() -> int:
        return len([m for m in await c.sb.client.messages(int(c.tokens["leader_chat"]))
                    if m.get("from", {}).get("is_bot")])

    await intake_and_dispatch(1)  # the leader is told: a venue, then the message
    await _until(lambda: _more_than(sent_to_leader, 1), 20, "the leader's first assignment")
    per_case = await sent_to_leader()
    await c.sb.client.inject_fault("429", count=2, retry_after=1)
    await intake_and_dispatch(2)
    await _until(lambda: _more_than(sent_to_leader, 2 * per_case - 1), 20, "sent after the 429 burst")
    await c.sb.client.block(int(c.tokens["leader_chat"]))
    await intake_and_dispatch(3)

    async def dead() -> int:
        return sum([await s.count_documents({"state": "dead"}) for s in notify_repo.outbox_shards(c.db)])

    await _until(dead, 20, "a dead letter")
    photos = [str(p["_id"]) async for p in c.db.photos.find({}, {"_id": 1})]
    return [PHONE, REPORTER, CITIZEN, LEADER, str(citizen["id"]), c.tokens["leader_chat"],
            *serials, *case_ids, *photos, *c.tokens.values()]


async def _more_than(count: Callable[[], Awaitable[int]], n: int) -> bool:
    return await count() > n
