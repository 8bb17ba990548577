"""Bot API sandbox: how fast it takes messages, and whether its limiter is fair to a paced sender.

Run: .venv/bin/python bench/bot_api_sandbox.py [--messages N]

The sandbox runs as `gridlink sandbox` in a subprocess on a loopback port; this process is
the client. Figures:

- capacity: N sendMessage calls to 100 chats, 20 in flight, limits off — through raw
  aiohttp JSON posts, through python-telegram-bot as installed (what bot/ and notify/ use),
  and through PTB with httpcore's per-request async-library probe short-circuited (without
  the `sniffio` package httpcore retries `import sniffio` on every request). Rounds are
  interleaved; messages/s and multiples of Telegram's 30 messages/s ceiling. The sandbox must
  be far above the ceiling, or notify's bench would measure the sandbox, not the sender.
- fairness: limits on; a sender paced at 29/s over 100 chats (so ~0.3/s per chat) for
  8 s must get zero 429s; the same messages sent unpaced, side by side.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import statistics
import sys
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import aiohttp
from httpcore import _synchronization as httpcore_sync

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("PTB_TIMEDELTA", "1")

from telegram import Bot
from telegram.error import RetryAfter
from telegram.request import HTTPXRequest

from sandbox.app import DEFAULT_TOKEN
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


@contextlib.contextmanager
def probe_short_circuited() -> Iterator[None]:
    """What installing `sniffio` buys: httpcore learns "asyncio" without a failing import."""
    original = httpcore_sync.current_async_library
    httpcore_sync.current_async_library = lambda: "asyncio"
    try:
        yield
    finally:
        httpcore_sync.current_async_library = original


@contextlib.asynccontextmanager
async def sandbox_process() -> AsyncIterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "HTTP_HOST": "127.0.0.1", "TELEGRAM_BOT_TOKEN": ""}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gridlink.cli", "sandbox", "--port", str(port), env=env,
        stderr=asyncio.subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(200):
                try:
                    async with http.get(f"{url}/sandbox/api/info") as response:
                        if response.status == 200:
                            break
                except aiohttp.ClientError:
                    await asyncio.sleep(0.05)
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 10)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    async with sandbox_process() as url, aiohttp.ClientSession() as http:
        client = SandboxClient(url, http)
        chats = await users(client)
        await ptb_capacity(url, chats, 200)  # warm-up
        figures: dict[str, list[float]] = {"raw": [], "ptb": [], "ptb_probe": []}
        per_round = args.messages // args.rounds
        for _ in range(args.rounds):
            figures["raw"].append(await raw_capacity(url, chats, per_round))
            figures["ptb"].append(await ptb_capacity(url, chats, per_round))
            with probe_short_circuited():
                figures["ptb_probe"].append(await ptb_capacity(url, chats, per_round))
        raw, ptb, fast = (statistics.median(figures[k]) for k in ("raw", "ptb", "ptb_probe"))
        print(f"capacity, limits off, {args.messages} messages per client to {CHATS} chats, "
              f"{IN_FLIGHT} in flight, median of {args.rounds} interleaved rounds:")
        print(f"  raw aiohttp JSON          {raw:6.0f} msg/s = {raw / 30:5.1f}× Telegram's 30/s")
        print(f"  PTB as installed          {ptb:6.0f} msg/s = {ptb / 30:5.1f}×")
        print(f"  PTB, no per-request probe {fast:6.0f} msg/s = {fast / 30:5.1f}×  "
              f"({fast / ptb:.2f}× PTB as installed)")
        paced = await fairness(url, chats, client, rate=29.0, seconds=8)
        unpaced = await fairness(url, chats, client, rate=None, seconds=8)
        print("fairness, limits on (30/s bot, 1/s burst 3 per chat), 232 messages to 100 chats:")
        print(f"  paced at 29/s   sent {paced[0]:4d}  429s {paced[1]:4d}  "
              f"achieved {paced[2]:5.1f} msg/s ({paced[2] / 30:.0%} of 30/s)")
        print(f"  unpaced         sent {unpaced[0]:4d}  429s {unpaced[1]:4d}  "
              f"achieved {unpaced[2]:5.1f} msg/s")


if __name__ == "__main__":
    asyncio.run(main())
