"""TRUSTED_PROXIES: forwarding headers count only from a trusted peer, for the per-address
limits and for deciding whether the client came over https."""

from __future__ import annotations

from typing import Any
from unittest.mock import Mock

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer, make_mocked_request

from gridlink.app import create_app
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.proxy import client_ip, is_https, secure_cookies
from gridlink.settings import Settings, load_settings

Client = TestClient[web.Request, web.Application]


async def _statuses(client: Client, forwarded_for: list[str]) -> list[int]:
    out = []
    for addr in forwarded_for:
        async with client.post("/api/v1/cases", json={}, headers={"X-Forwarded-For": addr}) as resp:
            out.append(resp.status)
    return out


async def _app(settings: Settings, mongo_uri: str, clock: FakeClock, **overrides: Any) -> Client:
    conf = settings.model_copy(update={"rate_limit_ip_requests": 2, **overrides})
    client: Client = TestClient(TestServer(create_app(conf, mongo_uri=mongo_uri, clock=clock)))
    await client.start_server()
    return client


async def test_forwarded_for_is_ignored_from_an_untrusted_peer(
        settings: Settings, mongo_uri: str, clock: FakeClock, db: Database) -> None:
    client = await _app(settings, mongo_uri, clock)
    try:
        # a client cannot pick a fresh budget by inventing addresses
        assert await _statuses(client, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) == [401, 401, 429]
    finally:
        await client.close()


async def test_forwarded_for_is_used_from_a_trusted_proxy(
        settings: Settings, mongo_uri: str, clock: FakeClock, db: Database) -> None:
    client = await _app(settings, mongo_uri, clock, trusted_proxies="127.0.0.1/32, ::1")
    try:
        # three clients behind the proxy: three budgets
        assert await _statuses(client, ["10.0.0.1", "10.0.0.2", "10.0.0.3"]) == [401, 401, 401]
        # one client: its own budget; what it wrote to the left of the proxy's entry is ignored
        assert await _statuses(client, ["6.6.6.1, 10.0.0.1", "6.6.6.2, 10.0.0.1"]) == [401, 429]
    finally:
        await client.close()


def _request(peer: str, headers: dict[str, str]) -> web.Request:
    transport = Mock()
    transport.get_extra_info = Mock(side_effect=lambda name, default=None:
                                    (peer, 40000) if name == "peername" else None)
    return make_mocked_request("GET", "/desk/signin", headers=headers, transport=transport)


def test_client_ip_and_scheme_follow_trusted_proxies_only() -> None:
    trusted = load_settings(trusted_proxies="10.1.0.0/16")
    plain = load_settings()
    hdrs = {"X-Forwarded-For": "203.0.113.9, 10.1.2.3", "X-Forwarded-Proto": "https"}
    via_proxy = _request("10.1.0.5", hdrs)
    assert client_ip(via_proxy, trusted) == "203.0.113.9"  # 10.1.2.3 is another trusted hop
    assert is_https(via_proxy, trusted) and secure_cookies(via_proxy, trusted)
    assert client_ip(via_proxy, plain) == "10.1.0.5" and not is_https(via_proxy, plain)
    direct = _request("198.51.100.7", hdrs)
    assert client_ip(direct, trusted) == "198.51.100.7" and not is_https(direct, trusted)
    assert not secure_cookies(direct, trusted)
    fwd = _request("10.1.0.5", {"Forwarded": 'for="[2001:db8::1]:443";proto=https, for=10.1.9.9'})
    assert client_ip(fwd, trusted) == "2001:db8::1" and is_https(fwd, trusted)
    garbage = _request("10.1.0.5", {"X-Forwarded-For": "not-an-ip, 10.1.2.3"})
    assert client_ip(garbage, trusted) == "10.1.2.3"
    http = _request("10.1.0.5", {"X-Forwarded-Proto": "http"})
    assert not is_https(http, trusted)
    assert secure_cookies(http, trusted.model_copy(update={"public_base_url": "https://x.example"}))


