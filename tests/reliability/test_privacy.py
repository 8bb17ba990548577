"""Privacy and identity: invites are single-use and expire; a citizen tracking someone else's
serial sees no words, phone or place of it; public endpoints carry no phone numbers, chat ids
or exact reporter positions; another reporter cannot rate; secrets never reach the logs."""

from __future__ import annotations

import asyncio
import json
import logging
from datetime import timedelta

import aiohttp
import pytest
from aiohttp.test_utils import TestClient

from bot import repository as bot_repo
from cases.intake import intake
from cases.model import CasePolicy
from gridlink import auth
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.i18n import t
from gridlink.settings import SANDBOX_BOT_TOKEN, Settings
from open311 import repository as open311_repo
from stats import repository as stats_repo
from tests.bot.conftest import BLOCK_ONE, BotWorld
from tests.stats.conftest import folded

PHONE = "13912345678"
PRECISE = (121.4053117, 31.2051234)  # lon, lat of the reporter: must never be shown publicly


async def test_invites_are_single_use_and_expire(world: BotWorld) -> None:
    token = await bot_repo.create_invite(world.db, role="leader", unit=BLOCK_ONE, name="L",
                                         now=world.clock.now(), ttl=timedelta(hours=1))
    first, second = await world.phone("First", language_code="en"), await world.phone("Second", language_code="en")
    await first.send(f"/start {token}")
    assert "Leader" in (await first.reply())["text"] or "leader" in first.seen[-1]["text"].lower()
    await second.send(f"/start {token}")
    assert (await second.reply())["text"] == t("invite.used", "en")
    late = await bot_repo.create_invite(world.db, role="leader", unit=BLOCK_ONE, name="L",
                                        now=world.clock.now(), ttl=timedelta(hours=1))
    world.clock.advance(timedelta(hours=2))
    await second.send(f"/start {late}")
    assert (await second.reply())["text"] == t("invite.expired", "en")
    assert (await world.db.roster.find_one({"_id": second.id})) is None


async def test_citizens_see_only_their_own_and_public_views_leak_nothing(
        world: BotWorld, caplog: pytest.LogCaptureFixture, request: pytest.FixtureRequest) -> None:
    caplog.set_level(logging.DEBUG)
    # As gridlink.logs.setup_logging configures every process (httpx would log Bot API URLs,
    # which contain the token); test_processes greps the real processes' logs as well.
    httpx_log = logging.getLogger("httpx")
    request.addfinalizer(lambda level=httpx_log.level: httpx_log.setLevel(level))
    httpx_log.setLevel(logging.WARNING)
    owner, stranger = await world.phone("Owner", language_code="en"), await world.phone("Stranger", language_code="en")
    words = "My neighbour at flat 301 keeps dumping rubbish"
    await owner.send("/report")
    await owner.press(await owner.reply(), "f:kind:complaint")
    await owner.reply()
    await owner.send(words)
    await owner.press(await owner.reply(), "f:confirm")
    serial = (await owner.reply())["text"].split("Serial number ")[1].split(".")[0]
    await world.db.cases.update_one({"serial": serial}, {"$set": {
        "reporter.phone": PHONE, "location": {"lon": PRECISE[0], "lat": PRECISE[1]}}})
    case = await world.db.cases.find_one({"serial": serial})
    assert case is not None

    # Another citizen tracking the serial learns its state, not its words.
    await stranger.send(serial)
    seen = (await stranger.reply())["text"]
    assert serial in seen and words not in seen and PHONE not in seen

    # Anonymous endpoints: no phone, chat id, exact position or the appeal's words.
    token = await auth.create_token(world.db, role="admin", unit="310101", district="310101",
                                    name="admin-token-holder", now=world.clock.now())
    async with aiohttp.ClientSession() as s:
        for path in (f"/api/v1/public/cases/{serial}", f"/api/v1/portal/cases/{serial}",
                     f"/open311/v2/requests/{serial}.json", "/open311/v2/requests.json",
                     "/api/v1/stats/board", "/api/v1/stats/map?street=310101001"):
            async with s.get(world.url + path) as r:
                body = await r.text()
                assert r.status < 500, (path, body)
                for secret in (PHONE, str(owner.id), str(PRECISE[0]), str(PRECISE[1]), "12345678",
                               "2051234", words):
                    assert secret not in body, (path, secret)
        # Rating needs the reporter's own code: a stranger's guess is refused, nothing stored.
        async with s.post(world.url + f"/api/v1/portal/cases/{serial}/rating",
                          json={"code": "AAAAAA", "score": 1}) as r:
            assert 400 <= r.status < 500 and (await r.json())["error"]["message"]
        # Staff see the reporter (the same case, with a token).
        async with s.get(world.url + f"/api/v1/cases/{serial}",
                         headers={"Authorization": f"Bearer {token}"}) as r:
            assert PHONE in await r.text()
        # The webhook refuses a missing or wrong secret.
        for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
            async with s.post(world.url + "/telegram/webhook", json={"update_id": 1}, headers=headers) as r:
                assert r.status == 403 and (await r.json())["error"]["message"]
    assert (await world.db.cases.find_one({"serial": serial}))["rating"] is None  # type: ignore[index]

    # Nothing secret in any log record of the whole flow (bot token, webhook secret, API token).
    text = "\n".join(f"{r.getMessage()} {json.dumps(r.__dict__, default=str)}" for r in caplog.records)
    assert caplog.records
    for secret in (SANDBOX_BOT_TOKEN, world.settings.webhook_secret, token):
        leaks = sorted({r.name for r in caplog.records if secret in f"{r.getMessage()} {r.__dict__}"})
        assert secret not in text, f"a secret reached the logs: {secret[:6]}… via {leaks}"


# ---------------------------------------------------------------- the anonymous doors, as a table
#
# Every public route (portal, Open311, stats JSON) × every principal that may call it (nobody;
# a staff token or an Open311 key, which these routes do not honour: they see what anyone
# sees) × each kind of case. Values planted in the cases are searched for in the raw answers.

STREET, WORKSTATION, BLOCK = "310101003", "310101003002", "310101003002001"
PLACEMENT = {"district": "310101", "street": STREET, "workstation": WORKSTATION,
             "community_block": BLOCK, "street_block": None, "patrol_zone": None,
             "snapped": False, "distance_m": 0.0}
CENTER = {"role": "dispatcher", "unit": "310101", "name": "受理员甲"}
PATROL = {"role": "coordinator", "unit": BLOCK, "user_id": 5550003, "chat_id": 5550004,
          "name": "孙巡查"}
CITIZEN = {"user_id": 5550001, "chat_id": 5550002, "phone": "13900002222", "name": "钱七",
           "locale": "en"}
# (lon, lat) planted per case: the patrol's is published with its case, the others never.
PLACES = {"patrol": (121.4301111, 31.1801111), "police": (121.4304444, 31.1804444),
          "citizen": (121.4302222, 31.1802222), "hotline": (121.4303333, 31.1803333)}
# kind → (channel, kind, category, words, reporter, actor); filed oldest first.
KINDS = {
    "police": ("transfer_110", "complaint", "neighbour_dispute", "110转来：五楼家暴报警",
               {"phone": "13611113333", "name": "周报警"}, CENTER),
    "patrol": ("patrol_bot", "hazard", "group_renting", "巡查发现群租", None, PATROL),
    "citizen": ("citizen_bot", "complaint", "food_hygiene", "楼下饭店后厨脏乱",
                CITIZEN, {"role": "citizen", **CITIZEN}),
    "hotline": ("hotline_12345", "complaint", "neighbour_dispute", "隔壁王先生天天吵闹",
                {"phone": "13700001111", "name": "赵六"}, CENTER),
}
PUBLIC = {"patrol": True, "police": False, "citizen": True, "hotline": True}
NEVER = ["13611113333", "周报警", "13900002222", "钱七", "5550001", "5550002", "13700001111", "赵六",
         "5550003", "5550004", "孙巡查", "110转来", "家暴", "后厨脏乱", "王先生", "受理员甲",
         *(str(v) for kind in ("police", "citizen", "hotline") for v in PLACES[kind])]


@pytest.fixture
async def planted(client: TestClient, db: Database, clock: FakeClock,
                  settings: Settings) -> dict[str, dict]:
    from media import service as media_service
    from tests.open311.test_open311 import _jpeg

    photo = (await media_service.ingest(db, data=_jpeg(), content_type="image/jpeg",
                                        uploader="bot", settings=settings, now=clock.now())).id
    made = {}
    for kind, (channel, k, category, words, reporter, actor) in KINDS.items():
        lon, lat = PLACES[kind]
        made[kind] = (await intake(db, policy=CasePolicy.from_settings(settings), now=clock.now(),
                                   channel=channel, kind=k, category=category, description=words,
                                   reporter=reporter, actor=actor, location={"lon": lon, "lat": lat},
                                   placement=PLACEMENT,
                                   photos=[photo] if kind == "citizen" else None)).case
        clock.advance(minutes=1)
    assert [made[k]["public"] for k in KINDS] == [PUBLIC[k] for k in KINDS]
    clock.advance(hours=2)  # all past their dispatch time: red, the police transfer the oldest
    await folded(db, now=clock.now())
    return made


# route → which kinds' serials it must show (None: those it may, not asserted); `{serial}`
# routes are asked once per kind and answer 200 for public cases, 404 for the others.
LISTS = {
    "/open311/v2/requests.json": {"patrol", "citizen", "hotline"},
    "/open311/v2/requests.xml": {"patrol", "citizen", "hotline"},
    "/open311/v2/requests.json?service_request_id={all}": {"patrol", "citizen", "hotline"},
    f"/api/v1/stats/board?unit={BLOCK}": {"patrol", "citizen", "hotline"},
    f"/api/v1/stats/board?unit={WORKSTATION}": None,
    f"/api/v1/stats/board?unit={STREET}": None,
    "/api/v1/stats/board": None,
    f"/api/v1/stats/map?street={STREET}": {"patrol"},
    "/api/v1/stats/hotspots?by=street": set(),
    "/api/v1/stats/headline": set(),
    "/api/v1/portal/performance": set(),
}
SINGLE = ("/api/v1/portal/cases/{serial}", "/open311/v2/requests/{serial}.json",
          "/open311/v2/requests/{serial}.xml")
PRINCIPALS = ("anonymous", "staff token", "open311 key")


async def _headers(principal: str, db: Database, clock: FakeClock) -> tuple[dict[str, str], str]:
    if principal == "staff token":
        token = await auth.create_token(db, role="admin", unit="310101", district="310101",
                                        name="admin", now=clock.now())
        return {"Authorization": f"Bearer {token}"}, ""
    if principal == "open311 key":
        return {}, "api_key=" + await open311_repo.create_key(db, name="app", now=clock.now())
    return {}, ""


@pytest.mark.parametrize("principal", PRINCIPALS)
async def test_anonymous_doors_show_public_cases_only_and_nothing_personal(
        client: TestClient, db: Database, clock: FakeClock, planted: dict[str, dict],
        principal: str) -> None:
    headers, query = await _headers(principal, db, clock)
    # The pages read the last folded statistics; on a busy machine the app's own folder may be
    # mid-round (or just starting) when we ask, so fold until nothing waits before reading.
    for _ in range(100):
        await folded(db, now=clock.now())
        if not (await stats_repo.log_state(db))[2]:
            break
        await asyncio.sleep(0.05)
    serials = {k: c["serial"] for k, c in planted.items()}
    never = [*NEVER, *(c["_id"] for c in planted.values()), *planted["citizen"]["photos"],
             serials["police"]]

    def url(path: str) -> str:
        path = path.replace("{all}", ",".join(serials.values()))
        return path + ("&" if "?" in path else "?") + query if query else path

    async def get(path: str) -> tuple[int, str]:
        res = await client.get(url(path), headers=headers)
        return res.status, await res.text()

    for path, shown in LISTS.items():
        status, text = await get(path)
        assert status == 200, (path, text)
        for kind, serial in serials.items():
            if shown is not None:
                assert (serial in text) == (kind in shown), (principal, path, kind)
        for secret in never:
            assert secret not in text, (principal, path, secret)
    for template in SINGLE:
        for kind, serial in serials.items():
            status, text = await get(template.format(serial=serial))
            assert status == (200 if PUBLIC[kind] else 404), (principal, template, kind, text)
            seen = text.replace(serial, "") if status == 404 else text  # a refusal echoes the ask
            for secret in never:
                assert secret not in seen, (principal, template, kind, secret)
    # The published place of a patrol report is public; nothing else's place is.
    status, text = await get(f"/open311/v2/requests/{serials['patrol']}.json")
    assert str(PLACES["patrol"][0]) in text
    # Rating asks for the reporter's code; a case that is not public is not found either way.
    for kind, serial in serials.items():
        res = await client.post(url(f"/api/v1/portal/cases/{serial}/rating"), headers=headers,
                                json={"code": "AAAAAA", "score": 1})
        assert res.status == (403 if PUBLIC[kind] else 404), (principal, kind)
    assert all(c["rating"] is None for c in await db.cases.find({}).to_list(None))

