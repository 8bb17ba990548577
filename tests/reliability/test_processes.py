"""Several processes on one database, under traffic and faults: two `gridlink web`, two
`gridlink worker` (subprocesses, real signals), the Bot API sandbox, an own embedded database
server. Reminders and deadlines run on the processes' real clocks: a case is dispatched with a
deadline seconds away, so its reminder (75 %) and red alert come due during the test."""

from __future__ import annotations

import asyncio
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gridlink.i18n import t
from gridlink.settings import SANDBOX_BOT_TOKEN
from tests.reliability.cluster import SECRET, Cluster, cluster, text_update

pytestmark = pytest.mark.slow

INSIDE = {"lon": 121.405, "lat": 31.205}
BODY = {"channel": "hotline_12345", "kind": "complaint", "category": "road_damage",
        "description": "Pothole outside No. 12, a cyclist fell", "location": INSIDE,
        "reporter": {"phone": "13800138000", "name": "Zhang San"}}
SERIAL = re.compile(r"A\d{8}-\d{5}")


async def wait_for(check: Callable[[], Awaitable[bool]], limit_s: float, what: str) -> None:
    started = time.monotonic()
    while not await check():
        assert time.monotonic() - started < limit_s, f"timed out waiting for {what}"
        await asyncio.sleep(0.25)


async def leader_messages(c: Cluster) -> Counter[tuple[str, str]]:
    """(kind of message, serial) → how many the leader's chat received."""
    out: Counter[tuple[str, str]] = Counter()
    for msg in await c.sb.client.messages(int(c.tokens["leader_chat"])):
        text = msg.get("text") or msg.get("caption") or ""
        m = SERIAL.search(text)
        if m and text.startswith("["):
            out[(text[1:text.index("]")], m.group(0))] += 1
    return out


async def citizen_report(c: Cluster, name: str) -> str:
    user = await c.sb.client.create_user(name, language_code="en")
    last = 0

    async def reply() -> dict[str, Any]:
        nonlocal last
        msg = await c.sb.client.wait_message(user["id"], after=last, timeout=30)
        last = int(msg["message_id"])
        return msg

    async def sent(msg: dict[str, Any]) -> None:
        nonlocal last
        last = max(last, int(msg["message_id"]))

    await sent(await c.sb.client.send_text(user["id"], "/report"))
    kinds = await reply()
    await c.sb.client.press(user["id"], kinds["message_id"], "f:kind:complaint")
    await reply()
    await sent(await c.sb.client.send_text(user["id"], f"Rubbish piling up ({name})"))
    confirm = await reply()
    await c.sb.client.press(user["id"], confirm["message_id"], "f:confirm")
    created = (await reply())["text"]
    m = SERIAL.search(created)
    assert m, created
    return m.group(0)


async def test_two_webs_two_workers_exactly_once(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        web0, web1 = c.webs
        # Citizens through the sandbox's webhook (one web holds it), concurrently.
        citizen_serials = await asyncio.gather(*(citizen_report(c, f"Citizen{i}") for i in range(2)))

        # The same update delivered to both webs at once (a redelivery landing elsewhere behind
        # a load balancer) is processed once: one answer per update.
        user = await c.sb.client.create_user("Twice", language_code="en")
        updates = [text_update(700_000 + i, user, "/help", 9_000 + i) for i in range(8)]
        answers = await asyncio.gather(*(c.webhook(w, u) for u in updates for w in (web0, web1)))
        assert all(status in (200, 503) for status, _ in answers), answers
        for u in updates:  # a 503 ("being processed") is redelivered by Telegram: do so
            for w in (web0, web1):
                assert (await c.webhook(w, u))[0] == 200

        # API intake: each report posted to both webs at once with one Idempotency-Key.
        async def intake(i: int) -> str:
            body = {**BODY, "description": f"{BODY['description']} #{i}"}
            key = {"Idempotency-Key": f"k-{i}"}
            (s0, b0), (s1, b1) = await asyncio.gather(c.post(web0, "/api/v1/cases", body, headers=key),
                                                      c.post(web1, "/api/v1/cases", body, headers=key))
            assert sorted((s0, s1)) == [200, 201], (b0, b1)
            assert b0["case"]["serial"] == b1["case"]["serial"]
            return str(b0["case"]["serial"])

        # Four at a time: the embedded SQLite-backed server serializes writes, and a queue of
        # dozens would push single operations past the socket timeout (then: a 503).
        gate = asyncio.Semaphore(4)

        async def gated(job: Awaitable[Any]) -> Any:
            async with gate:
                return await job

        api_serials = await asyncio.gather(*(gated(intake(i)) for i in range(8)))
        assert len(set(api_serials)) == 8
        assert await c.db.cases.count_documents({}) == 8 + 2
        assert sorted(set(citizen_serials)) == sorted(citizen_serials)

        # Dispatch each to the block with a deadline 16 s away; the same dispatch on both webs
        # at once: one wins, the other is told the case moved on.
        deadline = datetime.now(UTC) + timedelta(seconds=16)

        async def dispatch(serial: str) -> None:
            body = {"unit": "310101001001001", "deadline": deadline.isoformat(), "version": 1}
            results = await asyncio.gather(*(c.post(w, f"/api/v1/cases/{serial}/dispatch", body)
                                             for w in (web0, web1)))
            assert sorted(s for s, _ in results) == [200, 409], results

        await asyncio.gather(*(gated(dispatch(s)) for s in api_serials))

        # Every event notified once, every reminder and red alert fired once, by two workers.
        kinds = ("New assignment", "Due soon", "Overdue · red")

        async def all_sent() -> bool:
            got = await leader_messages(c)
            return all(got[(k, s)] >= 1 for k in kinds for s in api_serials)

        await wait_for(all_sent, 60, "assignments, reminders and red alerts")
        await asyncio.sleep(1.5)  # a second worker's duplicate would land now
        got = await leader_messages(c)
        assert {key: n for key, n in got.items() if n != 1} == {}
        assert set(got) == {(k, s) for k in kinds for s in api_serials}
        assert Counter(m["text"] for m in await c.sb.client.messages(user["id"])) == \
            Counter({t("help.citizen", "en"): 8})
        assert all(p.alive for p in c.webs + c.workers)
        # No secret in any process's log: bot token, webhook secret, API tokens.
        logs = c.logs()
        assert "request" in logs
        for secret in (SANDBOX_BOT_TOKEN, SECRET, *(v for k, v in c.tokens.items() if k != "leader_chat")):
            assert secret not in logs, f"a secret reached the logs: {secret[:6]}…"
