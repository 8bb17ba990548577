"""Privacy and identity: invites are single-use and expire; a citizen tracking someone else's
serial sees no words, phone or place of it; public endpoints carry no phone numbers, chat ids
or exact reporter positions; another reporter cannot rate; secrets never reach the logs."""

from __future__ import annotations

import json
import logging
from datetime import timedelta

import aiohttp
import pytest

from bot import repository as bot_repo
from bot.i18n import t
from gridlink import auth
from gridlink.settings import SANDBOX_BOT_TOKEN
from tests.bot.conftest import BLOCK_ONE, BotWorld

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
