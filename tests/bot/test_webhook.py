"""The webhook through the real app, PTB and the sandbox: secret, exactly-once, outages,
identity by invite, languages, dialogue state across a restart."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import aiohttp

from bot import repository as repo
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.embedded import free_port
from gridlink.settings import Settings, load_settings
from tests.bot.conftest import BotWorld
from tests.sandbox.conftest import RunningSandbox


async def _post(url: str, body: object, secret: str | None) -> tuple[int, dict[str, object]]:
    headers = {} if secret is None else {"X-Telegram-Bot-Api-Secret-Token": secret}
    async with aiohttp.ClientSession() as s, s.post(url, json=body, headers=headers) as r:
        return r.status, await r.json()


def _update(update_id: int, user: dict[str, object], text: str) -> dict[str, object]:
    return {"update_id": update_id, "message": {
        "message_id": 9000 + update_id, "date": 1_800_000_000, "text": text,
        "chat": {"id": user["id"], "type": "private", "first_name": user["first_name"]},
        "from": {"id": user["id"], "is_bot": False, "first_name": user["first_name"],
                 "language_code": "en"},
        **({"entities": [{"type": "bot_command", "offset": 0, "length": len(text.split()[0])}]}
           if text.startswith("/") else {})}}


async def test_wrong_or_missing_secret_is_refused(world: BotWorld) -> None:
    user = await world.sb.client.create_user("Ann", language_code="en")
    url = world.url + "/telegram/webhook"
    assert (await _post(url, _update(1, user, "/help"), "nope"))[0] == 403
    assert (await _post(url, _update(1, user, "/help"), None))[0] == 403
    assert await world.db.updates.count_documents({}) == 0
    status, body = await _post(url, {"no": "update"}, world.settings.webhook_secret)
    assert status == 400 and body["error"]["code"] == "invalid_input"  # type: ignore[index]


async def test_duplicate_update_is_processed_once(world: BotWorld) -> None:
    user = await world.sb.client.create_user("Ann", language_code="en")
    url = world.url + "/telegram/webhook"
    update = _update(77, user, "/help")
    first = await _post(url, update, world.settings.webhook_secret)
    second = await _post(url, update, world.settings.webhook_secret)
    assert first == (200, {"ok": True, "outcome": "processed"})
    assert second == (200, {"ok": True, "outcome": "duplicate"})
    sent = [m for m in await world.sb.client.messages(int(user["id"])) if m["sandbox"]["outgoing"]]
    assert len(sent) == 1 and "How it works" in sent[0]["text"]


async def test_database_down_means_no_acknowledgement(world: BotWorld, mongo_uri: str) -> None:
    """With the database away the webhook answers 503, so Telegram delivers the update again."""
    from tests.bot.conftest import bot_server

    port = free_port()
    cfg = world.settings.model_copy(update={"public_base_url": f"http://127.0.0.1:{port}"})
    dead = "mongodb://127.0.0.1:1/?directConnection=true"
    cfg = cfg.model_copy(update={"mongodb_timeout_ms": 200})
    server = await bot_server(cfg, dead, world.clock, port)
    try:
        user = await world.sb.client.create_user("Ann", language_code="en")
        status, body = await _post(f"http://127.0.0.1:{port}/telegram/webhook",
                                   _update(5, user, "/help"), cfg.webhook_secret)
        assert status == 503 and body["error"]["code"] == "database_unavailable"  # type: ignore[index]
    finally:
        await server.close()
    # Back on the live database, the same update is processed (it was never recorded).
    status, body = await _post(world.url + "/telegram/webhook", _update(5, user, "/help"),
                               world.settings.webhook_secret)
    assert (status, body["outcome"]) == (200, "processed")


async def test_invite_binds_once_and_expires(world: BotWorld) -> None:
    token = await repo.create_invite(world.db, role="leader", unit="310101001001001", name="王",
                                     now=world.clock.now(), ttl=timedelta(hours=72))
    leader = await world.phone("Wang", language_code="zh-hans")
    await leader.send(f"/start {token}")
    assert (await leader.reply())["text"].startswith("绑定成功：责任块负责人")
    member = await world.db.roster.find_one({"user_id": leader.id})
    assert member is not None and (member["role"], member["unit"]) == ("leader", "310101001001001")

    other = await world.phone("Li", language_code="en")
    await other.send(f"/start {token}")
    assert "already been used" in (await other.reply())["text"]
    await other.send("/start made-up-token")
    assert "not valid" in (await other.reply())["text"]
    late = await repo.create_invite(world.db, role="coordinator", unit="310101001001001",
                                    name="", now=world.clock.now(), ttl=timedelta(hours=1))
    world.clock.advance(hours=2)
    await other.send(f"/start {late}")
    assert "expired" in (await other.reply())["text"]
    assert await world.db.roster.find_one({"user_id": other.id}) is None


async def test_chinese_and_english_users_get_their_language(world: BotWorld) -> None:
    zh = await world.phone("张", language_code="zh-hans")
    en = await world.phone("Tom", language_code="en-GB")
    fr = await world.phone("Jean", language_code="fr")
    for phone in (zh, en, fr):
        await phone.send("/help")
    assert (await zh.reply())["text"].startswith("怎么用")
    assert (await en.reply())["text"].startswith("How it works")
    assert (await fr.reply())["text"].startswith("怎么用")  # DEFAULT_LOCALE zh-CN
    await en.send("/frobnicate")
    assert (await en.reply())["text"] == "I did not understand. Send /help to see what I can do."


async def test_admin_invite_route_gives_a_deep_link(world: BotWorld) -> None:
    from gridlink import auth

    admin = await auth.create_token(world.db, role="admin", unit="310101", district="310101",
                                    name="admin", now=world.clock.now())
    async with aiohttp.ClientSession() as s:
        headers = {"Authorization": f"Bearer {admin}"}
        async with s.post(world.url + "/api/v1/admin/invites", headers=headers,
                          json={"role": "coordinator", "unit": "310101001001001", "hours": 1}) as r:
            assert r.status == 201
            body = await r.json()
        async with s.post(world.url + "/api/v1/admin/invites", headers=headers,
                          json={"role": "mayor", "unit": "x"}) as r:
            assert r.status == 400
        async with s.post(world.url + "/api/v1/admin/invites",
                          json={"role": "coordinator", "unit": "x"}) as r:
            assert r.status == 401
    assert body["link"] == f"https://t.me/gridlink_bot?start={body['token']}"
    phone = await world.phone("Zhao")
    await phone.send(f"/start {body['token']}")
    assert (await phone.reply())["text"].startswith("绑定成功：巡管员")
    async with aiohttp.ClientSession() as s:
        headers = {"Authorization": f"Bearer {admin}"}
        async with s.delete(f"{world.url}/api/v1/admin/roster/{phone.id}", headers=headers) as r:
            assert r.status == 200
            assert (await r.json())["role"] == "coordinator"
        async with s.delete(f"{world.url}/api/v1/admin/roster/{phone.id}", headers=headers) as r:
            assert r.status == 404
    assert await world.db.roster.find_one({"user_id": phone.id}) is None


async def test_half_finished_appeal_survives_a_restart_and_expires(world: BotWorld) -> None:
    citizen = await world.phone("Chen", language_code="en")
    await citizen.send("/report")
    kinds = await citizen.reply()
    assert kinds["text"] == "What kind of matter is it?"
    await citizen.press(kinds, "f:kind:complaint")
    assert (await citizen.reply())["text"] == "Please describe it in words:"
    await world.stop()
    await world.start()
    await citizen.send("Loud music every night at No. 5")
    extras = await citizen.reply()
    assert extras["text"].startswith("You may add photos")
    await citizen.press(extras, "f:confirm")
    created = (await citizen.reply())["text"]
    assert created.startswith("Received. Serial number A")
    serial = created.split()[3].rstrip(".")
    case = await world.db.cases.find_one({"serial": serial})
    assert case is not None and (case["kind"], case["channel"]) == ("complaint", "citizen_bot")
    assert case["reporter"]["user_id"] == citizen.id
    # Track it by the bare serial number.
    await citizen.send(serial)
    assert (await citizen.reply())["text"].startswith(f"Serial {serial}\nStatus: received")
    await citizen.send(f"/status {serial.lower()}")
    assert (await citizen.reply())["text"].startswith(f"Serial {serial}\nStatus: received")
    await citizen.send("/status A20000101-99999")
    assert (await citizen.reply())["text"] == "No case with serial number A20000101-99999."
    # A dialogue left alone past CONVERSATION_TTL_MINUTES expires with a message.
    await citizen.send("/report")
    await citizen.reply()
    world.clock.advance(minutes=world.settings.conversation_ttl_minutes + 1)
    await citizen.send("hello")
    assert (await citizen.reply())["text"].startswith("What you started last time has expired")
    assert (await citizen.reply())["text"].startswith("I did not understand")


def test_settings_point_the_bot_at_the_sandbox_without_a_token() -> None:
    s = load_settings(telegram_bot_token=None, sandbox_port=9999)
    assert s.bot_api_url == "http://127.0.0.1:9999" and s.bot_token.startswith("123456789:")
    real = load_settings(telegram_bot_token="42:abc")
    assert (real.bot_api_url, real.bot_token) == ("https://api.telegram.org", "42:abc")


async def test_long_polling_processes_each_update_once(sandbox: RunningSandbox, settings: Settings,
                                                       mongo_uri: str, clock: FakeClock,
                                                       db: Database) -> None:
    from bot.polling import run_polling

    cfg = settings.model_copy(update={"telegram_api_url": sandbox.url})
    stop = asyncio.Event()
    task = asyncio.create_task(run_polling(cfg, mongo_uri=mongo_uri, clock=clock, stop=stop,
                                           poll_timeout=1))
    try:
        user = await sandbox.client.create_user("Ann", language_code="en")
        sent = await sandbox.client.send_text(int(user["id"]), "/help")
        reply = await sandbox.client.wait_message(int(user["id"]), after=sent["message_id"])
        assert reply["text"].startswith("How it works")
        # The update is marked done right after its reply was sent.
        for _ in range(100):
            if await db.updates.count_documents({"state": "done"}) == 1:
                break
            await asyncio.sleep(0.05)
        assert await db.updates.count_documents({}) == 1
        assert await db.updates.count_documents({"state": "done"}) == 1
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
