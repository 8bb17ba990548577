"""The skeleton: settings, health, JSON errors, tokens, indexes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gridlink import auth
from gridlink.app import create_app
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.embedded import EmbeddedServer
from gridlink.settings import Settings, SettingsError, load_settings


async def test_healthz_reports_database_round_trip(client: TestClient[object, object]) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok"
    assert body["db"]["rtt_ms"] >= 0


async def test_unknown_api_route_is_json_404(client: TestClient[object, object]) -> None:
    resp = await client.get("/api/v1/nothing-here")
    assert resp.status == 404
    body = await resp.json()
    assert body["error"]["code"] == "not_found"


def test_invalid_setting_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTP_PORT", "seventy")
    monkeypatch.setenv("TIMEZONE", "Mars/Olympus")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "HTTP_PORT" in str(err.value)
    assert "TIMEZONE" in str(err.value)


def test_cli_refuses_bad_settings_with_message(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gridlink.cli", "web"],
        env={"PATH": "/usr/bin:/bin", "MONGODB_URI": "postgres://nope"},
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "MONGODB_URI" in proc.stderr


def test_defaults_match_readme() -> None:
    s = Settings()
    assert s.timezone == "Asia/Shanghai"
    assert s.default_locale == "zh-CN"
    assert s.http_port == 8080


async def test_staff_token_stored_hashed_and_checked(db: Database, clock: FakeClock) -> None:
    token = await auth.create_token(db, role="dispatcher", unit="310101001", district="310101",
                                    name="Wang", now=clock.now())
    stored = await db.api_tokens.find_one({})
    assert stored is not None and token not in str(stored)
    who = await auth.authenticate(db, token=token, district="310101", now=clock.now())
    assert who.role == "dispatcher"
    with pytest.raises(auth.NotAuthenticated):
        await auth.authenticate(db, token=token, district="310102", now=clock.now())
    with pytest.raises(auth.NotAuthenticated):
        await auth.authenticate(db, token="glk_wrong", district="310101", now=clock.now())


async def test_healthz_turns_503_while_database_is_down_and_recovers(
    tmp_path: Path, settings: Settings
) -> None:
    """Kill the database under a running app: 503 with a JSON reason, then 200 by itself."""
    server = EmbeddedServer(tmp_path / "own-db")
    server.start()
    try:
        own = settings.model_copy(update={"mongodb_uri": server.uri, "mongodb_timeout_ms": 500})
        app = create_app(own, mongo_uri=server.uri)
        async with TestClient(TestServer(app)) as http:
            assert (await http.get("/healthz")).status == 200
            await asyncio.to_thread(server.stop, True)
            resp = await http.get("/healthz")
            assert resp.status == 503
            body = await resp.json()
            assert body["error"]["code"] == "database_unavailable"
            assert body["error"]["message"]
            await asyncio.to_thread(server.start)
            for _ in range(60):
                resp = await http.get("/healthz")
                if resp.status == 200:
                    break
                await asyncio.sleep(0.25)
            assert resp.status == 200
    finally:
        server.stop()


async def test_data_survives_server_restart(tmp_path: Path, settings: Settings) -> None:
    server = EmbeddedServer(tmp_path / "persist")
    server.start()
    try:
        own = settings.model_copy(update={"mongodb_uri": server.uri})
        app = create_app(own, mongo_uri=server.uri)
        async with TestClient(TestServer(app)):
            pass
        from gridlink.db import make_client

        c = make_client(server.uri, own)
        await c[own.mongodb_db].things.insert_one({"_id": "kept", "n": 1})
        await c.close()
        await asyncio.to_thread(server.stop)
        await asyncio.to_thread(server.start)
        c = make_client(server.uri, own)
        assert await c[own.mongodb_db].things.find_one({"_id": "kept"}) == {"_id": "kept", "n": 1}
        await c.close()
    finally:
        server.stop()
