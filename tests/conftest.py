"""Shared fixtures: one database server per session, a fresh database per test, the real app."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from aiohttp.test_utils import TestClient, TestServer

from gridlink.app import create_app
from gridlink.clock import FakeClock
from gridlink.db import Database, make_client
from gridlink.embedded import EmbeddedServer
from gridlink.schema import ensure_indexes
from gridlink.settings import Settings, load_settings


@pytest.fixture(scope="session")
def mongo_uri(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """MONGODB_URI when set, otherwise an embedded server for the whole session."""
    configured = os.environ.get("MONGODB_URI")
    if configured:
        yield configured
        return
    server = EmbeddedServer(tmp_path_factory.mktemp("db"))
    server.start()
    try:
        yield server.uri
    finally:
        server.stop()


@pytest.fixture
def settings(mongo_uri: str, tmp_path: Path) -> Settings:
    return load_settings(
        mongodb_uri=mongo_uri,
        mongodb_db=f"t_{uuid.uuid4().hex[:16]}",
        data_dir=tmp_path,
        mongodb_timeout_ms=2000,
        telegram_bot_token=None,
        webhook_secret="test-secret",
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def db(settings: Settings, mongo_uri: str) -> AsyncIterator[Database]:
    """A fresh database with every index, dropped after the test."""
    client = make_client(mongo_uri, settings)
    database = client[settings.mongodb_db]
    await ensure_indexes(database)
    try:
        yield database
    finally:
        await client.drop_database(settings.mongodb_db)
        await client.close()


@pytest.fixture
async def client(settings: Settings, mongo_uri: str, clock: FakeClock,
                 db: Database) -> AsyncIterator[TestClient[object, object]]:
    """An HTTP client talking to the real app on a real loopback server."""
    app = create_app(settings, mongo_uri=mongo_uri, clock=clock)
    async with TestClient(TestServer(app)) as test_client:
        yield test_client
