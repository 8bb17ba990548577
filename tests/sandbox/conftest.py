"""The `sandbox` fixture: a Bot API sandbox on a real loopback server, with PTB's URLs.

Move it to tests/conftest.py when other packages' tests need it.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from sandbox.app import DEFAULT_TOKEN, create_sandbox_app, sandbox_of
from sandbox.client import SandboxClient
from sandbox.state import Sandbox


@dataclass
class RunningSandbox:
    url: str  # http://127.0.0.1:<port>
    token: str
    client: SandboxClient  # the control API: play users, read chats
    app: web.Application

    @property
    def state(self) -> Sandbox:
        return sandbox_of(self.app)

    @property
    def base_url(self) -> str:
        """For telegram.Bot(token, base_url=..., base_file_url=...)."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"


@contextlib.asynccontextmanager
async def running_sandbox(**options: Any) -> AsyncIterator[RunningSandbox]:
    """A sandbox app (options go to create_sandbox_app) served on 127.0.0.1."""
    options = {"bot_token": DEFAULT_TOKEN, "webhook_retry_delay": 0.05,
               "webhook_retry_max": 0.2, **options}
    app = create_sandbox_app(**options)
    server = TestServer(app, host="127.0.0.1")
    # Like `gridlink sandbox`: no access log (Telegram's request paths carry the bot token).
    # TestServer ignores runner options given to its constructor; start_server takes them.
    await server.start_server(access_log=None)
    async with server, aiohttp.ClientSession() as session:
        url = str(server.make_url("")).rstrip("/")
        yield RunningSandbox(url=url, token=options["bot_token"],
                             client=SandboxClient(url, session), app=app)


@pytest.fixture
async def sandbox() -> AsyncIterator[RunningSandbox]:
    async with running_sandbox() as running:
        yield running
