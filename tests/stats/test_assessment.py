"""Assessment tables on a hand-made month equal hand-computed values at every level (the
district's departments and streets, a department's teams, a workstation's coordinators); a
unit without cases is "no data", not first; CSV and XLSX agree. Each indicator on its own
fixture, periods, weights and languages: test_assessment_indicators.py."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp.test_utils import TestClient
from openpyxl import load_workbook

from gridlink.clock import FakeClock
from gridlink.db import Database
from stats import repository as repo
from stats.rollups import recompute

NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
S1, S2 = "310101001", "310101002"


def case(cid: str, *, street: str, state: str, channel: str = "hotline_12345", dept: str | None = None,
         created: datetime = NOW - timedelta(days=10), **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "_id": cid, "serial": f"AT20261117-{cid}", "district": "310101", "channel": channel,
        "kind": "hazard" if channel == "patrol_bot" else "complaint", "category": "food_hygiene",
        "created_at": created, "state": state, "version": 1,
        "placement": {"street": street, "workstation": street + "001",
                      "community_block": street + "001001", "street_block": None},
        "location": {"lon": 121.4, "lat": 31.2},
        "assignee": {"unit": dept, "kind": "department"} if dept else {"unit": street + "001001", "kind": "block"},
        "first_dispatched_at": created + timedelta(minutes=20), "returns": 0, "reworks": 0,
        "extensions": 0, "rating": None, "due_at": None, "warn_at": None,
    }
    doc.update(extra)
    return doc


def history(finder: dict[str, Any] | None = None, *taken_by: dict[str, Any]) -> list[dict[str, Any]]:
    """report (by `finder`, a patrol member, or a dispatcher), dispatch, then each `taken_by`
    accepting (a department's team)."""
    steps = [{"seq": 1, "action": "report", "actor": finder or {"role": "dispatcher", "unit": "310101"}},
             {"seq": 2, "action": "dispatch", "actor": {"role": "dispatcher", "unit": "310101"}}]
    steps += [{"seq": 3 + i, "action": "accept", "actor": a} for i, a in enumerate(taken_by)]
    return steps


TEAM1 = {"role": "department", "unit": "D03", "name": "一中队", "user_id": 501, "chat_id": 9501}
TEAM2 = {"role": "department", "unit": "D03", "name": "二中队"}
ZHANG = {"role": "coordinator", "unit": S1 + "001001", "name": "张伟", "user_id": 601,
         "chat_id": 9601, "phone": "13800000601"}
LI = {"role": "coordinator", "unit": S2 + "001001", "name": "李娜", "user_id": 602, "chat_id": 9602}

DATASET = [
    case("c1", street=S1, dept="D03", state="closed", closed_on_time=True, rating={"score": 5},
         history=history(None, TEAM1)),
    case("c2", street=S1, dept="D03", state="closed", closed_on_time=False, rating={"score": 3},
         reworks=1, returns=1, extensions=1, history=history(None, TEAM2)),
    case("c3", street=S1, dept="D03", state="in_progress", channel="patrol_bot",
         due_at=NOW - timedelta(days=1), warn_at=NOW - timedelta(days=2),
         history=history(ZHANG, TEAM1)),
    case("c4", street=S2, state="dispatched", channel="patrol_bot",
         due_at=NOW + timedelta(days=3), warn_at=NOW + timedelta(days=2), history=history(LI)),
    case("c5", street=S2, state="closed", channel="patrol_bot", closed_on_time=True,
         handled_on_the_spot=True, first_dispatched_at=None, history=history(LI)[:1]),
    # Reported in October: not part of November's assessment.
    case("c6", street=S1, dept="D03", state="closed", closed_on_time=False,
         created=datetime(2026, 10, 10, tzinfo=UTC)),
]

# c1 closed on time (5), c2 closed late (3, reworked, returned, extended), c3 open and overdue.
EXPECTED_D03_AND_S1 = {
    "received": 3, "handled": 2, "closed": 2, "overdue_open": 1, "due_for_handling": 3,
    "due_for_closing": 3, "handling_rate": 0.6667, "on_time_handling_rate": 0.3333,
    "closure_rate": 0.6667, "on_time_rate": 0.3333, "overdue": 2, "returns": 1,
    "rework_rate": 0.5, "extension_rate": 0.3333, "satisfaction_rate": 0.5, "avg_rating": 4.0,
    "patrol_share": 0.3333, "citizen_share": 0.6667, "no_data": False,
}
# Line-department weights: 100 × (0.3·⅓ + 0.2·⅔ + 0.15·⅔ + 0.15·(1 − 0.5) + 0.2·0.5) = 50.8;
# street weights: 100 × (0.25·⅓ + 0.15·⅔ + 0.15·⅓ + 0.15·⅔ + 0.1·0.5 + 0.2·0.5) = 48.3.
SCORE_D03, SCORE_S1 = 50.8, 48.3
EXPECTED_S2 = {
    "received": 2, "handled": 1, "closed": 1, "overdue_open": 0, "due_for_closing": 1,
    "handling_rate": 1.0, "on_time_handling_rate": 1.0, "closure_rate": 1.0,
    "on_time_rate": 1.0, "overdue": 0, "returns": 0, "rework_rate": 0.0, "extension_rate": 0.0,
    "satisfaction_rate": None, "avg_rating": None, "patrol_share": 1.0, "citizen_share": 0.0,
    # Nobody rated: the score is over the other weights (all 1.0).
    "score": 100.0, "grade": "A", "rank": 1,
}


# Hand-computed from the cases above (November, now = NOW).
EXPECTED_TEAMS = {
    # c1 closed on time (rated 5), c3 open and overdue (found by a patrol): 2 received, 1 handled
    # and closed, 2 due → 50 %; 100 × (0.3·0.5 + 0.2·0.5 + 0.15·0.5 + 0.15·1 + 0.2·1) = 67.5.
    "一中队": {"received": 2, "handled": 1, "closed": 1, "overdue_open": 1, "due_for_closing": 2,
            "handling_rate": 0.5, "on_time_handling_rate": 0.5, "closure_rate": 0.5,
            "on_time_rate": 0.5, "overdue": 1, "returns": 0, "rework_rate": 0.0,
            "extension_rate": 0.0, "satisfaction_rate": 1.0, "avg_rating": 5.0,
            "patrol_share": 0.5, "citizen_share": 0.5, "score": 67.5, "grade": "C", "rank": 1},
    # c2 closed late, returned, reworked, extended, rated 3 (not satisfied):
    # 100 × (0.3·0 + 0.2·1 + 0.15·1 + 0.15·0 + 0.2·0) = 35.0.
    "二中队": {"received": 1, "handled": 1, "closed": 1, "overdue_open": 0, "due_for_closing": 1,
            "handling_rate": 1.0, "on_time_handling_rate": 0.0, "closure_rate": 1.0,
            "on_time_rate": 0.0, "overdue": 1, "returns": 1, "rework_rate": 1.0,
            "extension_rate": 1.0, "satisfaction_rate": 0.0, "avg_rating": 3.0,
            "patrol_share": 0.0, "citizen_share": 1.0, "score": 35.0, "grade": "E", "rank": 2},
}
EXPECTED_COORDINATORS = {
    S1 + "001": {
        # c3 only: open and overdue → 0 of 1 due closed; rework and satisfaction have no value,
        # so the score is over closure and on-time closure alone: 0.0.
        "张伟": {"unit": "", "received": 1, "closed": 0, "overdue_open": 1, "due_for_closing": 1,
               "closure_rate": 0.0, "on_time_rate": 0.0, "overdue": 1, "rework_rate": None,
               "extension_rate": 0.0, "avg_rating": None, "patrol_share": 1.0, "score": 0.0,
               "grade": "E", "rank": 1},
        # On the roster of the workstation's block, nothing found this month: no data — no
        # score, no grade, no rank, listed after 张伟 (it used to be 100, grade A, first).
        "王芳": {"unit": S1 + "001001", "received": 0, "closed": 0, "overdue_open": 0,
               "due_for_closing": 0, "closure_rate": None, "patrol_share": None, "score": None,
               "grade": None, "rank": None, "no_data": True},
    },
    S2 + "001": {
        # c4 open, not yet due; c5 closed on the spot: 1 of 1 due closed, on time (no rating:
        # the score is over closure, on-time closure and rework).
        "李娜": {"unit": "", "received": 2, "closed": 1, "overdue_open": 0, "due_for_closing": 1,
               "closure_rate": 1.0, "on_time_rate": 1.0, "overdue": 0, "rework_rate": 0.0,
               "extension_rate": 0.0, "avg_rating": None, "patrol_share": 1.0, "score": 100.0,
               "grade": "A", "rank": 1},
    },
}


async def load(db: Database) -> None:
    rollups, opens = recompute(DATASET)
    await repo.replace_all(db, rollups=rollups, open_lists=opens)


async def test_indicators_equal_hand_computed_values(client: TestClient, db: Database,
                                                     clock: FakeClock) -> None:
    clock.set(NOW)
    await load(db)
    res = await client.get("/api/v1/stats/assessment?month=2026-11")
    assert res.status == 200
    body = await res.json()
    depts = {r["unit"]: r for r in body["tables"]["departments"]}
    streets = {r["unit"]: r for r in body["tables"]["streets"]}
    assert {k: depts["D03"][k] for k in EXPECTED_D03_AND_S1} == EXPECTED_D03_AND_S1
    assert (depts["D03"]["score"], depts["D03"]["grade"]) == (SCORE_D03, "D")
    assert {k: streets[S1][k] for k in EXPECTED_D03_AND_S1} == EXPECTED_D03_AND_S1
    assert (streets[S1]["score"], streets[S1]["grade"], streets[S1]["rank"]) == (SCORE_S1, "D", 2)
    assert {k: streets[S2][k] for k in EXPECTED_S2} == EXPECTED_S2
    # Ranked: S2 (100) above S1 (48.3); the streets without cases after both, unranked.
    ranks = [r["unit"] for r in body["tables"]["streets"]]
    assert ranks[:2] == [S2, S1]
    others = body["tables"]["streets"][2:]
    assert others and all(r["no_data"] and r["score"] is None and r["rank"] is None for r in others)
    assert body["tables"]["departments"][0]["unit"] == "D03"
    formulas = {d["name"]: d["formula"] for d in body["definitions"]}
    assert formulas["按期结案率"] == "按期结案数 ÷ 应结案数"
    ws = await (await client.get(f"/api/v1/stats/assessment?month=2026-11&unit={S1}")).json()
    row = next(r for r in ws["tables"]["workstations"] if r["unit"] == S1 + "001")
    assert (row["received"], row["closed"], row["overdue_open"]) == (3, 2, 1)
    assert (await client.get("/api/v1/stats/assessment?month=2026-13")).status == 400


async def test_teams_and_coordinators_equal_hand_computed_values(
        client: TestClient, db: Database, clock: FakeClock) -> None:
    clock.set(NOW)
    await load(db)
    await db.roster.insert_one({"_id": 603, "user_id": 603, "chat_id": 9603, "role": "coordinator",
                                "unit": S1 + "001001", "name": "王芳", "locale": "zh-CN"})
    res = await client.get("/api/v1/stats/assessment?month=2026-11&unit=D03")
    assert res.status == 200
    teams = {r["name"]: r for r in (await res.json())["tables"]["teams"]}
    assert set(teams) == set(EXPECTED_TEAMS)
    for name, want in EXPECTED_TEAMS.items():
        assert {k: teams[name][k] for k in want} == want, name
        assert teams[name]["unit"] == "D03"
    for ws, expected in EXPECTED_COORDINATORS.items():
        res = await client.get(f"/api/v1/stats/assessment?month=2026-11&unit={ws}")
        assert res.status == 200
        text = await res.text()
        people = {r["name"]: r for r in json.loads(text)["tables"]["coordinators"]}
        assert set(people) == set(expected), ws
        for name, want in expected.items():
            assert {k: people[name][k] for k in want} == want, (ws, name)
        # Roster names only: no chat ids, user ids or phone numbers.
        for secret in ("9601", "9602", "9603", "13800000601"):
            assert secret not in text, secret
    # The October case of D03 is not November's; exports carry the new levels too.
    xres = await client.get("/api/v1/stats/assessment.xlsx?month=2026-11&unit=D03&lang=en")
    sheet = load_workbook(io.BytesIO(await xres.read()))["Teams"]
    rows = {r[2]: r for r in sheet.iter_rows(min_row=2, values_only=True)}
    assert rows["一中队"][3:5] == (2, 1) and rows["二中队"][3:5] == (1, 1)
    csv_text = (await (await client.get(f"/api/v1/stats/assessment.csv?month=2026-11&unit={S1}001")).read()
                ).decode("utf-8-sig")
    assert "张伟" in csv_text and "王芳" in csv_text and "9601" not in csv_text


async def test_csv_and_xlsx_hold_the_same_numbers(client: TestClient, db: Database,
                                                  clock: FakeClock) -> None:
    clock.set(NOW)
    await load(db)
    body = await (await client.get("/api/v1/stats/assessment?month=2026-11")).json()
    res = await client.get("/api/v1/stats/assessment.csv?month=2026-11")
    assert res.status == 200 and res.content_type == "text/csv"
    text = (await res.read()).decode("utf-8-sig")
    lines = list(csv.reader(io.StringIO(text)))
    header = lines[1]
    assert header[:5] == ["排名", "单位代码", "单位", "受理数", "处置数"]
    csv_rows = {r[1]: r for r in lines if len(r) == len(header) and r != header}
    xres = await client.get("/api/v1/stats/assessment.xlsx?month=2026-11")
    assert xres.status == 200
    wb = load_workbook(io.BytesIO(await xres.read()))
    assert wb.sheetnames == ["条线部门", "街镇", "指标定义"]
    for sheet, rows in body["tables"].items():
        xrows = list(wb[{"departments": "条线部门", "streets": "街镇"}[sheet]].iter_rows(values_only=True))
        assert list(xrows[0]) == header
        by_unit = {r[1]: r for r in xrows[1:]}
        for r in rows:
            x, c = by_unit[r["unit"]], csv_rows[r["unit"]]
            for i, name in enumerate(("rank", "unit", "name", "received", "handled", "overdue_open",
                                      "due_for_handling", "handling_rate", "on_time_handling_rate",
                                      "closed", "due_for_closing", "closure_rate", "on_time_rate")):
                assert x[i] == r[name]
                assert c[i] == ("" if r[name] is None else str(r[name]))
    assert by_unit["310101002"][header.index("综合得分")] == 100.0
