"""Handling units by name in the reader's language on the desk (issue 23: names, not codes, and
no Chinese on an English page where the directory has an English name)."""

from __future__ import annotations

from tests.desk.conftest import Desk
from tests.desk.test_http import dispatched, new_case

ROADS_ZH, ROADS_EN = "建设和管理委员会", "Construction and Management Commission"


async def test_the_case_page_and_queue_name_the_unit_in_the_readers_language(desk: Desk) -> None:
    case = await dispatched(desk)  # road damage → D07
    waiting = await new_case(desk, description="Loose paving stone")
    center = await desk.signed_in("center")  # the accounts read English

    html = await (await center.get(f"/desk/cases/{case['_id']}")).text()
    assert ROADS_EN in html and ROADS_ZH not in html
    proposed = await (await center.get(f"/desk/cases/{waiting['_id']}")).text()
    assert ROADS_EN in proposed and ROADS_ZH not in proposed  # the proposed unit before dispatch

    await center.get("/desk/locale?to=zh-CN&next=/desk/")
    html = await (await center.get(f"/desk/cases/{case['_id']}")).text()
    assert ROADS_ZH in html and ROADS_EN not in html
