"""Each assessment indicator on a hand-computed fixture; periods month, quarter and year; units
without cases are "no data" and never ranked first; the weights are stored, validated and used;
the exports' headers in both languages."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from openpyxl import load_workbook

from gridlink import auth
from gridlink.clock import FakeClock
from gridlink.db import Database
from stats import assessment as assess
from stats import repository as repo
from stats.rollups import recompute
from tests.stats.test_assessment import NOW, S1, case, history

DEPT = "D03"


def c(cid: str, state: str, **extra: Any) -> dict[str, Any]:
    return case(cid, street=S1, dept=DEPT, state=state, history=history(), **extra)


# November, one street and one department: every indicator's numerator and denominator differ.
NOVEMBER = [
    c("a1", "closed", closed_on_time=True, rating={"score": 5}),
    c("a2", "closed", closed_on_time=False, rating={"score": 4}, reworks=1, extensions=1),
    # Fed back, waiting for verification: handled (a3 within its deadline, a4 late; a4's
    # verification is overdue too — the center's delay, not overdue unhandled).
    c("a3", "awaiting_verification", result={"on_time": True}),
    c("a4", "awaiting_verification", result={"on_time": False}, returns=1,
      due_at=NOW - timedelta(hours=1), warn_at=NOW - timedelta(hours=2)),
    c("a5", "in_progress", due_at=NOW - timedelta(days=1), warn_at=NOW - timedelta(days=2)),
    c("a6", "dispatched", due_at=NOW + timedelta(days=2), warn_at=NOW + timedelta(days=1)),
    c("a7", "closed", channel="patrol_bot", closed_on_time=True, rating={"score": 2}),
    c("a8", "in_progress", extensions=1, due_at=NOW - timedelta(hours=3),
      warn_at=NOW - timedelta(days=1)),
]
# Hand-computed: 8 received; handled a1 a2 a3 a4 a7 = 5, on time a1 a3 a7 = 3; closed a1 a2 a7
# = 3, on time a1 a7 = 2; overdue unhandled a5 a8 = 2; due for handling and for closing
# (DESIGN §8: handled + overdue unhandled) 5 + 2 = 7; reworked a2 (1 of 5 handled); extended
# a2 a8 (2 of 8 dispatched); rated 5, 4, 2: satisfied 2 of 3, average 11/3; found by patrols a7.
EXPECTED = {
    "received": 8, "handled": 5, "overdue_open": 2, "due_for_handling": 7,
    "handling_rate": 0.7143, "on_time_handling_rate": 0.4286, "closed": 3, "due_for_closing": 7,
    "closure_rate": 0.4286, "on_time_rate": 0.2857, "overdue": 3, "returns": 1, "rework_rate": 0.2,
    "extension_rate": 0.25, "satisfaction_rate": 0.6667, "avg_rating": 3.67,
    "patrol_share": 0.125, "citizen_share": 0.875, "no_data": False,
}
# Department weights: 100 × (0.3·0.4286 + 0.2·0.7143 + 0.15·0.4286 + 0.15·(1 − 0.2) + 0.2·0.6667)
SCORE_DEPT = 58.9
# Street weights:
# 100 × (0.25·0.4286 + 0.15·0.7143 + 0.15·0.2857 + 0.15·0.4286 + 0.1·(1 − 0.2) + 0.2·0.6667)
SCORE_STREET = 53.5
# Other months: October (Q4 with November) and March (the year only).
OTHERS = [
    c("b1", "closed", closed_on_time=True, created=datetime(2026, 10, 5, tzinfo=UTC)),
    c("b2", "closed", closed_on_time=False, created=datetime(2026, 3, 5, tzinfo=UTC)),
]


async def load(db: Database) -> None:
    rollups, opens = recompute([*NOVEMBER, *OTHERS])
    await repo.replace_all(db, rollups=rollups, open_lists=opens)


async def _get(client: TestClient, query: str, **headers: str) -> dict[str, Any]:
    res = await client.get(f"/api/v1/stats/assessment?{query}", headers=headers)
    assert res.status == 200, await res.text()
    return await res.json()


def _row(body: dict[str, Any], table: str, unit: str) -> dict[str, Any]:
    return next(r for r in body["tables"][table] if r["unit"] == unit)


async def test_each_indicator_equals_its_hand_computed_value(client: TestClient, db: Database,
                                                            clock: FakeClock) -> None:
    clock.set(NOW)
    await load(db)
    body = await _get(client, "month=2026-11")
    dept, street = _row(body, "departments", DEPT), _row(body, "streets", S1)
    assert {k: dept[k] for k in EXPECTED} == EXPECTED
    assert {k: street[k] for k in EXPECTED} == EXPECTED
    assert (dept["score"], dept["grade"], dept["rank"]) == (SCORE_DEPT, "D", 1)
    assert (street["score"], street["grade"], street["rank"]) == (SCORE_STREET, "D", 1)
    # Every indicator shown carries its formula, in the page's language.
    defs = {d["key"]: d for d in body["definitions"]}
    assert set(EXPECTED) - {"no_data"} <= set(defs)
    assert defs["on_time_handling_rate"]["name"] == "按期处置率"
    assert defs["on_time_handling_rate"]["formula"] == "按期处置数 ÷ 应处置数"
    assert defs["satisfaction_rate"]["name"] == "群众满意率" and defs["rework_rate"]["inverse"]
    assert body["weights"]["departments"] == assess.DEFAULT_WEIGHTS["departments"]
    en = await _get(client, "month=2026-11&lang=en")
    defs_en = {d["key"]: d for d in en["definitions"]}
    assert defs_en["handling_rate"] == {**defs_en["handling_rate"], "name": "Handling rate",
                                        "formula": "handled ÷ due for handling"}


async def test_units_without_cases_are_no_data_and_never_ranked_first(
        client: TestClient, db: Database, clock: FakeClock) -> None:
    clock.set(NOW)
    await load(db)
    body = await _get(client, "month=2026-11")
    streets = body["tables"]["streets"]
    # S1 scores 53.5 (grade D): still first, above every street without a case.
    assert streets[0]["unit"] == S1 and streets[0]["rank"] == 1
    empty = streets[1:]
    assert len(empty) >= 1
    for r in empty:
        assert r["no_data"] and r["received"] == 0
        assert (r["score"], r["grade"], r["rank"]) == (None, None, None)
    # A period without any case: every unit no data, none ranked.
    q3 = await _get(client, "period=2026-Q3")
    rows = [r for t in q3["tables"].values() for r in t]
    assert rows and all(r["no_data"] and r["rank"] is None and r["score"] is None for r in rows)
    csv_text = (await (await client.get("/api/v1/stats/assessment.csv?period=2026-Q3")).read()
                ).decode("utf-8-sig")
    assert "无数据" in csv_text and ",100.0," not in csv_text and ",A\r\n" not in csv_text


async def test_quarter_and_year_add_up_their_months(client: TestClient, db: Database,
                                                    clock: FakeClock) -> None:
    clock.set(NOW)
    await load(db)
    q4 = await _get(client, "quarter=2026-Q4")
    assert (q4["period"], q4["period_kind"], q4["months"]) == ("2026-Q4", "quarter",
                                                               ["2026-10", "2026-11", "2026-12"])
    row = _row(q4, "streets", S1)
    # November's 8 and October's b1 (closed on time).
    assert (row["received"], row["handled"], row["closed"], row["overdue_open"]) == (9, 6, 4, 2)
    # a1 a7 b1 closed on time, 4 closed, of 6 handled + 2 overdue unhandled.
    assert row["on_time_rate"] == round(3 / 8, 4) and row["closure_rate"] == round(4 / 8, 4)
    year = await _get(client, "period=2026")
    row = _row(year, "streets", S1)
    # ...and March's b2 (closed late).
    assert (year["period_kind"], row["received"], row["closed"], row["overdue"]) == ("year", 10, 5, 4)
    assert row["on_time_handling_rate"] == round(4 / 9, 4)  # a1 a3 a7 b1 of 7 handled + 2 overdue
    month = await _get(client, "period=2026-11")
    assert month["month"] == "2026-11" and _row(month, "streets", S1)["received"] == 8
    # The drill-down levels take the same periods.
    ws = await _get(client, f"period=2026-Q4&unit={S1}")
    assert _row(ws, "workstations", S1 + "001")["received"] == 9
    for bad in ("period=2026-Q5", "quarter=2026-11", "year=26", "month=2026-13",
                "month=2026-11&year=2026", "period=last", "year=0000", "period=9999-12"):
        res = await client.get(f"/api/v1/stats/assessment?{bad}")
        assert res.status == 400, bad
        assert (await res.json())["error"]["code"] == "invalid_input"


async def test_weights_are_stored_validated_and_used(client: TestClient, db: Database,
                                                     clock: FakeClock) -> None:
    clock.set(NOW)
    await load(db)
    admin = await auth.create_token(db, role="admin", unit="310101", district="310101",
                                    name="管理员", now=NOW)
    dispatcher = await auth.create_token(db, role="dispatcher", unit="310101", district="310101",
                                         name="受理员", now=NOW)
    url = "/api/v1/stats/assessment/weights"
    current = await (await client.get(url)).json()
    assert current["weights"] == assess.DEFAULT_WEIGHTS and current["updated_by"] is None

    async def put(body: Any, token: str = admin) -> tuple[int, Any]:
        res = await client.put(url, json=body, headers={"Authorization": f"Bearer {token}"})
        return res.status, await res.json()

    # Refused, nothing stored: sums other than 1, negative, unknown indicator or level, not numbers.
    for body, field in (({"streets": {"handling_rate": 0.5, "closure_rate": 0.4}}, "streets"),
                        ({"streets": {"handling_rate": 1.5, "closure_rate": -0.5}}, "streets.closure_rate"),
                        ({"streets": {"avg_rating": 1}}, "streets.avg_rating"),
                        ({"blocks": {"handling_rate": 1}}, "blocks"),
                        ({"streets": {"handling_rate": "1"}}, "streets.handling_rate"),
                        ({"streets": {"handling_rate": True}}, "streets.handling_rate"),
                        ({"streets": []}, "streets"), ({}, "weights"), ([1], None)):
        status, answer = await put(body)
        assert status == 400, (body, answer)
        if field:
            assert answer["error"]["details"]["field"] == field, (body, answer)
    assert (await put({"streets": {"handling_rate": 1}}, dispatcher))[0] == 403
    assert (await (await client.get(url)).json())["weights"] == assess.DEFAULT_WEIGHTS

    status, answer = await put({"streets": {"handling_rate": 0.5, "satisfaction_rate": 0.5}})
    assert status == 200, answer
    assert answer["weights"]["streets"] == {"handling_rate": 0.5, "satisfaction_rate": 0.5}
    assert answer["weights"]["departments"] == assess.DEFAULT_WEIGHTS["departments"]
    assert answer["updated_by"] == "管理员"
    # Audited like every administration (staff.audit), the refused attempts not.
    [entry] = await db.audit_log.find({"action": "assessment.weights"}).to_list(None)
    assert (entry["by"], entry["target"]) == ("管理员", "streets")
    body = await _get(client, "month=2026-11")
    # 100 × (0.5·0.7143 + 0.5·0.6667) = 69.05 → 69.0 (C); departments keep their defaults.
    assert (_row(body, "streets", S1)["score"], _row(body, "streets", S1)["grade"]) == (69.0, "C")
    assert _row(body, "departments", DEPT)["score"] == SCORE_DEPT
    assert body["weights"]["streets"] == {"handling_rate": 0.5, "satisfaction_rate": 0.5}
    # null restores a level's defaults.
    status, answer = await put({"streets": None})
    assert status == 200 and answer["weights"]["streets"] == assess.DEFAULT_WEIGHTS["streets"]
    assert _row(await _get(client, "month=2026-11"), "streets", S1)["score"] == SCORE_STREET


async def test_exports_in_the_chosen_language(client: TestClient, db: Database,
                                              clock: FakeClock) -> None:
    clock.set(NOW)
    await load(db)
    want = {"zh": ["排名", "单位代码", "单位", "受理数", "处置数", "超期未处置数", "应处置数", "处置率",
                   "按期处置率", "结案数", "应结案数", "结案率", "按期结案率", "超期数", "回退数",
                   "返工率", "延期率", "群众满意率", "平均满意度", "巡查发现占比", "市民上报占比",
                   "综合得分", "等级"],
            "en": ["Rank", "Unit code", "Unit", "Received", "Handled", "Overdue, not handled",
                   "Due for handling", "Handling rate", "On-time handling rate", "Closed",
                   "Due for closing", "Closure rate", "On-time closure rate", "Overdue", "Returned",
                   "Rework rate", "Extension rate", "Satisfaction rate", "Average rating",
                   "Found by patrols", "Reported by citizens", "Score", "Grade"]}
    sheets = {"zh": ["条线部门", "街镇", "指标定义"], "en": ["Line departments", "Streets", "Definitions"]}
    no_data = {"zh": "无数据", "en": "no data"}
    for lang, header in want.items():
        # The language by parameter, and the same by the browser's Accept-Language alone.
        for query, headers in ((f"lang={lang}", {}),
                               ("", {"Accept-Language": "fr;q=0.9, en;q=0.1" if lang == "en"
                                     else "en;q=0.1, zh-CN;q=0.9"})):
            res = await client.get(f"/api/v1/stats/assessment.csv?month=2026-11&{query}", headers=headers)
            assert res.status == 200
            assert res.headers["Content-Language"] == ("en" if lang == "en" else "zh-CN")
            lines = list(csv.reader(io.StringIO((await res.read()).decode("utf-8-sig"))))
            assert lines[1] == header, (lang, query)
            rows = {r[1]: r for r in lines if len(r) == len(header)}
            assert rows[S1][header.index(want[lang][-1])] == "D"
            assert no_data[lang] in {r[-1] for r in rows.values()}
            xres = await client.get(f"/api/v1/stats/assessment.xlsx?month=2026-11&{query}", headers=headers)
            wb = load_workbook(io.BytesIO(await xres.read()))
            assert wb.sheetnames == sheets[lang]
            assert [c.value for c in wb[sheets[lang][1]][1]] == header
            formulas = [r for r in wb[sheets[lang][2]].iter_rows(values_only=True)]
            assert (("按期处置率", "按期处置数 ÷ 应处置数") if lang == "zh"
                    else ("On-time handling rate", "handled within the deadline ÷ due for handling")) in formulas
