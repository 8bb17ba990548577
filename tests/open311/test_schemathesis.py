"""Property-based API test: schemathesis generates requests for every operation of the served
OpenAPI document against the real app (real database, demo grid) and checks that no answer is
a 5xx and that every answer's status, content type and body match the document.

The server runs in its own thread and event loop because schemathesis calls it synchronously
(requests). Examples per operation are bounded and derandomized, so the run is repeatable and
takes about a minute.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from aiohttp import web
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from api.openapi import document
from gridlink import auth
from gridlink.app import create_app
from gridlink.clock import SystemClock
from gridlink.db import make_client
from gridlink.schema import ensure_indexes
from gridlink.settings import load_settings
from grids import repository as grids_repo
from grids.demo import demo_feature_collection
from grids.importer import parse_grid
from open311 import repository as open311_repo

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance,
          response_schema_conformance]
EXAMPLES = 10


@dataclass
class Served:
    url: str
    admin_token: str
    api_key: str


async def _seed(uri: str, db_name: str, tmp: Path) -> tuple[str, str]:
    cfg = load_settings(mongodb_uri=uri, mongodb_db=db_name, data_dir=tmp)
    client = make_client(uri, cfg)
    try:
        db = client[db_name]
        await ensure_indexes(db)
        now = SystemClock().now()
        grid = parse_grid(demo_feature_collection(district=cfg.district_code),
                          district_code=cfg.district_code)
        await grids_repo.install_grid(db, grid=grid, source="schemathesis", now=now)
        token = await auth.create_token(db, role="admin", unit=cfg.district_code,
                                        district=cfg.district_code, name="fuzz", now=now)
        key = await open311_repo.create_key(db, name="fuzz", now=now)
        return token, key
    finally:
        await client.close()


async def _drop(uri: str, db_name: str, tmp: Path) -> None:
    cfg = load_settings(mongodb_uri=uri, mongodb_db=db_name, data_dir=tmp)
    client = make_client(uri, cfg)
    try:
        await client.drop_database(db_name)
    finally:
        await client.close()


@pytest.fixture(scope="module")
def served(mongo_uri: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    tmp = tmp_path_factory.mktemp("fuzz")
    db_name = f"t_fuzz_{uuid.uuid4().hex[:10]}"
    cfg = load_settings(mongodb_uri=mongo_uri, mongodb_db=db_name, data_dir=tmp,
                        mongodb_timeout_ms=2000, telegram_bot_token=None,
                        webhook_secret="fuzz-secret",
                        # Off, so generated reports reach intake instead of a 429 after 120
                        # (the limit has its own tests; its 429 is documented as an error).
                        rate_limit_ip_requests=0)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="fuzz-server", daemon=True)
    thread.start()

    def run(coro: Any, timeout: float = 120) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, loop).result(timeout)

    token, key = run(_seed(mongo_uri, db_name, tmp))
    runner = web.AppRunner(create_app(cfg, mongo_uri=mongo_uri), access_log=None)

    async def start() -> int:
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return int(runner.addresses[0][1])

    port = run(start())
    try:
        yield Served(url=f"http://127.0.0.1:{port}", admin_token=token, api_key=key)
    finally:
        run(runner.cleanup())
        run(_drop(mongo_uri, db_name, tmp))
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


# Loaded at collection: one test per documented operation (the server's URL is given per call).
schema = schemathesis.openapi.from_dict(document())


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_conforms_to_its_document(case: Any, served: Served) -> None:
    headers: dict[str, str] = {}
    if case.path.startswith("/open311/"):
        # A valid key, so requests get past authentication into validation and intake.
        if isinstance(case.body, dict) and "api_key" in case.body:
            case.body["api_key"] = served.api_key
    else:
        headers["Authorization"] = f"Bearer {served.admin_token}"
    # A generous timeout: a loaded CI machine is slow, and slowness is not what this test checks.
    case.call_and_validate(base_url=served.url, headers=headers, checks=CHECKS, timeout=60)
