"""Assessment indicators on a hand-made month equal hand-computed values; CSV and XLSX agree."""

from __future__ import annotations

import csv
import io
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


DATASET = [
    case("c1", street=S1, dept="D03", state="closed", closed_on_time=True, rating={"score": 5}),
    case("c2", street=S1, dept="D03", state="closed", closed_on_time=False, rating={"score": 3},
         reworks=1, returns=1, extensions=1),
    case("c3", street=S1, dept="D03", state="in_progress", channel="patrol_bot",
         due_at=NOW - timedelta(days=1), warn_at=NOW - timedelta(days=2)),
    case("c4", street=S2, state="dispatched", channel="patrol_bot",
         due_at=NOW + timedelta(days=3), warn_at=NOW + timedelta(days=2)),
    case("c5", street=S2, state="closed", channel="patrol_bot", closed_on_time=True,
         handled_on_the_spot=True, first_dispatched_at=None),
    # Reported in October: not part of November's assessment.
    case("c6", street=S1, dept="D03", state="closed", closed_on_time=False,
         created=datetime(2026, 10, 10, tzinfo=UTC)),
]

EXPECTED_D03_AND_S1 = {
    "received": 3, "closed": 2, "overdue_open": 1, "due_for_closing": 3,
    "closure_rate": 0.6667, "on_time_rate": 0.3333, "overdue": 2, "returns": 1,
    "rework_rate": 0.5, "extension_rate": 0.3333, "avg_rating": 4.0, "patrol_share": 0.3333,
    "citizen_share": 0.6667, "score": 52.8, "grade": "D",
}
EXPECTED_S2 = {
    "received": 2, "closed": 1, "overdue_open": 0, "due_for_closing": 1, "closure_rate": 1.0,
    "on_time_rate": 1.0, "overdue": 0, "returns": 0, "rework_rate": 0.0, "extension_rate": 0.0,
    "avg_rating": None, "patrol_share": 1.0, "citizen_share": 0.0, "score": 100.0, "grade": "A",
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
    assert {k: streets[S1][k] for k in EXPECTED_D03_AND_S1} == EXPECTED_D03_AND_S1
    assert {k: streets[S2][k] for k in EXPECTED_S2} == EXPECTED_S2
    # Ranked: S2 (100) above S1 (52.8); units without cases score as having nothing overdue.
    ranks = [r["unit"] for r in body["tables"]["streets"]]
    assert ranks.index(S2) < ranks.index(S1) == len(ranks) - 1
    assert "按期结案率" in body["definitions"]
    ws = await (await client.get(f"/api/v1/stats/assessment?month=2026-11&unit={S1}")).json()
    row = next(r for r in ws["tables"]["workstations"] if r["unit"] == S1 + "001")
    assert (row["received"], row["closed"], row["overdue_open"]) == (3, 2, 1)
    assert (await client.get("/api/v1/stats/assessment?month=2026-13")).status == 400


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
    assert header[:4] == ["排名", "单位代码", "单位", "受理数"]
    csv_rows = {r[1]: r for r in lines if len(r) == len(header) and r[0].isdigit()}
    xres = await client.get("/api/v1/stats/assessment.xlsx?month=2026-11")
    assert xres.status == 200
    wb = load_workbook(io.BytesIO(await xres.read()))
    assert wb.sheetnames == ["departments", "streets"]
    for sheet, rows in body["tables"].items():
        xrows = list(wb[sheet].iter_rows(values_only=True))
        assert list(xrows[0]) == header
        by_unit = {r[1]: r for r in xrows[1:]}
        for r in rows:
            x, c = by_unit[r["unit"]], csv_rows[r["unit"]]
            for i, name in enumerate(("rank", "unit", "name", "received", "closed", "overdue_open",
                                      "due_for_closing", "closure_rate", "on_time_rate")):
                assert x[i] == r[name]
                assert c[i] == ("" if r[name] is None else str(r[name]))
    assert by_unit["310101002"][header.index("综合得分")] == 100.0
