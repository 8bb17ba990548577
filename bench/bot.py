"""Webhook cost of the bot: one update through the whole path beside its parts, in one run.

Run: .venv/bin/python bench/bot.py [--updates N]

Each update is a `/help` from a different chat POSTed to the real app's webhook, which claims
its `update_id` in MongoDB (exactly once), lets python-telegram-bot route it, answers with
sendMessage to the local Bot API sandbox, and marks it done. Measured side by side, round-robin:

- webhook: the whole path (HTTP in, claim, PTB, sendMessage out, done mark);
- send floor: the same sendMessage through PTB's Bot straight to the sandbox (the I/O the
  handler cannot avoid);
- claim+done: the two database writes of the exactly-once bookkeeping alone;
- duplicate: a redelivered update (acknowledged and skipped).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from api.keys import PTB_APP
from bench.timing import latency_line
from bot import repository as repo
from gridlink.app import create_app
from gridlink.clock import SystemClock
from gridlink.db import make_client
from gridlink.embedded import temporary_server
from gridlink.settings import load_settings
from sandbox.app import DEFAULT_TOKEN, create_sandbox_app


def _update(update_id: int, user_id: int) -> dict[str, object]:
    return {"update_id": update_id, "message": {
        "message_id": update_id, "date": int(time.time()), "text": "/help",
        "entities": [{"type": "bot_command", "offset": 0, "length": 5}],
        "chat": {"id": user_id, "type": "private", "first_name": "U"},
        "from": {"id": user_id, "is_bot": False, "first_name": "U", "language_code": "en"}}}


async def main(n: int, uri: str) -> None:
    sandbox = create_sandbox_app(bot_token=DEFAULT_TOKEN)
    async with TestServer(sandbox, host="127.0.0.1") as sb_server:
        sb_url = str(sb_server.make_url("")).rstrip("/")
        settings = load_settings(mongodb_uri=uri, mongodb_db="bench_bot", telegram_bot_token=None,
                                 telegram_api_url=sb_url, webhook_secret="bench")
        client = make_client(uri, settings)
        await client.drop_database("bench_bot")
        app = create_app(settings, mongo_uri=uri)
        async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as http:
            ptb = app[PTB_APP]
            for _ in range(200):  # the bot reaches the sandbox in the background
                if ptb._initialized:
                    break
                await asyncio.sleep(0.05)
            users = []
            for i in range(n):
                async with http.post(f"{sb_url}/sandbox/api/users",
                                     json={"first_name": f"U{i}", "language_code": "en"}) as r:
                    users.append((await r.json())["id"])
            url = str(server.make_url("/telegram/webhook"))
            headers = {"X-Telegram-Bot-Api-Secret-Token": "bench"}
            db = client["bench_bot"]
            clock = SystemClock()
            webhook, floor, bookkeeping, duplicate = [], [], [], []
            for i, user in enumerate(users):
                body = _update(10_000 + i, user)
                t0 = time.perf_counter()
                async with http.post(url, json=body, headers=headers) as r:
                    assert r.status == 200, await r.text()
                t1 = time.perf_counter()
                await ptb.bot.send_message(user, "How it works: …")
                t2 = time.perf_counter()
                assert await repo.claim_update(db, update_id=900_000 + i, now=clock.now()) == "claimed"
                await repo.finish_update(db, update_id=900_000 + i, now=clock.now())
                t3 = time.perf_counter()
                async with http.post(url, json=body, headers=headers) as r:
                    assert (await r.json())["outcome"] == "duplicate"
                t4 = time.perf_counter()
                webhook.append(t1 - t0)
                floor.append(t2 - t1)
                bookkeeping.append(t3 - t2)
                duplicate.append(t4 - t3)
            print(f"{n} updates, one chat each, sequential; database {uri.split('@')[-1]}")
            for name, samples in (("webhook", webhook), ("send floor", floor),
                                  ("claim+done", bookkeeping), ("duplicate", duplicate)):
                print(latency_line(name, samples, sequential=True))
            print(f"webhook / send floor = {statistics.median(webhook) / statistics.median(floor):.2f}x; "
                  f"exactly-once bookkeeping = {statistics.median(bookkeeping) / statistics.median(webhook):.0%} "
                  f"of the webhook path")
        await client.drop_database("bench_bot")
        await client.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--updates", type=int, default=300)
    args = parser.parse_args()
    with temporary_server() as uri:
        asyncio.run(main(args.updates, uri))
