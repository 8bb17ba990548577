"""Sending pace against the Bot API sandbox with Telegram's limits switched on.

2,000 messages to 200 chats are queued in the outbox; one `gridlink worker` process drains
them through the sandbox, which answers 429 beyond 30 msg/s overall, 1/s per private chat and
20/min per group. Prints the sustained rate (first to last delivery), its ratio to the
30 msg/s ceiling and the 429s the sandbox served. Target: zero 429s at >= 90 % (27 msg/s).

    .venv/bin/python bench/notify.py [--messages 2000] [--chats 200]

Uses MONGODB_URI when set, otherwise an embedded server of its own.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from gridlink.db import make_client  # noqa: E402
from gridlink.embedded import EmbeddedServer  # noqa: E402
from gridlink.schema import ensure_indexes  # noqa: E402
from gridlink.settings import load_settings  # noqa: E402
from notify import repository as repo  # noqa: E402
from sandbox.app import create_sandbox_app, sandbox_of  # noqa: E402

CEILING = 30.0


def spawn_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with open(log, "wb") as out:
        return subprocess.Popen([sys.executable, "-m", "gridlink.cli", "worker"], env=env,
                                cwd=ROOT, stdout=subprocess.DEVNULL, stderr=out)


async def main(messages: int, chats: int, mongo_uri: str, workdir: Path) -> int:
    db_name = f"bench_notify_{uuid.uuid4().hex[:8]}"
    settings = load_settings(mongodb_uri=mongo_uri, mongodb_db=db_name)
    client = make_client(mongo_uri, settings)
    db = client[db_name]
    await ensure_indexes(db)

    app = create_sandbox_app(rate_limits=True)
    sandbox = sandbox_of(app)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    url = f"http://127.0.0.1:{port}"

    chat_ids = list(range(100_001, 100_001 + chats))
    for chat in chat_ids:
        sandbox.create_user(first_name=f"user{chat}", id=chat)
    now = datetime.now(UTC)
    # Queued chat by chat, as a burst of assignments would be: the sender must interleave.
    await repo.enqueue(db, messages=[
        repo.new_message(msg_id=f"bench:{chat}:{k}", chat_id=chat, text=f"bench {chat}/{k}",
                         kind="bench", now=now, locale="zh-CN")
        for chat in chat_ids for k in range(messages // chats)])
    total = (messages // chats) * chats

    env = {**os.environ, "MONGODB_URI": mongo_uri, "MONGODB_DB": db_name,
           "TELEGRAM_API_URL": url, "DATA_DIR": str(workdir)}
    env.pop("TELEGRAM_BOT_TOKEN", None)
    worker = spawn_worker(env, workdir / "worker.log")
    first = last = 0.0
    started = time.monotonic()
    try:
        while True:
            sent = sum(sandbox.stats.sent_per_chat.values())
            t = time.monotonic()
            if sent and not first:
                first = t
            if sent >= total:
                last = t
                break
            if t - started > 600 or worker.poll() is not None:
                print("worker stopped or timed out; see", workdir / "worker.log")
                return 1
            await asyncio.sleep(0.02)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
    elapsed = last - first
    rate = (total - 1) / elapsed if elapsed > 0 else float("inf")
    stats = sandbox.stats.to_json()
    throttled = 0
    for doc in await repo.find_messages(db, query={"throttled": {"$gt": 0}}):
        throttled += int(doc["throttled"])
    print(f"messages {total} to {chats} chats, sandbox limits on "
          f"(30/s overall, 1/s per chat, 20/min per group)")
    print(f"first→last delivery {elapsed:.1f} s: {rate:.2f} msg/s sustained = "
          f"{rate / CEILING:.1%} of the {CEILING:.0f} msg/s ceiling")
    print(f"429s served by the sandbox: {stats['total_429']}; retries after 429 in the outbox: "
          f"{throttled}; sandbox sent_total {stats['sent_total']}")
    ok = stats["total_429"] == 0 and rate >= 0.9 * CEILING
    print("PASS" if ok else "FAIL", "(target: zero 429s at >= 27 msg/s)")
    await client.drop_database(db_name)
    await client.close()
    await runner.cleanup()
    return 0 if ok else 1


def run() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--chats", type=int, default=200)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-notify-"))
    uri = os.environ.get("MONGODB_URI")
    if uri:
        return asyncio.run(main(args.messages, args.chats, uri, workdir))
    server = EmbeddedServer(workdir / "db")
    server.start()
    try:
        return asyncio.run(main(args.messages, args.chats, server.uri, workdir))
    finally:
        server.stop()


if __name__ == "__main__":
    sys.exit(run())
