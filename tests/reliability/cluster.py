"""Several real processes on one database: `gridlink web` ×N and `gridlink worker` ×N as
subprocesses, their own embedded database server (stopped and started by the tests), and the
Bot API sandbox served on loopback. Logs go to files the tests read (secrets grep)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp

from gridlink import auth
from gridlink.db import Client, Database
from gridlink.embedded import EmbeddedServer, free_port
from gridlink.schema import ensure_indexes
from gridlink.settings import PROJECT_ROOT, load_settings
from grids.importer import parse_grid
from grids.repository import bind, install_grid
from tests.bot.conftest import BLOCK_ONE, MINI_GRID
from tests.sandbox.conftest import RunningSandbox, running_sandbox

SECRET = "reliability-webhook-secret-" + uuid.uuid4().hex[:12]
DB_TIMEOUT_MS = 1500


@dataclass
class Proc:
    kind: str  # web | worker
    env: dict[str, str]
    log: Path
    port: int | None = None
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log, "ab") as out:
            self.popen = subprocess.Popen([sys.executable, "-m", "gridlink.cli", self.kind],
                                          env=self.env, cwd=PROJECT_ROOT, stdout=out, stderr=out)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        assert self.popen is not None
        self.popen.send_signal(sig)
        self.popen.wait(timeout=20)

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within 15 s; returns the exit code."""
        assert self.popen is not None
        self.popen.send_signal(signal.SIGTERM)
        try:
            return self.popen.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=10)
            return None

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    tmp: Path
    server: EmbeddedServer
    sb: RunningSandbox
    client: Client
    db: Database
    db_name: str
    webs: list[Proc] = field(default_factory=list)
    workers: list[Proc] = field(default_factory=list)
    tokens: dict[str, str] = field(default_factory=dict)
    http: aiohttp.ClientSession | None = None

    def env(self, **extra: str) -> dict[str, str]:
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOME": os.environ.get("HOME", "/tmp"),
            "MONGODB_URI": self.server.uri, "MONGODB_DB": self.db_name,
            "MONGODB_TIMEOUT_MS": str(DB_TIMEOUT_MS), "TELEGRAM_API_URL": self.sb.url,
            "WEBHOOK_SECRET": SECRET, "DATA_DIR": str(self.tmp / "data"), "GRID_REFRESH_S": "1",
            "NOTIFY_RATE_PER_S": "1000", "NOTIFY_CHAT_INTERVAL_S": "0", "NOTIFY_POLL_S": "0.2",
            "NOTIFY_LEASE_S": "3", "NOTIFY_LEADER_TTL_S": "2", "NOTIFY_BACKOFF_S": "0.3",
            "NOTIFY_MAX_ATTEMPTS": "8", "RATE_LIMIT_IP_REQUESTS": "0", "PYTHONUNBUFFERED": "1",
        }
        env.update(extra)
        return env

    def add_web(self, **extra: str) -> Proc:
        port = free_port()
        proc = Proc("web", self.env(HTTP_PORT=str(port), PUBLIC_BASE_URL=f"http://127.0.0.1:{port}",
                                    **extra), self.tmp / f"web{len(self.webs)}.log", port=port)
        self.webs.append(proc)
        return proc

    def add_worker(self, **extra: str) -> Proc:
        proc = Proc("worker", self.env(**extra), self.tmp / f"worker{len(self.workers)}.log")
        self.workers.append(proc)
        return proc

    async def wait_web(self, proc: Proc, limit_s: float = 60.0) -> None:
        """Until the web answers healthz 200 and its bot has reached the sandbox."""
        assert self.http is not None
        started = time.monotonic()
        while True:
            assert proc.alive, f"{proc.log.name} exited: {proc.log.read_text()[-2000:]}"
            with contextlib.suppress(aiohttp.ClientError, asyncio.TimeoutError):
                async with self.http.get(proc.url + "/healthz") as resp:
                    if resp.status == 200 and "bot ready" in proc.log.read_text():
                        return
            assert time.monotonic() - started < limit_s, f"{proc.log.name} never came up"
            await asyncio.sleep(0.2)

    async def wait_worker(self, proc: Proc, limit_s: float = 60.0) -> None:
        started = time.monotonic()
        while proc.log.stat().st_size == 0 if proc.log.exists() else True:
            assert proc.alive, f"{proc.log.name} exited"
            assert time.monotonic() - started < limit_s, f"{proc.log.name} never logged"
            await asyncio.sleep(0.2)

    async def start_all(self) -> None:
        for p in self.webs + self.workers:
            if not p.alive:
                p.start()
        await asyncio.gather(*(self.wait_web(w) for w in self.webs),
                             *(self.wait_worker(w) for w in self.workers))

    def logs(self) -> str:
        return "\n".join(p.log.read_text(errors="replace") for p in self.webs + self.workers
                         if p.log.exists())

    def bearer(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    async def post(self, web: Proc, path: str, body: Any, *, role: str = "dispatcher",
                   headers: dict[str, str] | None = None, limit_s: float = 20.0) -> tuple[int, Any]:
        assert self.http is not None
        async with self.http.post(web.url + path, json=body, headers={**self.bearer(role), **(headers or {})},
                                  timeout=aiohttp.ClientTimeout(total=limit_s)) as resp:
            return resp.status, await resp.json(content_type=None)

    async def webhook(self, web: Proc, update: dict[str, Any], *, secret: str | None = SECRET
                      ) -> tuple[int, Any]:
        assert self.http is not None
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret is not None else {}
        async with self.http.post(web.url + "/telegram/webhook", json=update, headers=headers,
                                  timeout=aiohttp.ClientTimeout(total=20)) as resp:
            return resp.status, await resp.json(content_type=None)


def text_update(update_id: int, user: dict[str, Any], text: str, message_id: int) -> dict[str, Any]:
    """A Telegram Update carrying a private text message, as Telegram would POST it."""
    entities = [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}] \
        if text.startswith("/") else []
    return {"update_id": update_id, "message": {
        "message_id": message_id, "date": int(time.time()), "text": text, "entities": entities,
        "chat": {"id": user["id"], "type": "private", "first_name": user["first_name"]},
        "from": {"id": user["id"], "is_bot": False, "first_name": user["first_name"],
                 "language_code": user.get("language_code", "en")}}}


@contextlib.asynccontextmanager
async def cluster(tmp: Path, *, webs: int = 2, workers: int = 2,
                  leader_name: str = "Leader") -> AsyncIterator[Cluster]:
    server = EmbeddedServer(tmp / "db")
    server.start()
    db_name = "rel_" + uuid.uuid4().hex[:10]
    settings = load_settings(mongodb_uri=server.uri, mongodb_db=db_name, mongodb_timeout_ms=DB_TIMEOUT_MS)
    from gridlink.db import make_client
    client = make_client(server.uri, settings)
    db = client[db_name]
    procs: list[Proc] = []
    made: list[Cluster] = []
    try:
        async with running_sandbox(webhook_retry_delay=0.2, webhook_retry_max=1.0) as sb, \
                aiohttp.ClientSession() as http:
            now = datetime.now(UTC)
            await ensure_indexes(db)
            await install_grid(db, grid=parse_grid(MINI_GRID), source="tests", now=now)
            c = Cluster(tmp=tmp, server=server, sb=sb, client=client, db=db, db_name=db_name, http=http)
            made.append(c)
            for role, unit in (("admin", "310101"), ("dispatcher", "310101"), ("leader", BLOCK_ONE)):
                c.tokens[role] = await auth.create_token(db, role=role, unit=unit, district="310101",
                                                         name=role, now=now)
            leader = await sb.client.create_user(leader_name, language_code="en")
            await bind(db, user_id=leader["id"], chat_id=leader["id"], role="leader", unit=BLOCK_ONE,
                       name=leader_name, locale="en", now=now)
            c.tokens["leader_chat"] = str(leader["id"])
            for _ in range(webs):
                c.add_web()
            for _ in range(workers):
                c.add_worker()
            procs = c.webs + c.workers
            await c.start_all()
            yield c
    finally:
        for p in procs:
            if p.alive:
                p.stop()
        await client.close()
        server.stop()
        for c in made:  # a test may have replaced the server (stopped and started it again)
            c.server.stop()
