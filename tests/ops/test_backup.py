"""`gridlink backup` of a running embedded district (a writer busy throughout), `gridlink restore`
into a fresh data directory, then `gridlink web` started on it: every case, photo, roster
binding and queued message is there, and the statistics are what a fresh rebuild makes."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp.test_utils import TestServer

from gridlink import auth
from gridlink.app import create_app
from gridlink.db import make_client
from gridlink.embedded import EmbeddedServer, free_port
from gridlink.schema import ensure_indexes
from gridlink.settings import PROJECT_ROOT, load_settings
from grids.importer import parse_grid
from grids.repository import bind, install_grid
from notify import render
from notify import repository as notify_repo
from notify.config import NotifyConfig
from notify.recipients import Recipient
from stats import repository as stats_repo
from stats import rollups
from tests.bot.conftest import BLOCK_ONE, INSIDE, MINI_GRID
from tests.bot.test_flows import jpeg

DB_NAME = "district"


def _env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MONGODB_", "DATA_DIR"))}
    return {**env, "DATA_DIR": str(data_dir), "MONGODB_DB": DB_NAME, "PYTHONUNBUFFERED": "1", **extra}


def _gridlink(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "gridlink.cli", *args], env=env, cwd=PROJECT_ROOT,
                          capture_output=True, text=True, timeout=120)


def _start_web(env: dict[str, str]) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "gridlink.cli", "web"], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _serve(data_dir: Path) -> EmbeddedServer:
    """The embedded server on `data_dir`, announced where `gridlink` processes look for it."""
    server = EmbeddedServer(data_dir / "db")
    server.start()
    (data_dir / "db" / "server.json").write_text(json.dumps({"port": server.port, "kind": server.kind}))
    return server


async def _stats_now(db: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    return rollups.normalise(await stats_repo.all_rollups(db)), await stats_repo.all_open(db)


async def test_backup_while_running_then_restore_and_start(tmp_path: Path) -> None:
    source, fresh, backup_dir = tmp_path / "live", tmp_path / "restored", tmp_path / "backup"
    (source / "db").mkdir(parents=True)
    server = _serve(source)
    settings = load_settings(mongodb_uri=None, mongodb_db=DB_NAME, data_dir=source,
                             webhook_secret="backup-test-secret", telegram_api_url=f"http://127.0.0.1:{free_port()}",
                             rate_limit_ip_requests=0)
    client = make_client(server.uri, settings)
    db = client[DB_NAME]
    restored_server: EmbeddedServer | None = None
    web: subprocess.Popen[bytes] | None = None
    try:
        now = datetime.now(UTC)
        await ensure_indexes(db)
        await install_grid(db, grid=parse_grid(MINI_GRID), source="tests", now=now)
        token = await auth.create_token(db, role="admin", unit="310101", district="310101", name="ops", now=now)
        headers = {"Authorization": f"Bearer {token}"}
        for user_id, role in ((7001, "leader"), (7002, "coordinator")):
            await bind(db, user_id=user_id, chat_id=user_id, role=role, unit=BLOCK_ONE,
                       name=f"member {user_id}", locale="en", now=now)

        app = create_app(settings, mongo_uri=server.uri)
        async with TestServer(app, host="127.0.0.1") as ts, aiohttp.ClientSession() as http:
            base = str(ts.make_url("")).rstrip("/")

            async def report(n: int, photos: list[str]) -> str:
                body = {"channel": "hotline_12345", "kind": "complaint", "category": "road_damage",
                        "description": f"pothole {n}", "location": {"lat": INSIDE[0], "lon": INSIDE[1]}, "photos": photos}
                async with http.post(base + "/api/v1/cases", json=body, headers=headers) as r:
                    data = await r.json()
                    assert r.status == 201, data
                    return str(data["case"]["serial"])

            photos: list[str] = []
            for i in range(3):
                form = aiohttp.FormData()
                form.add_field("photo", jpeg((40 * i, 90, 60)), filename="p.jpg", content_type="image/jpeg")
                async with http.post(base + "/api/v1/media", data=form, headers=headers) as r:
                    body = await r.json()
                    assert r.status in (200, 201), body
                    photos.append(str(body.get("id") or body.get("photo_id") or body["media_id"]))
            serials = [await report(i, [photos[i]] if i < 3 else []) for i in range(6)]

            # A half-sent outbox: six messages queued, three of them sent.
            cfg = NotifyConfig.from_settings(settings)
            leader = Recipient(chat_id=7001, locale="en", unit=BLOCK_ONE, role="leader", name="member 7001")
            msgs = [render.message(source=f"ops-test:{i}", recipient=leader, key="notify.undeliverable",
                                   kw={"name": "x", "unit": "y", "reason": "z", "text": f"message {i}"},
                                   kind="undeliverable", now=now, cfg=cfg, case_id=None) for i in range(6)]
            await notify_repo.enqueue(db, messages=msgs)
            for i, msg in enumerate(msgs[:3]):
                claimed = await notify_repo.claim_message(db, msg=msg, now=now, lease=timedelta(seconds=30),
                                                          worker="test")
                assert claimed is not None
                await notify_repo.mark_sent(db, msg=claimed, now=now, message_id=100 + i)

            # Back up while a writer keeps reporting cases through the running app.
            written: list[str] = []
            stop = asyncio.Event()

            async def writer() -> None:
                n = 100
                while not stop.is_set():
                    written.append(await report(n, []))
                    n += 1

            task = asyncio.create_task(writer())
            started = time.monotonic()
            done = await asyncio.to_thread(_gridlink, "backup", str(backup_dir), env=_env(source))
            backup_s = time.monotonic() - started
            stop.set()
            await task
            assert done.returncode == 0, done.stderr
            manifest = json.loads(done.stdout)
            assert manifest["databases"][DB_NAME]["collections"]["cases"] >= len(serials)
            assert written, "the writer never ran during the backup"

        # Restoring onto a data directory a server is running on is refused, with the reason.
        refused = _gridlink("restore", str(backup_dir), env=_env(source))
        assert refused.returncode == 1 and "stop gridlink" in refused.stderr

        started = time.monotonic()
        restored = _gridlink("restore", str(backup_dir), env=_env(fresh))
        restore_s = time.monotonic() - started
        assert restored.returncode == 0, restored.stderr
        report_out = json.loads(restored.stdout)
        n_cases = report_out["rebuilt"]["cases"]
        assert len(serials) <= n_cases <= len(serials) + len(written)

        # Start the system on the restored directory: the embedded server and `gridlink web`.
        restored_server = _serve(fresh)
        port = free_port()
        web = _start_web(_env(fresh, HTTP_PORT=str(port), WEBHOOK_SECRET="backup-test-secret",
                              TELEGRAM_API_URL=settings.telegram_api_url, RATE_LIMIT_IP_REQUESTS="0"))
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            for _ in range(150):
                try:
                    async with http.get(url + "/healthz") as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert web.poll() is None, "gridlink web exited on the restored data"
                await asyncio.sleep(0.2)
            for serial in serials:
                async with http.get(f"{url}/api/v1/cases/{serial}", headers=headers) as r:
                    assert r.status == 200, (serial, r.status)
            for photo in photos:
                async with http.get(f"{url}/api/v1/media/{photo}?size=web", headers=headers) as r:
                    assert r.status == 200 and len(await r.read()) > 100, (photo, r.status)
            async with http.get(f"{url}/api/v1/ops/outbox", headers=headers) as r:
                outbox = await r.json()
                assert r.status == 200, outbox
            await asyncio.sleep(2.5)  # the web's background folder runs on the restored data

        rclient = make_client(restored_server.uri, settings)
        try:
            rdb = rclient[DB_NAME]
            roster = {d["user_id"]: d["role"] async for d in rdb.roster.find({})}
            assert roster == {7001: "leader", 7002: "coordinator"}
            states = {}
            for msg in msgs:
                stored = await notify_repo.outbox_of(rdb, msg["chat_id"]).find_one({"_id": msg["_id"]})
                assert stored is not None, msg["_id"]
                states[msg["_id"]] = stored["state"]
            assert sorted(states.values()) == ["queued"] * 3 + ["sent"] * 3
            assert outbox["queued"] == 3, outbox
            assert await rdb.cases.count_documents({}) == n_cases
            # Statistics after restore and a running folder, against a rebuild from the cases.
            after = await _stats_now(rdb)
            await rollups.rebuild(rdb, tz=settings.tz)
            assert await _stats_now(rdb) == after
            assert after[0] and after[1], "no statistics after the restore"
        finally:
            await rclient.close()
        print(f"\nbackup {backup_s:.2f}s with a writer ({len(written)} cases written meanwhile), "
              f"restore+rebuild {restore_s:.2f}s, {n_cases} cases restored")
    finally:
        if web is not None and web.poll() is None:
            web.terminate()
            web.wait(timeout=20)
        await client.close()
        server.stop()
        if restored_server is not None:
            restored_server.stop()
