"""Cheap abuse: deep JSON is a 400, an oversized anonymous body a 413, both JSON, never a 500;
a photo route still takes a photo-sized body; every HTML page carries the security headers."""

from __future__ import annotations

import io
import json
from typing import Any

from aiohttp import FormData, web
from aiohttp.test_utils import TestClient

from api.security import CSP
from gridlink.settings import Settings

Client = TestClient[web.Request, web.Application]
RATING = "/api/v1/portal/cases/A20261127-00001/rating"


async def test_deeply_nested_json_on_anonymous_routes_is_a_400(client: Client, settings: Settings) -> None:
    for depth in (20_000, 40):  # past the decoder's recursion; past JSON_MAX_DEPTH
        body = "[" * depth + "]" * depth
        for path, headers in ((RATING, {}),
                              ("/telegram/webhook", {"X-Telegram-Bot-Api-Secret-Token": settings.webhook_secret})):
            async with client.post(path, data=body, headers={"Content-Type": "application/json", **headers}) as resp:
                assert resp.status == 400, (path, depth, resp.status)
                err = (await resp.json())["error"]
                assert err["code"] == "json_too_deep" and "nested" in err["message"]
    # request.json() ignores the Content-Type: a deep body labelled text/plain is checked too
    async with client.post("/telegram/webhook", data="[" * 20_000 + "]" * 20_000, headers={
            "Content-Type": "text/plain", "X-Telegram-Bot-Api-Secret-Token": settings.webhook_secret}) as resp:
        assert resp.status == 400
    # shallow JSON still reaches the route (which refuses it for its own reasons)
    async with client.post(RATING, json={"code": "ABCDEF", "score": 5, "x": [[[1]]]}) as resp:
        assert resp.status in (400, 403, 404) and resp.status != 500


async def test_oversized_anonymous_body_is_a_413_json_error(client: Client, settings: Settings) -> None:
    big = json.dumps({"code": "ABCDEF", "score": 5, "pad": "x" * (settings.http_max_body_anonymous + 1)})
    async with client.post(RATING, data=big, headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] == "body_too_large"

    async def chunks() -> Any:  # no Content-Length: the limit still holds while reading
        for _ in range(20):
            yield b"x" * 8192

    async with client.post(RATING, data=chunks(), headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 413
        assert (await resp.json())["error"]["code"] in ("body_too_large", "request_entity_too_large")
    # the desk's sign-in form is anonymous too
    async with client.post("/desk/signin", data={"username": "x", "password": "y" * 100_000},
                           allow_redirects=False) as resp:
        assert resp.status == 413
    # a staff route takes more than an anonymous one (then refuses the caller for its own reasons)
    body = json.dumps({"pad": "x" * (settings.http_max_body_anonymous * 2)})
    async with client.post("/api/v1/cases", data=body, headers={"Content-Type": "application/json"}) as resp:
        assert resp.status == 401


async def test_photo_routes_take_photo_sized_bodies(client: Client, settings: Settings) -> None:
    big = b"\xff" * (2 * 1024 * 1024)
    for path, field in (("/api/v1/media", "photo"), ("/open311/v2/requests.json", "media")):
        form = FormData()
        form.add_field(field, io.BytesIO(big), filename="p.jpg", content_type="image/jpeg")
        form.add_field("service_code", "x")
        async with client.post(path, data=form) as resp:
            # past the size check: refused for want of a token or api_key
            assert resp.status in (400, 401, 403), (path, resp.status)


def _html_routes(app: web.Application) -> list[str]:
    out = []
    for route in app.router.routes():
        resource = route.resource
        if route.method == "GET" and resource is not None and "{" not in resource.canonical:
            out.append(resource.canonical)
    return sorted(set(out))


async def test_every_html_page_sends_csp_and_frame_protection(client: Client) -> None:
    pages = 0
    for path in _html_routes(client.app):
        async with client.get(path, allow_redirects=False) as resp:
            await resp.read()
            assert resp.headers.get("X-Content-Type-Options") == "nosniff", path
            if resp.content_type != "text/html":
                continue
            pages += 1
            assert resp.headers.get("Content-Security-Policy"), path
            assert "script-src 'self'" in resp.headers["Content-Security-Policy"], path
            assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"], path
            assert resp.headers.get("X-Frame-Options") == "DENY", path
            assert resp.headers.get("Referrer-Policy"), path
            if not path.startswith("/desk"):
                assert resp.headers["Content-Security-Policy"] == CSP, path
    assert pages >= 6  # docs, board, map, hotspots, assessment, portal, desk sign-in
