"""The trends page in headless Chromium: two filters chosen by name (a street and a category,
from the multi-select lists' visible names), in Chinese and in English; the chart's lines are
named, the comparison periods listed. Screenshots go to test-artifacts/stats/."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from cases.categories import DEFAULT_CATEGORIES
from stats.units import demo_directory
from tests.stats.test_browser import ARTIFACTS, history, page  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


@pytest.mark.parametrize("lang", ["zh", "en"])
async def test_trends_page_with_two_filters_chosen_by_name(client: TestClient, history: list,  # noqa: F811
                                                          page: Any, lang: str) -> None:  # noqa: F811
    d = demo_directory()
    street = Counter(c["placement"]["street"] for c in history).most_common(1)[0][0]
    cat = Counter(c["category"] for c in history if c["placement"]["street"] == street).most_common(1)[0][0]
    names = d.name_en if lang == "en" else d.name
    street_name = names[street]
    cat_name = next(c.name_en if lang == "en" else c.name_zh for c in DEFAULT_CATEGORIES if c.code == cat)
    await page.goto(str(client.make_url(f"/trends?lang={lang}&from=2026-11-01&to=2026-11-27&by=category")))
    await page.wait_for_function("() => document.getElementById('chart').dataset.series !== undefined")
    total_before = int(await page.locator("#chart").get_attribute("data-sum"))
    # Choose by the names the lists show.
    await page.locator("select[name=street]").select_option(label=street_name)
    await page.wait_for_function("() => document.querySelector('select[name=block]').options.length > 0")
    await page.locator("select[name=category]").select_option(label=cat_name)
    await page.locator("#filters button[type=submit]").click()
    await page.wait_for_function("(n) => document.getElementById('chart').dataset.sum !== String(n)", arg=total_before)
    want = sum(1 for c in history if c["placement"]["street"] == street and c["category"] == cat
               and c["state"] != "merged" and c["created_at"].astimezone(d_tz()).date().isoformat() >= "2026-11-01")
    assert int(await page.locator("#chart").get_attribute("data-sum")) == want
    assert await page.locator("#chart").get_attribute("data-names") == f'["{cat_name}"]'
    chips = await page.locator("#chosen").inner_text()
    assert street_name in chips and cat_name in chips
    compare = await page.locator("#compare").inner_text()
    assert ("Same period last year" if lang == "en" else "去年同期") in compare
    assert "street=" + street in page.url and "category=" + cat in page.url
    await page.screenshot(path=str(ARTIFACTS / f"trends-{lang}.png"), full_page=True)


def d_tz() -> Any:
    from zoneinfo import ZoneInfo

    return ZoneInfo("Asia/Shanghai")
