"""Bot API sandbox: how fast it takes messages, and whether its limiter is fair to a paced sender.

Run: .venv/bin/python bench/bot_api_sandbox.py [--messages N]

The sandbox runs in this process on a loopback port (client and server share one event loop
and one core, so the throughput is a floor). Figures:

- capacity: N sendMessage calls to 100 chats, 20 in flight, limits off — through
  python-telegram-bot (what bot/ and notify/ use) and through raw aiohttp JSON posts, as
  messages/s and as a multiple of Telegram's 30 messages/s ceiling. The sandbox must be far
  above the ceiling, or notify's bench would measure the sandbox instead of the sender.
- fairness: limits on; a sender paced at 29/s over 100 chats (so ~0.3/s per chat) for
  8 s must get zero 429s; the same messages sent unpaced must get 429s. Both side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from pathlib import Path

import aiohttp
from aiohttp.test_utils import TestServer

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PTB_TIMEDELTA", "1")

from telegram import Bot
from telegram.error import RetryAfter
from telegram.request import HTTPXRequest

from sandbox.app import DEFAULT_TOKEN, create_sandbox_app
from sandbox.client import SandboxClient

CHATS = 100
IN_FLIGHT = 20


async def users(client: SandboxClient) -> list[int]:
    return [(await client.create_user(f"u{i}"))["id"] for i in range(CHATS)]


async def ptb_capacity(url: str, chats: list[int], count: int) -> float:
    request = HTTPXRequest(connection_pool_size=IN_FLIGHT)
    async with Bot(DEFAULT_TOKEN, base_url=f"{url}/bot", request=request) as bot:
        queue = list(range(count))

        async def worker() -> None:
            while queue:
                i = queue.pop()
                await bot.send_message(chats[i % len(chats)], f"message {i}")

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        return count / (time.perf_counter() - start)


async def raw_capacity(url: str, chats: list[int], count: int) -> float:
    async with aiohttp.ClientSession() as http:
        queue = list(range(count))

        async def worker() -> None:
            while queue:
                i = queue.pop()
                async with http.post(f"{url}/bot{DEFAULT_TOKEN}/sendMessage", json={
                        "chat_id": chats[i % len(chats)], "text": f"message {i}"}) as r:
                    assert r.status == 200

        start = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(IN_FLIGHT)))
        return count / (time.perf_counter() - start)


async def fairness(url: str, chats: list[int], client: SandboxClient, *, rate: float | None,
                   seconds: float) -> tuple[int, int, float]:
    """Messages sent, 429s received, achieved rate: paced at `rate`/s, or unpaced if None."""
    await client.configure(rate_limits=True)  # fresh buckets
    await client.reset_stats()
    count = int(29 * seconds)
    sent = limited = 0
    async with Bot(DEFAULT_TOKEN, base_url=f"{url}/bot",
                   request=HTTPXRequest(connection_pool_size=IN_FLIGHT)) as bot:
        start = time.perf_counter()

        async def one(i: int) -> None:
            nonlocal sent, limited
            if rate is not None:
                await asyncio.sleep(max(0.0, start + i / rate - time.perf_counter()))
            try:
                await bot.send_message(chats[i % len(chats)], f"paced {i}")
                sent += 1
            except RetryAfter:
                limited += 1

        semaphore = asyncio.Semaphore(IN_FLIGHT)

        async def bounded(i: int) -> None:
            async with semaphore:
                await one(i)

        await asyncio.gather(*(bounded(i) if rate is None else one(i) for i in range(count)))
        elapsed = time.perf_counter() - start
    stats = await client.stats()
    assert stats["rate_limited_429"] == limited
    return sent, limited, sent / elapsed


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    args = parser.parse_args()
    app = create_sandbox_app()
    async with TestServer(app, host="127.0.0.1") as server, aiohttp.ClientSession() as http:
        url = str(server.make_url("")).rstrip("/")
        client = SandboxClient(url, http)
        chats = await users(client)
        await ptb_capacity(url, chats, 200)  # warm-up
        ptb = await ptb_capacity(url, chats, args.messages)
        raw = await raw_capacity(url, chats, args.messages)
        print(f"capacity, limits off, {args.messages} messages to {CHATS} chats, "
              f"{IN_FLIGHT} in flight:")
        print(f"  python-telegram-bot  {ptb:8.0f} msg/s  = {ptb / 30:5.1f}× Telegram's 30/s")
        print(f"  raw aiohttp JSON     {raw:8.0f} msg/s  = {raw / 30:5.1f}× Telegram's 30/s")
        paced = await fairness(url, chats, client, rate=29.0, seconds=8)
        unpaced = await fairness(url, chats, client, rate=None, seconds=8)
        print("fairness, limits on (30/s bot, 1/s burst 3 per chat), 232 messages to 100 chats:")
        print(f"  paced at 29/s   sent {paced[0]:4d}  429s {paced[1]:4d}  "
              f"achieved {paced[2]:5.1f} msg/s ({paced[2] / 30:.0%} of 30/s)")
        print(f"  unpaced         sent {unpaced[0]:4d}  429s {unpaced[1]:4d}  "
              f"achieved {unpaced[2]:5.1f} msg/s")


if __name__ == "__main__":
    asyncio.run(main())
