"""`gridlink sandbox` serves the sandbox as a process."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys

import aiohttp

from sandbox.app import DEFAULT_TOKEN


async def test_gridlink_sandbox_serves_the_bot_api_and_the_page() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "HTTP_HOST": "127.0.0.1", "TELEGRAM_BOT_TOKEN": ""}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "gridlink.cli", "sandbox", "--port", str(port), "--rate-limits",
        env=env, stderr=asyncio.subprocess.PIPE)
    url = f"http://127.0.0.1:{port}"
    try:
        async with aiohttp.ClientSession() as http:
            for _ in range(300):
                try:
                    async with http.get(f"{url}/sandbox/api/info") as response:
                        info = await response.json()
                        break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.05)
            assert info["rate_limits"] is True and info["bot"]["username"] == "gridlink_bot"
            async with http.post(f"{url}/bot{DEFAULT_TOKEN}/getMe") as response:
                assert (await response.json())["result"]["id"] == 123456789
            async with http.get(f"{url}/") as response:
                assert response.status == 200 and "Telegram sandbox" in await response.text()
            async with http.get(f"{url}/static/app.js") as response:
                assert response.status == 200
    finally:
        proc.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(proc.communicate(), 15)
    assert proc.returncode == 0, stderr.decode()
    assert b"sandbox listening" in stderr
