"""Early warning: the method on synthetic series (alarms on a rise, not on noise, not on small
counts), and through the database: an injected rise opens one episode, alerts the street
center, the district center and the station head once, across rounds and a restart."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from aiohttp.test_utils import TestClient

from gridlink import auth
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.settings import Settings
from notify.config import NotifyConfig
from stats import chat
from stats import early_warning as ew
from stats.history import generate
from stats.rollups import rebuild
from stats.units import _cache as directory_cache
from stats.units import demo_directory

NOW = datetime(2026, 11, 27, 4, 0, tzinfo=UTC)
TZ = ZoneInfo("Asia/Shanghai")
CFG = ew.Config()


def test_a_tripled_rate_alarms_within_a_week_and_noise_does_not() -> None:
    rng = np.random.default_rng(7)
    quiet = rng.poisson(1.5, (300, 900))
    alarms = {w.days: ew.detect(quiet, CFG, w, start=400)["alarm"] for w in CFG.windows()}
    # Noise: at most a handful of alarms in 300 series × 500 days.
    assert sum(int(a.sum()) for a in alarms.values()) <= 300 * 500 * 0.002
    rising = quiet[:50].copy()
    rising[:, 800:814] = rng.poisson(4.5, (50, 14))
    found = np.zeros(50, dtype=bool)
    for w in CFG.windows():
        found |= ew.detect(rising, CFG, w, start=800)["alarm"][:, :7].any(axis=1)
    assert found.mean() >= 0.9


def test_small_counts_never_alarm() -> None:
    y = np.zeros((3, 500))
    y[0, 499] = 1  # 0 → 1
    y[1, 497:500] = 1  # three single cases in a row after nothing
    y[2, ::50] = 1
    y[2, 499] = 2
    for w in CFG.windows():
        assert not ew.detect(y, CFG, w, start=480)["alarm"].any()
    # The same rise on a series that had cases every week is still no alarm below min_count...
    z = np.zeros((1, 500))
    z[0, 499] = CFG.daily_min_count  # ...but min_count cases in a day after an empty year is one
    assert ew.detect(z, CFG, CFG.windows()[0], start=499)["alarm"].all()


def test_a_street_rise_is_localised_to_the_block_driving_it() -> None:
    """Kulldorff's conditional model: the block whose share of the street's week jumped is
    named; a rise spread over the whole street names no block; one case names none."""
    rng = np.random.default_rng(3)
    rates = rng.pareto(1.6, 60) * 0.02 + 0.01  # 60 blocks of one street × category, per day
    y = rng.poisson(rates[:, None], (60, 500)).astype(float)
    quiet = ew.localise(y, day=499, cfg=CFG)
    hot = int(np.argsort(rates)[30])  # a middling block
    y[hot, 493:500] += rng.poisson(1.2, 7) + 1  # about 15 extra cases in its week
    found = ew.localise(y, day=499, cfg=CFG, prior=rates)
    assert found and found[0][0] == hot and found[0][1] > found[0][2]
    assert all(i != hot for i, *_ in quiet)
    spread = y.copy()
    spread[:, 493:500] = rng.poisson(rates[:, None] * 4, (60, 7))  # everyone ×4: no one block
    assert ew.localise(spread, day=499, cfg=CFG) == []
    few = np.zeros((60, 500))
    few[5, 498:500] = 1  # two cases where there were none: too few to point at a block
    assert ew.localise(few, day=499, cfg=CFG) == []


def test_thresholds_come_from_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    from gridlink.settings import SettingsError, load_settings

    assert ew.Config.from_settings(load_settings()) == ew.Config()  # one set of defaults
    monkeypatch.setenv("EARLY_WARNING_WEEKLY_ALPHA", "0.01")
    monkeypatch.setenv("EARLY_WARNING_DAILY_MIN_COUNT", "9")
    cfg = ew.Config.from_settings(load_settings())
    assert (cfg.weekly_alpha, cfg.daily_min_count) == (0.01, 9)
    # A bad value stops the process at start, naming the variable; 0 → 1 can never be allowed.
    for name, bad in (("EARLY_WARNING_WEEKLY_ALPHA", "often"), ("EARLY_WARNING_DAILY_MIN_COUNT", "1")):
        monkeypatch.setenv(name, bad)
        with pytest.raises(SettingsError, match=name):
            load_settings()
        monkeypatch.delenv(name)


BLOCK = "310101004001001"
STREET = "310101004"


async def _history_with_rise(db: Database) -> tuple[str, str]:
    docs = list(generate(3000, now=NOW, years=1.2, seed=11))
    template = next(d for d in docs if d["placement"].get("community_block") == BLOCK)
    category = template["category"]
    for k in range(12):  # twelve cases of one category in one block over the last two days
        c = copy.deepcopy(template)
        at = NOW - timedelta(hours=2 + 3 * k)
        c.update(_id=f"rise{k}", serial=f"RISE{k}", intake_key=f"rise:{k}", created_at=at, updated_at=at)
        c["history"][0]["at"] = at
        docs.append(c)
    await db.cases.insert_many(docs)
    await rebuild(db, now=NOW)
    return BLOCK, category


async def _roster(db: Database) -> None:
    d = demo_directory()
    station = d.parent[BLOCK]
    await db.roster.insert_many([
        {"_id": "r1", "unit": STREET, "role": "dispatcher", "chat_id": 501, "user_id": 501, "name": "街道受理"},
        {"_id": "r2", "unit": "310101", "role": "dispatcher", "chat_id": 502, "user_id": 502, "name": "区中心",
         "locale": "en"},
        {"_id": "r3", "unit": station, "role": "station_head", "chat_id": 503, "user_id": 503, "name": "站长"},
        {"_id": "r4", "unit": "310101001", "role": "dispatcher", "chat_id": 504, "user_id": 504, "name": "别的街道"},
    ])


async def _outbox(db: Database) -> list[dict]:
    from notify import repository as notify_repo

    return await notify_repo.find_messages(db, query={"kind": "early_warning"})


def _cfg(settings: Settings) -> NotifyConfig:
    return NotifyConfig.from_settings(settings)


async def test_an_injected_rise_alerts_the_right_chats_once(client: TestClient, db: Database,
                                                           clock: FakeClock, settings: Settings) -> None:
    from notify import alerts as notify_alerts

    clock.set(NOW)
    block, category = await _history_with_rise(db)
    await _roster(db)
    cfg = _cfg(settings)
    first = await notify_alerts.round_(db, cfg, now=NOW, base_url="https://g.example")
    episodes = await db[ew.ALERTS].find({}).to_list(None)
    mine = [e for e in episodes if e["place"] == block and e["category"] == category]
    assert len(mine) == 1 and mine[0]["observed"] > mine[0]["upper"] >= mine[0]["expected"]
    msgs = await _outbox(db)
    to_block = [m for m in msgs if f"block|{block}|{category}" in m["_id"]]
    assert sorted(m["chat_id"] for m in to_block) == [501, 502, 503]  # never 504, another street
    zh = next(m for m in to_block if m["chat_id"] == 501)["text"]
    en = next(m for m in to_block if m["chat_id"] == 502)["text"]
    assert "预警" in zh and "https://g.example/board?unit=" + block in zh and "Early warning" in en
    assert first["opened"] == len(episodes)
    # Later rounds the same day, the next day (still high), and after a restart (module state
    # cleared): no new episode, no new message.
    for later in (NOW + timedelta(hours=1), NOW + timedelta(days=1)):
        directory_cache.clear()
        ew._indexed.clear()
        again = await notify_alerts.round_(db, cfg, now=later, base_url="https://g.example")
        assert again["queued"] == 0
        assert len([m for m in await _outbox(db) if f"block|{block}|{category}" in m["_id"]]) == 3
    # A crash after the episode was opened but before its messages were queued: the next round
    # queues them, under the same ids.
    await db[ew.ALERTS].update_one({"_id": mine[0]["_id"]}, {"$set": {"delivered": False}})
    assert await notify_alerts.deliver(db, cfg, now=NOW, base_url="https://g.example") == 0
    assert (await db[ew.ALERTS].find_one({"_id": mine[0]["_id"]}))["delivered"] is True
    # The alerts API: the street's dispatcher sees it, another street's does not; no token: 401.
    tok = {name: await auth.create_token(db, role="dispatcher", unit=unit, district="310101",
                                         name=name, now=NOW)
           for name, unit in (("here", STREET), ("there", "310101001"))}
    seen = {}
    for name, token in tok.items():
        res = await client.get("/api/v1/stats/alerts?lang=en",
                               headers={"Authorization": f"Bearer {token}"})
        assert res.status == 200
        seen[name] = [a for a in (await res.json())["alerts"] if a["place"] == block]
    assert len(seen["here"]) == 1 and seen["there"] == []
    assert seen["here"][0]["category_name"].isascii()
    assert (await client.get("/api/v1/stats/alerts")).status == 401


async def test_the_digest_carries_the_week_chart_and_the_early_warnings(
        db: Database, settings: Settings) -> None:
    from notify import alerts as notify_alerts
    from notify import digest

    await _history_with_rise(db)
    await _roster(db)
    cfg = _cfg(settings)
    await notify_alerts.round_(db, cfg, now=NOW, base_url="https://g.example")
    hook = chat.digest_chart_hook(district="310101", tz=TZ, base_url="https://g.example")
    job = {"_id": "digest:2026-11-27", "due_at": NOW - timedelta(minutes=5)}
    saved, digest.CHART_HOOK = digest.CHART_HOOK, hook
    try:
        assert await digest.send_digest(db, cfg, job=job, now=NOW) > 0
    finally:
        digest.CHART_HOOK = saved
    from notify import repository as notify_repo

    sent = {m["chat_id"]: m for m in await notify_repo.find_messages(db, query={"kind": "digest"})}
    street = sent[501]
    assert street["photo"].startswith("https://g.example/api/v1/stats/trends.png?")
    assert f"street={STREET}" in street["photo"]
    assert "预警" in street["text"] and "Early warning" in sent[502]["text"]
    assert "预警" not in sent[504]["text"]  # another street's center hears nothing of it
    # Without a public HTTPS site Telegram could not fetch the picture: a text digest.
    local = chat.digest_chart_hook(district="310101", tz=TZ, base_url="http://127.0.0.1:8080")
    assert await local(db, STREET, NOW) is None


async def test_the_bot_gets_a_units_week_chart(db: Database) -> None:
    import io

    from PIL import Image

    await db.cases.insert_many(list(generate(400, now=NOW, years=0.1, seed=4)))
    await rebuild(db, now=NOW)
    png = await chat.unit_trend_png(db, unit=STREET, now=NOW, tz=TZ, district="310101", locale="en")
    assert Image.open(io.BytesIO(png)).format == "PNG"
    hook = chat.digest_chart_hook(district="310101", tz=TZ, base_url="https://g.example")
    url = await hook(db, BLOCK, NOW)
    assert url and url.startswith("https://g.example/api/v1/stats/trends.png?") and f"block={BLOCK}" in url
    body = await chat.unit_trend(db, unit=STREET, now=NOW, tz=TZ, district="310101", locale="zh")
    assert len(body["buckets"]) == 7 and body["to"] == date(2026, 11, 27).isoformat()


def test_the_generator_injects_an_outbreak_at_its_place_category_and_period() -> None:
    from collections import Counter

    from stats.history import Outbreak

    base = list(generate(4000, now=NOW, years=1, seed=3))
    (block, category), n = Counter((d["placement"]["community_block"], d["category"]) for d in base
                                   if d["placement"]["community_block"]).most_common(1)[0]
    ob = Outbreak.parse(f"{block}:{category}:2026-10-01:28:6")
    extra = list(generate(4000, now=NOW, years=1, seed=3, outbreaks=[ob]))[4000:]
    # (6 − 1) × the pair's own rate (≈ n a year) over 28 days
    assert abs(len(extra) - 5 * n * 28 / 365) <= 1.5
    assert {(d["placement"]["community_block"], d["category"]) for d in extra} <= {(block, category)}
    assert all(date(2026, 10, 1) <= d["created_at"].astimezone(TZ).date() <= date(2026, 10, 29) for d in extra)
    for bad in ("x", f"{block}:{category}:2026-10-01:0:3", f"{block}:{category}:2026-10-01:7:1"):
        with pytest.raises(ValueError):
            Outbreak.parse(bad)


def test_a_street_alert_names_its_blocks_and_reaches_their_station_heads() -> None:
    d = demo_directory()
    alert = {"_id": "x", "level": "street", "street": STREET, "place": STREET, "category": "exposed_garbage",
             "window": 7, "observed": 30, "expected": 11.5, "upper": 22,
             "blocks": [{"block": BLOCK, "observed": 12, "expected": 1.4}]}
    zh = chat.alert_text(alert, d, locale="zh-CN", base_url="https://g.example")
    en = chat.alert_text(alert, d, locale="en", base_url="https://g.example")
    assert f"主要在：{d.name[BLOCK]} 12 件" in zh.split("\n")[1]
    assert f"Mostly in: {d.name_en[BLOCK]} 12 (expected about 1.4)" in en
    units = chat.recipient_units(alert, d, "310101")
    assert (d.parent[BLOCK], ("station_head",)) in units and (STREET, ("dispatcher",)) in units
    assert chat.recipient_units({**alert, "blocks": []}, d, "310101") == [
        (STREET, ("dispatcher",)), ("310101", ("dispatcher",))]
