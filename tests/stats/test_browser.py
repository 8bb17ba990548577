"""The pages in headless Chromium (Debian's, driven by Playwright): the board renders and drills
down, the hotspot chart draws bars, the map draws block shapes, a serial lookup shows a timeline.
Screenshots go to test-artifacts/stats/."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gridlink.clock import FakeClock
from gridlink.db import Database
from stats.history import generate
from stats.rollups import rebuild

pytestmark = pytest.mark.browser

CHROMIUM = "/usr/bin/chromium"
HAVE_CHROMIUM = Path(CHROMIUM).exists()
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "stats"
NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)


@pytest.fixture
async def page() -> AsyncIterator[Any]:
    if not HAVE_CHROMIUM:
        pytest.skip("Debian chromium is not installed (make browser)")
    from playwright.async_api import async_playwright

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)
        # The pages follow the browser's language (one negotiator); these tests read Chinese.
        context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
        pg = await context.new_page()
        pg.set_default_timeout(15_000)
        try:
            yield pg
        finally:
            await browser.close()


@pytest.fixture
async def history(db: Database, clock: FakeClock) -> list[dict[str, Any]]:
    clock.set(NOW)
    docs = list(generate(400, now=NOW, years=0.05, seed=5))
    await db.cases.insert_many(docs)
    await rebuild(db)
    return docs


async def test_board_drills_down_and_map_draws_blocks(client: TestClient, history: list, page: Any) -> None:
    await page.goto(str(client.make_url("/board")))
    await page.wait_for_selector("#board tr.unit")
    assert await page.locator("#board h2").count() == 2  # streets and departments
    await page.wait_for_function("() => document.getElementById('headline').textContent.includes('现场处置')")
    assert await page.locator("#board td.red, #board td.yellow, #board td.blue").count() > 0
    await page.screenshot(path=str(ARTIFACTS / "board-district.png"), full_page=True)
    await page.locator("#board tr.unit").first.click()
    await page.wait_for_function("() => document.querySelector('#board h2')?.textContent.includes('工作站')")
    street = await page.locator("#board").get_attribute("data-unit")
    assert street and len(street) == 9
    # Down to the busiest workstation, its busiest block and that block's case list.
    await page.locator("#board tr.unit").first.click()
    await page.wait_for_function("() => document.querySelector('#board h2')?.textContent.includes('网格')")
    await page.locator("#board tr.unit").first.click()
    await page.wait_for_selector("#board table.cases")
    assert "›" in await page.locator("#crumbs").inner_text()
    await page.screenshot(path=str(ARTIFACTS / "board-block.png"), full_page=True)

    # The map of the same district: block shapes, clickable.
    await page.goto(str(client.make_url("/map")))
    await page.wait_for_function("() => Number(document.getElementById('map').dataset.blocks) > 0")
    shapes = await page.locator("#map path.block").count()
    assert shapes == int(await page.locator("#map").get_attribute("data-blocks")) > 50
    await page.screenshot(path=str(ARTIFACTS / "map.png"), full_page=True)
    await page.locator("#map path.block").first.dispatch_event("click")
    await page.wait_for_selector("#block h2")


async def test_hotspot_bars_and_serial_lookup(client: TestClient, history: list, page: Any) -> None:
    await page.goto(str(client.make_url("/hotspots?by=street&channel=hotline_12345&from=2026-11-10")))
    await page.wait_for_function("() => Number(document.getElementById('chart').dataset.bars) > 0")
    bars = int(await page.locator("#chart").get_attribute("data-bars"))
    expected = {d["placement"]["street"] for d in history if d["channel"] == "hotline_12345"
                and d["created_at"] >= datetime(2026, 11, 9, 16, tzinfo=UTC)}
    assert bars == len(expected)
    assert await page.locator("#chart canvas").count() >= 1
    shot = await page.locator("#chart").screenshot(path=str(ARTIFACTS / "hotspots.png"))
    from io import BytesIO

    import numpy as np
    from PIL import Image

    px = np.asarray(Image.open(BytesIO(shot)).convert("RGB")).astype(int)
    reds = int(((px[..., 0] > 150) & (px[..., 1] < 90) & (px[..., 2] < 90)).sum())
    assert reds > 500  # the bars are painted in the page's red


    # The portal: a serial lookup shows the case's timeline.
    done = next(d for d in reversed(history) if d["state"] == "closed" and d["public"]
                and not d.get("handled_on_the_spot"))
    await page.goto(str(client.make_url("/portal")))
    await page.fill("input[name=serial]", done["serial"])
    await page.click("#lookup button")
    await page.wait_for_selector("#timeline li")
    assert await page.locator("#timeline li").count() == len(done["history"])
    assert await page.locator("#status").inner_text() == "已结案"
    await page.wait_for_selector("#performance table")
    await page.screenshot(path=str(ARTIFACTS / "portal.png"), full_page=True)


async def test_assessment_drills_down_to_teams_and_coordinators(client: TestClient, history: list,
                                                                 page: Any) -> None:
    await page.goto(str(client.make_url("/assessment")))
    await page.wait_for_selector("table[data-table=departments] tr.unit")
    busiest = max((d for d in history if (d.get("assignee") or {}).get("kind") == "department"),
                  key=lambda d: sum(1 for e in history if e.get("assignee") == d["assignee"]))
    dept = busiest["assignee"]["unit"]
    await page.locator(f"table[data-table=departments] tr[data-unit='{dept}']").click()
    await page.wait_for_selector("table[data-table=teams] tbody tr")
    teams = await page.locator("table[data-table=teams] tbody tr").all_inner_texts()
    assert any("中队" in t for t in teams), teams
    await page.screenshot(path=str(ARTIFACTS / "assessment-teams.png"), full_page=True)
    # Street → its workstations → the busiest workstation's coordinators (patrol finders).
    finds: dict[str, int] = {}
    for d in history:
        ws = d["placement"].get("workstation")
        if d["channel"] == "patrol_bot" and ws:
            finds[ws] = finds.get(ws, 0) + 1
    ws = max(finds, key=lambda k: finds[k])
    await page.select_option("select[name=unit]", ws[:9])  # the street, chosen from the list
    await page.click("#controls button")
    await page.wait_for_selector(f"table[data-table=workstations] tr[data-unit='{ws}']")
    await page.locator(f"table[data-table=workstations] tr[data-unit='{ws}']").click()
    await page.wait_for_selector("table[data-table=coordinators] tbody tr")
    rows = await page.locator("table[data-table=coordinators] tbody tr").all_inner_texts()
    assert sum(int(r.split("\t")[2]) for r in rows) == finds[ws]  # 受理数 adds up to the finds
    await page.screenshot(path=str(ARTIFACTS / "assessment-coordinators.png"), full_page=True)


def test_artifacts_folder_is_ignored() -> None:
    gitignore = (Path(__file__).resolve().parents[2] / ".gitignore").read_text()
    assert "test-artifacts/" in gitignore
    assert shutil.which("git")


EVIL = '<img src=x class=injected onerror="window.pwned=1">'


@pytest.fixture
async def evil_names(db: Database, clock: FakeClock) -> dict[str, str]:
    """A grid whose district, streets and community blocks are named with markup, and an open
    public case whose category code is markup. Requested before `client`, so the app's unit
    directory is read from this grid."""
    from cases.model import OPEN_STATES
    from grids import repository as grids_repo
    from grids.demo import demo_feature_collection
    from grids.importer import parse_grid

    clock.set(NOW)
    fc = demo_feature_collection(district="310101")
    for feat in fc["features"]:
        props = feat["properties"]
        if props["level"] in ("district", "street", "community_block"):
            props["name"] = f"{EVIL}{props['name']}"
    await grids_repo.install_grid(db, grid=parse_grid(fc, district_code="310101"), source="test",
                                  now=NOW)
    docs = list(generate(400, now=NOW, years=0.05, seed=5))
    case = next(d for d in docs if d["state"] in OPEN_STATES and d.get("public")
                and d["placement"].get("community_block"))
    case["category"] = EVIL
    await db.cases.insert_many(docs)
    await rebuild(db)
    return {"block": case["placement"]["community_block"], "street": case["placement"]["street"]}


async def _shown_as_text(page: Any, where: str) -> None:
    """The markup names are on the page as text, and no element was made of them."""
    await page.wait_for_function("(where) => document.querySelector(where)?.textContent.includes('<img src=x')",
                                 arg=where)
    assert await page.locator("img.injected, img[src='x']").count() == 0, where
    assert await page.evaluate("() => window.pwned === undefined")


async def test_unit_and_category_names_are_text_not_markup(evil_names: dict[str, str],
                                                           client: TestClient, page: Any) -> None:
    await page.goto(str(client.make_url("/board")))
    await page.wait_for_selector("#board tr.unit")
    await _shown_as_text(page, "#crumbs")
    await _shown_as_text(page, "#board")  # the streets' rows
    await page.locator(f"#board tr.unit[data-unit='{evil_names['street']}']").click()
    await page.wait_for_function("() => document.querySelector('#board h2')?.textContent.includes('工作站')")
    await _shown_as_text(page, "#crumbs")
    await page.goto(str(client.make_url(f"/board#{evil_names['block']}")))
    await page.wait_for_selector("#board table.cases")
    await _shown_as_text(page, "#board table.cases")  # the category
    await _shown_as_text(page, "#crumbs")

    await page.goto(str(client.make_url("/map")))
    await page.wait_for_function("() => Number(document.getElementById('map').dataset.blocks) > 0")
    await _shown_as_text(page, "#controls select[name=street]")
    await page.locator("#map path.block").first.dispatch_event("click")
    await page.wait_for_selector("#block h2")
    await _shown_as_text(page, "#block h2")

    await page.goto(str(client.make_url("/portal")))
    await page.wait_for_selector("#performance table")
    await _shown_as_text(page, "#performance")

    await page.goto(str(client.make_url("/assessment")))
    await page.wait_for_selector("table[data-table=departments]")
    await _shown_as_text(page, "#tables p")
    await page.screenshot(path=str(ARTIFACTS / "markup-names.png"), full_page=True)
