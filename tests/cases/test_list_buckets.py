"""Filtered lists read the filter's buckets (cases.schema.derived `by_*`): after transitions move
a case between states and units, each filtered list is exactly the cases that match, newest
first, page after page."""

from __future__ import annotations

from typing import Any

from aiohttp.test_utils import TestClient

from cases.colour import colour_of
from cases.schema import read_case
from gridlink.clock import FakeClock
from gridlink.db import Database
from tests.cases.conftest import Tokens, bearer

Client = TestClient[Any, Any]
BASE = {"channel": "hotline_12345", "kind": "complaint", "category": "road_damage",
        "description": "Pothole outside No. 12 Fuxing Road", "location": {"lon": 121.4737, "lat": 31.2304}}
# Intakes spread over hours (each list walks back hour by hour) and over the filters' values.
MIX = [{}, {"channel": "mayor_mailbox", "kind": "suggestion", "category": "other"},
       {"category": "street_light"}, {"kind": "help"}, {"channel": "web_portal"},
       {"category": "street_light", "kind": "help"}]


async def _post(client: Client, path: str, token: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    resp = await client.post(path, json=body or {}, headers=bearer(token))
    data = await resp.json()
    assert resp.status in (200, 201), (path, resp.status, data)
    return data  # type: ignore[no-any-return]


async def _pages(client: Client, token: str, query: str) -> list[str]:
    """Every id of a filtered list, two per page, following the cursor."""
    seen: list[str] = []
    url = f"/api/v1/cases?{query}&limit=2"
    for _ in range(100):
        resp = await client.get(url, headers=bearer(token))
        body = await resp.json()
        assert resp.status == 200, body
        seen += [c["id"] for c in body["cases"]]
        if not body["next_cursor"]:
            return seen
        url = f"/api/v1/cases?{query}&limit=2&cursor={body['next_cursor']}"
    raise AssertionError("the cursor never ended")


def unit(case: dict[str, Any]) -> str | None:
    return (case.get("assignee") or {}).get("unit")


def _expected(cases: list[dict[str, Any]], keep: Any) -> list[str]:
    """The matching ids, newest first (the lists' order: creation time, then id)."""
    found = [c for c in cases if keep(c)]
    found.sort(key=lambda c: (c["created_at"], str(c["_id"])), reverse=True)
    return [c["_id"] for c in found]


async def test_filtered_lists_follow_transitions_through_paging(
        client: Client, tokens: Tokens, db: Database, clock: FakeClock) -> None:
    c, roads = tokens["center"], tokens["roads"]
    made = []
    for i in range(12):
        made.append((await _post(client, "/api/v1/cases", c, {**BASE, **MIX[i % len(MIX)],
                                                              "description": f"case {i}"}))["case"])
        clock.advance(minutes=47)  # several cases an hour, a dozen hours in all
    # Transitions move the state and unit buckets: dispatched, returned and re-dispatched to
    # another unit, accepted, closed.
    for case in made[:6]:
        await _post(client, f"/api/v1/cases/{case['id']}/dispatch", c, {"unit": "D07"})
    for case in made[:2]:
        await _post(client, f"/api/v1/cases/{case['id']}/return", roads, {"reason": "not ours"})
        await _post(client, f"/api/v1/cases/{case['id']}/dispatch", c, {"unit": "D02"})
    await _post(client, f"/api/v1/cases/{made[3]['id']}/accept", roads)
    clock.advance(hours=30)  # the dispatch and handling limits of some pass: red
    now = clock.now()
    stored = [read_case(d) for d in await db.cases.find({}).to_list(None)]
    checks: dict[str, Any] = {
        "status=dispatched": lambda c: c["state"] == "dispatched",
        "status=reported": lambda c: c["state"] == "reported",
        "status=in_progress,dispatched": lambda c: c["state"] in ("in_progress", "dispatched"),
        "unit=D07": lambda c: unit(c) == "D07",
        "unit=D02": lambda c: unit(c) == "D02",
        "unit=D02&status=dispatched": lambda c: unit(c) == "D02" and c["state"] == "dispatched",
        "channel=mayor_mailbox": lambda c: c["channel"] == "mayor_mailbox",
        "channel=web_portal,hotline_12345": lambda c: c["channel"] in ("web_portal", "hotline_12345"),
        "category=street_light": lambda c: c["category"] == "street_light",
        "kind=help": lambda c: c["kind"] == "help",
        "kind=help&category=street_light": lambda c: c["kind"] == "help" and c["category"] == "street_light",
        "kind=help&channel=mayor_mailbox": lambda c: False,
        "colour=red": lambda c: colour_of(c, now) == "red",
        "colour=blue,yellow": lambda c: colour_of(c, now) in ("blue", "yellow"),
        "colour=green": lambda c: colour_of(c, now) == "green",
    }
    for query, keep in checks.items():
        assert await _pages(client, c, query) == _expected(stored, keep), query
    assert _expected(stored, checks["unit=D02"]) == [made[1]["id"], made[0]["id"]]
    assert _expected(stored, checks["colour=red"])  # the test covers a non-empty red list
    # A whole serial number finds its case.
    assert await _pages(client, c, f"q={made[4]['serial']}") == [made[4]["id"]]
    # A case moves out of a state's list and into another's when it changes.
    await _post(client, f"/api/v1/cases/{made[1]['id']}/accept", tokens["chengguan"])
    assert made[1]["id"] not in await _pages(client, c, "status=dispatched")
    assert made[1]["id"] in await _pages(client, c, "status=in_progress")
    assert await _pages(client, c, "unit=D02&status=in_progress") == [made[1]["id"]]
