"""One product (issue 23) over HTTP: the language switch serves the public pages too (its
cookie is the whole site's, it may return to a public page and nowhere else), and the pages are
rendered on the desk's layout in the chosen language."""

from __future__ import annotations

import re

from tests.desk.conftest import Desk

CJK = re.compile(r"[\u4e00-\u9fff]")


async def test_the_language_switch_returns_to_public_pages_only(desk: Desk) -> None:
    c = await desk.client()
    resp = await c.get("/desk/locale?to=en&next=/hotspots?by=category", allow_redirects=False)
    assert resp.status == 303 and resp.headers["Location"] == "/hotspots?by=category"
    cookie = next(v for v in resp.headers.getall("Set-Cookie") if v.startswith("gl_desk_locale="))
    assert "Path=/;" in cookie or cookie.rstrip().endswith("Path=/")
    for bad in ("//evil.example/board", "https://evil.example/", "/boardx", "/board/../desk"):
        resp = await c.get("/desk/locale", params={"to": "en", "next": bad}, allow_redirects=False)
        assert resp.headers["Location"] == "/desk/", bad


async def test_a_public_page_follows_the_switch_and_links_back_without_its_own_choice(desk: Desk) -> None:
    c = await desk.client()
    await c.get("/desk/locale?to=en&next=/board")
    page = await c.get("/board", headers={"Accept-Language": "zh-CN"})
    html = await page.text()
    assert page.headers["Content-Language"] == "en" and '<html lang="en">' in html
    title = re.search(r"<title>(.*?)</title>", html, re.S)
    assert title and not CJK.search(title.group(1))
    assert 'id="nav-board" aria-current="page"' in html and 'href="/desk/"' in html
    # An address's own choice wins for that page; its switch link drops it (else it would win again).
    page = await c.get("/trends?lang=zh&by=street")
    html = await page.text()
    assert '<html lang="zh-CN">' in html
    assert "next=/trends%3Fby%3Dstreet" in html and "lang%3Dzh" not in html
