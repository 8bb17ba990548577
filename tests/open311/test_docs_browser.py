"""The docs page renders the API in headless Chromium with every outside request refused:
the bundled ReDoc draws the operations from /api/openapi.json, offline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


async def test_docs_page_renders_offline(client: TestClient[Any, Any]) -> None:
    if not HAVE_CHROMIUM:
        pytest.skip("Debian chromium is not installed (make browser)")
    from playwright.async_api import Route, async_playwright

    base = str(client.make_url("/")).rstrip("/")
    outside: list[str] = []

    async def only_local(route: Route) -> None:
        if route.request.url.startswith(base):
            await route.continue_()
        else:
            outside.append(route.request.url)
            await route.abort()

    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        try:
            page = await browser.new_page()
            page.set_default_timeout(20_000)
            await page.route("**/*", only_local)
            await page.goto(f"{base}/api/docs")
            await page.wait_for_selector("text=Report: create a service request", state="attached")
            text = await page.inner_text("body")
        finally:
            await browser.close()
    assert "gridlink API" in text
    assert "Open311 GeoReport v2" in text and "cases" in text
    # Fonts or scripts from a CDN would be refused here; the page must not need any.
    assert not [u for u in outside if u.endswith((".js", ".css"))], outside
