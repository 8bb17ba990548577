"""The assessment page in headless Chromium, in both languages: indicator names and formulas
from the server, the weights in force, units without cases shown as "no data" after the others,
a quarter chosen in the form, exports linked in the page's language. Screenshots go to
test-artifacts/stats/assessment-<lang>.png."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from gridlink.clock import FakeClock
from gridlink.db import Database
from tests.stats.test_assessment import S1
from tests.stats.test_assessment_indicators import load
from tests.stats.test_browser import ARTIFACTS, NOW, page  # noqa: F401  (fixture)

pytestmark = pytest.mark.browser

WORDS = {"zh": ("按期处置率", "按期处置数 ÷ 应处置数", "无数据", "权重", "季度"),
         "en": ("On-time handling rate", "handled within the deadline ÷ due for handling", "no data",
                "Weights", "Quarter")}


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_assessment_page_in_both_languages(client: TestClient, db: Database, clock: FakeClock,
                                                 page: Any, lang: str) -> None:  # noqa: F811
    clock.set(NOW)
    await load(db)
    # The browser's own language asks for the other one: the page's choice (locale) wins.
    await page.set_extra_http_headers({"Accept-Language": "zh-CN" if lang == "en" else "en"})
    await page.goto(str(client.make_url(f"/assessment?locale={lang}&month=2026-11")))
    await page.wait_for_selector("table[data-table=streets] tbody tr")
    indicator, formula, no_data, weights, quarter = WORDS[lang]
    assert await page.evaluate("() => document.documentElement.lang") == ("en" if lang == "en" else "zh-CN")
    headers = await page.locator("table[data-table=streets] thead th").all_inner_texts()
    assert indicator in headers
    assert await page.locator(f"table[data-table=streets] th[title='{formula}']").count() == 1
    definitions = await page.locator("#definitions").inner_text()
    assert indicator in definitions and formula in definitions
    assert (await page.locator("p.weights").first.inner_text()).startswith(weights)
    rows = await page.locator("table[data-table=streets] tbody tr").all_inner_texts()
    # The street with cases first (rank 1), then the streets without any: no data, no rank.
    assert rows[0].split("\t")[0] == "1" and len(rows) > 1
    assert all(r.split("\t")[0] == "—" and r.rstrip().endswith(no_data) for r in rows[1:])
    assert "lang=" + lang in (await page.locator("#csv").get_attribute("href") or "")
    await page.screenshot(path=str(ARTIFACTS / f"assessment-{lang}.png"), full_page=True)
    # A quarter: Q4 holds October's case too (9 received).
    await page.select_option("select[name=kind]", "quarter")
    assert quarter in await page.locator("select[name=kind]").inner_text()
    await page.fill("input[name=year]", "2026")
    await page.select_option("select[name=quarter]", "4")
    await page.click("#controls button")
    await page.wait_for_function("() => document.querySelector('#tables p')?.textContent.includes('2026-Q4')")
    first = (await page.locator("table[data-table=streets] tbody tr").first.inner_text()).split("\t")
    assert first[2] == "9"
    # Units are chosen by name (codes only as the values): the first street by its name opens
    # its workstations' table, whose heading names it.
    labels = await page.locator("select[name=unit] option").all_inner_texts()
    assert len(labels) > 5 and not [x for x in labels if x.strip().isdigit() or x.strip()[1:].isdigit()]
    street = await page.locator(f"select[name=unit] option[value='{S1}']").inner_text()
    await page.select_option("select[name=unit]", label=street)
    await page.click("#controls button")
    await page.wait_for_selector("table[data-table=workstations] tbody tr")
    assert street in await page.locator("#tables p").first.inner_text()
