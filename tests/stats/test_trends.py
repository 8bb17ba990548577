"""Trends over HTTP from the trend cells: counts equal the cases', filters combine by name's
codes, comparison periods, PNG in both languages, bad input is a 400."""

from __future__ import annotations

import io
from collections import Counter
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

from aiohttp.test_utils import TestClient
from PIL import Image

from gridlink.clock import FakeClock
from gridlink.db import Database
from stats import repository as repo
from stats import trends as tr
from stats.facts import facts
from stats.history import generate
from stats.rollups import rebuild, recompute
from stats.units import demo_directory
from tests.stats.conftest import folded

NOW = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")


async def load(db: Database, n: int = 1500, years: float = 1.3) -> list[dict]:
    docs = list(generate(n, now=NOW, years=years, seed=5))
    await db.cases.insert_many(docs)
    await rebuild(db, now=NOW)
    return docs


def brute(docs: list[dict], start: date, end: date, key: str, **where: set[str]) -> Counter[str]:
    out: Counter[str] = Counter()
    d = demo_directory()
    for case in docs:
        dims = facts(case, TZ)["dims"]
        if dims["state"] == "merged" or not start.isoformat() <= dims["day"] <= end.isoformat():
            continue
        place = dims["block"] if dims["block"] != "-" else dims["sblock"]
        dims = {**dims, "place": place, "station": d.parent.get(place) or "-"}
        if all(dims[k] in v for k, v in where.items()):
            out[dims[key] if key != "total" else "total"] += 1
    return out


async def test_trend_counts_equal_the_cases_for_combined_filters(
        client: TestClient, db: Database, clock: FakeClock) -> None:
    clock.set(NOW)
    docs = await load(db)
    streets = Counter(c["placement"]["street"] for c in docs).most_common(2)
    s1, s2 = streets[0][0], streets[1][0]
    cats = [c for c, _ in Counter(c["category"] for c in docs).most_common(2)]
    # Two streets × two categories, lines by category, daily.
    res = await client.get(f"/api/v1/stats/trends?grain=day&by=category&from=2026-09-01&to=2026-11-27"
                           f"&street={s1},{s2}&category={cats[0]}&category={cats[1]}")
    body = await res.json()
    assert res.status == 200, body
    want = brute(docs, date(2026, 9, 1), date(2026, 11, 27), "category", street={s1, s2},
                 category=set(cats))
    assert {s["key"]: s["sum"] for s in body["series"]} == dict(want)
    assert len(body["buckets"]) == 88 and body["buckets"][0] == "2026-09-01"
    assert all(s["name"] and s["name"] != s["key"] for s in body["series"])  # names, not codes
    # Weekly by block within a workstation and one channel: block-level documents.
    station = Counter(c["placement"]["workstation"] for c in docs if c["placement"]["workstation"]).most_common(1)[0][0]
    res = await client.get(f"/api/v1/stats/trends?grain=week&by=block&station={station}"
                           "&channel=patrol_bot&from=2026-01-01&to=2026-11-27&lang=en")
    body = await res.json()
    assert body["buckets"][0] == "2025-W53" or body["buckets"][0].startswith("2026-W01")
    start, end = date.fromisoformat(body["from"]), date.fromisoformat(body["to"])
    want = brute(docs, start, end, "place", station={station}, channel={"patrol_bot"})
    assert {s["key"]: s["sum"] for s in body["series"]} == dict(want)
    # Monthly total with both comparisons.
    body = await (await client.get("/api/v1/stats/trends?grain=month&from=2026-06-01&to=2026-11-27")).json()
    assert body["buckets"] == ["2026-06", "2026-07", "2026-08", "2026-09", "2026-10", "2026-11"]
    assert body["sum"] == sum(brute(docs, date(2026, 6, 1), date(2026, 11, 30), "total").values())
    prev = body["compare"]["previous"]
    assert (prev["from"], prev["to"]) == ("2025-12-01", "2026-05-31")
    assert prev["sum"] == sum(brute(docs, date(2025, 12, 1), date(2026, 5, 31), "total").values())
    last = body["compare"]["last_year"]
    assert last["buckets"][0] == "2025-06" and last["sum"] == sum(
        brute(docs, date(2025, 6, 1), date(2025, 11, 30), "total").values())


async def test_a_new_case_shows_in_the_trend_once_folded(client: TestClient, db: Database,
                                                         clock: FakeClock) -> None:
    from tests.stats.test_api import hotline_complaint

    clock.set(NOW)
    await load(db, n=200, years=0.05)
    q = "/api/v1/stats/trends?street=310101004&category=food_hygiene&from=2026-11-27&to=2026-11-27&compare="
    before = (await (await client.get(q)).json())["sum"]
    await hotline_complaint(db, street="310101004", now=NOW)
    await folded(db, now=NOW)
    assert (await (await client.get(q)).json())["sum"] == before + 1


async def test_trend_png_in_chinese_and_english_and_bad_input(client: TestClient, db: Database,
                                                             clock: FakeClock) -> None:
    clock.set(NOW)
    await load(db, n=300, years=0.2)
    sizes = []
    for lang in ("zh", "en"):
        res = await client.get(f"/api/v1/stats/trends.png?by=category&lang={lang}&width=640&height=400")
        assert res.status == 200 and res.content_type == "image/png"
        img = Image.open(io.BytesIO(await res.read()))
        img.load()
        sizes.append(img.size)
    assert sizes == [(640, 400), (640, 400)]
    opts = await (await client.get("/api/v1/stats/trends/options?lang=en&street=310101004")).json()
    assert opts["blocks"] and opts["stations"] and opts["categories"][0]["name"].isascii()
    for bad in ("grain=hour", "by=nope", "from=2026-12-01&to=2026-11-01", "street=a%3Cb",
                "grain=day&from=2020-01-01&to=2026-11-01", "compare=never", "lang=fr",
                "width=123"):
        res = await client.get("/api/v1/stats/trends.png?" + bad if "width" in bad
                               else "/api/v1/stats/trends?" + bad)
        assert res.status == 400, bad
        assert (await res.json())["error"]["code"]


async def test_trend_reads_a_few_documents_whatever_the_cases() -> None:
    """Cost independence: a year's daily trend reads one document per month and period
    compared (the district's), or one per month and street involved — not per case."""
    d = demo_directory()
    q = tr.validate(tr.Query(date(2025, 11, 28), date(2026, 11, 27), "day", "category",
                             tr.Filters(categories=frozenset({"exposed_garbage"}))))
    assert len(tr.doc_ids(q.start, q.end, tr._streets(q, d))) == 13
    q2 = tr.validate(tr.Query(q.start, q.end, "week", "block", tr.Filters(blocks=frozenset({"310101004001001"}))))
    assert len(tr.doc_ids(q2.start, q2.end, tr._streets(q2, d))) == 13
    small, _ = recompute(list(generate(300, now=NOW, years=1, seed=2)))
    big, _ = recompute(list(generate(3000, now=NOW, years=1, seed=2)))
    months = len({k.split("|")[0] for k in big if "|T|" in k})
    bound = months * (1 + len(d.of_level("street")))  # the district's and each street's, per month
    assert len([k for k in small if "|T|" in k]) <= bound
    assert len([k for k in big if "|T|" in k]) <= bound
    assert repo.LAYOUT >= 7


def test_trend_documents_are_packed_arrays_that_round_trip() -> None:
    """The stored trend month (stats.trend_codec) gives back exactly the cells it was built
    from, and its size follows the combinations that exist, not the cases counted in them."""
    from stats import trend_codec

    rollups, _ = recompute(list(generate(2000, now=NOW, years=0.3, seed=8)))
    trend = {k: v for k, v in rollups.items() if "|T|" in k}
    assert trend
    for key, cells in trend.items():
        doc = repo.packed(key, cells)
        assert set(doc) == {"z", "r"} and repo.rollup_of(doc) == cells
    # The same combinations with a thousand times the cases: a few bytes more (wider integers).
    key = max(trend, key=lambda k: len(trend[k]))
    big = {v: {dd: n * 1000 for dd, n in by_day.items()} for v, by_day in trend[key].items()}
    assert len(repo.packed(key, big)["z"]) < 2 * len(repo.packed(key, trend[key])["z"]) + 200
    assert trend_codec.cells_of(repo.packed(key, big)) == big
    assert repo.packed(key, {})["z"] and trend_codec.cells_of(repo.packed(key, {})) == {}
    # The folder's path (stored arrays + a round's changes) packs to the very bytes of a
    # recomputation: a new value, a count added, and a value whose counts cancel out.
    gone = next(iter(trend[key]))
    change = {"new~c~h~d": {"03": 2}, gone: {dd: -n for dd, n in trend[key][gone].items()}}
    after = {v: dict(c) for v, c in trend[key].items() if v != gone} | {"new~c~h~d": {"03": 2}}
    assert trend_codec.merged(repo.packed(key, trend[key]), change) == repo.packed(key, after)
    assert trend_codec.merged(repo.packed(key, {"a~b~c~d": {"01": 1}}), {"a~b~c~d": {"01": -1}}) is None
