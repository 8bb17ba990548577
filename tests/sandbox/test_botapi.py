"""The Bot API sandbox driven by the real python-telegram-bot client."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import pytest
from PIL import Image
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputMediaPhoto,
    KeyboardButton,
    Message,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    ReplyParameters,
)
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken

from sandbox.client import SandboxError
from tests.sandbox.conftest import RunningSandbox


def jpeg(width: int = 1600, height: int = 1200, *, gps: bool = False) -> bytes:
    image = Image.new("RGB", (width, height), (200, 60, 30))
    exif = Image.Exif()
    if gps:
        # GPSInfo IFD: 31°14'N 121°29'E, as a phone camera writes it
        exif[0x8825] = {1: "N", 2: (31.0, 14.0, 0.0), 3: "E", 4: (121.0, 29.0, 0.0)}
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", exif=exif.tobytes())
    return buffer.getvalue()


@pytest.fixture
async def bot(sandbox: RunningSandbox) -> AsyncIterator[Bot]:
    async with Bot(sandbox.token, base_url=sandbox.base_url,
                   base_file_url=sandbox.base_file_url) as bot:
        yield bot


async def test_get_me_is_the_configured_bot(bot: Bot) -> None:
    me = await bot.get_me()
    assert (me.id, me.username, me.is_bot) == (123456789, "gridlink_bot", True)


async def test_wrong_token_is_unauthorized(sandbox: RunningSandbox) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sandbox.url}/bot42:wrong/getMe") as response:
            assert response.status == 401
            assert await response.json() == {"ok": False, "error_code": 401,
                                              "description": "Unauthorized"}
    with pytest.raises(InvalidToken):
        async with Bot("42:wrong", base_url=sandbox.base_url) as wrong:
            await wrong.get_me()


async def test_unknown_method_is_not_found(sandbox: RunningSandbox) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sandbox.url}/bot{sandbox.token}/sendRocket") as response:
            assert response.status == 404
            assert (await response.json())["description"] == "Not Found"


async def test_inline_button_round_trip(sandbox: RunningSandbox, bot: Bot) -> None:
    user = await sandbox.client.create_user("王伟", language_code="zh-hans", role="leader")
    said = await sandbox.client.send_text(user["id"], "/start inv-123")
    [update] = await bot.get_updates(timeout=1)
    assert update.message is not None and update.message.text == "/start inv-123"
    assert update.message.from_user is not None and update.message.from_user.id == user["id"]
    # the client marks commands, or PTB's CommandHandler would not see them
    assert update.message.entities[0].type == "bot_command"
    assert update.message.entities[0].length == len("/start")

    sent = await bot.send_message(
        user["id"], "接受任务？", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("接受", callback_data="accept:A1"),
              InlineKeyboardButton("退回", callback_data="return:A1")]]))
    shown = await sandbox.client.wait_message(user["id"], after=said["message_id"])
    assert shown["message_id"] == sent.message_id and shown["text"] == "接受任务？"
    assert shown["from"]["is_bot"] and shown["sandbox"]["outgoing"]
    assert [b["callback_data"] for b in shown["reply_markup"]["inline_keyboard"][0]] == [
        "accept:A1", "return:A1"]

    pressed = await sandbox.client.press(user["id"], sent.message_id, "accept:A1")
    [update] = await bot.get_updates(offset=update.update_id + 1, timeout=1)
    query = update.callback_query
    assert query is not None and query.data == "accept:A1" and query.id == pressed[
        "callback_query_id"]
    assert query.from_user.id == user["id"]
    assert query.message is not None and query.message.message_id == sent.message_id
    assert await query.answer("已接受")
    answer = await sandbox.client.callback_answer(query.id)
    assert answer["answered"] and answer["answer"]["text"] == "已接受"
    with pytest.raises(BadRequest, match=r"(?i)query is too old"):
        await query.answer("twice")

    with pytest.raises(SandboxError) as missing:
        await sandbox.client.press(user["id"], sent.message_id, "nonexistent")
    assert missing.value.status == 400


async def test_get_updates_confirms_by_offset_and_long_polls(sandbox: RunningSandbox,
                                                             bot: Bot) -> None:
    user = await sandbox.client.create_user("Ann", language_code="en")
    await sandbox.client.send_text(user["id"], "one")
    await sandbox.client.send_text(user["id"], "two")
    first = await bot.get_updates()
    assert [u.message.text for u in first if u.message] == ["one", "two"]
    assert first[1].update_id == first[0].update_id + 1
    assert len(await bot.get_updates()) == 2  # not confirmed yet
    assert await bot.get_updates(offset=first[1].update_id + 1) == ()

    poll = asyncio.create_task(bot.get_updates(offset=first[1].update_id + 1, timeout=10))
    await asyncio.sleep(0.05)
    assert not poll.done()
    await sandbox.client.send_text(user["id"], "three")
    later = await asyncio.wait_for(poll, 5)
    assert [u.message.text for u in later if u.message] == ["three"]


async def test_user_photo_reaches_the_bot_as_sizes_and_file_bytes(sandbox: RunningSandbox,
                                                                  bot: Bot) -> None:
    user = await sandbox.client.create_user("Li")
    original = jpeg(1600, 1200, gps=True)
    await sandbox.client.send_photo(user["id"], original, caption="井盖缺失")
    [update] = await bot.get_updates()
    message = update.message
    assert message is not None and message.caption == "井盖缺失"
    sizes = message.photo
    assert [(s.width, s.height) for s in sizes] == [(90, 68), (320, 240), (800, 600),
                                                   (1280, 960)]
    biggest = await (await sizes[-1].get_file()).download_as_bytearray()
    with Image.open(io.BytesIO(bytes(biggest))) as image:
        assert image.format == "JPEG" and image.size == (1280, 960)
        assert 0x8825 not in image.getexif()  # compressed photos lose their GPS, as in Telegram
    assert len(biggest) == sizes[-1].file_size

    await sandbox.client.send_photo(user["id"], original, as_document=True,
                                    file_name="IMG_0001.jpg")
    [update] = await bot.get_updates(offset=update.update_id + 1)
    document = update.message.document if update.message else None
    assert document is not None and document.mime_type == "image/jpeg"
    assert document.file_name == "IMG_0001.jpg"
    buffer = io.BytesIO()
    await (await document.get_file()).download_to_memory(buffer)
    assert buffer.getvalue() == original  # a photo sent as a file keeps its EXIF


async def test_bot_photos_documents_media_groups_and_locations(sandbox: RunningSandbox,
                                                               bot: Bot) -> None:
    user = await sandbox.client.create_user("Zhao")
    chat = user["id"]
    first = await bot.send_photo(chat, jpeg(400, 300), caption="<i>before</i>",
                                 parse_mode="HTML")
    assert first.caption == "before" and first.caption_entities[0].type == "italic"
    assert [(p.width, p.height) for p in first.photo] == [(90, 68), (320, 240), (400, 300)]
    again = await bot.send_photo(chat, first.photo[-1].file_id)
    assert [p.file_id for p in again.photo] == [p.file_id for p in first.photo]

    shown = (await sandbox.client.messages(chat))[-1]
    data = await sandbox.client.file(shown["sandbox"]["photo_url"])
    with Image.open(io.BytesIO(data)) as image:
        assert image.size == (400, 300)

    doc = await bot.send_document(chat, b"serial,state\nA1,closed\n", filename="cases.csv")
    assert doc.document is not None and doc.document.mime_type == "text/csv"
    with pytest.raises(BadRequest, match=r"(?i)Photo as Document"):
        await bot.send_document(chat, first.photo[0].file_id)

    album = await bot.send_media_group(chat, [InputMediaPhoto(jpeg(200, 100), caption="a"),
                                              InputMediaPhoto(first.photo[-1].file_id)])
    assert len(album) == 2 and album[0].media_group_id == album[1].media_group_id
    assert album[0].caption == "a" and album[1].photo[-1].width == 400

    here = await bot.send_location(chat, latitude=31.2304, longitude=121.4737,
                                   reply_parameters=ReplyParameters(album[0].message_id))
    assert here.location is not None and here.location.longitude == pytest.approx(121.4737)
    assert here.reply_to_message is not None
    assert here.reply_to_message.message_id == album[0].message_id
    stats = await sandbox.client.stats()
    assert stats["sent_per_chat"][str(chat)] == 6  # the refused document is not counted


async def test_reply_keyboard_with_location_button(sandbox: RunningSandbox, bot: Bot) -> None:
    user = await sandbox.client.create_user("Sun")
    await bot.send_message(user["id"], "请发送位置", reply_markup=ReplyKeyboardMarkup(
        [[KeyboardButton("📍 发送位置", request_location=True)], ["取消"]],
        resize_keyboard=True, one_time_keyboard=True))
    chat = await sandbox.client.chat(user["id"])
    keyboard = chat["reply_keyboard"]["keyboard"]
    assert keyboard[0][0] == {"text": "📍 发送位置", "request_location": True}
    assert keyboard[1][0] == {"text": "取消"}
    assert "reply_markup" not in chat["messages"][-1]  # reply keyboards are not on the message

    await sandbox.client.send_location(user["id"], 31.23, 121.47)
    [update] = await bot.get_updates()
    assert update.message is not None and update.message.location is not None
    assert update.message.location.latitude == pytest.approx(31.23)
    assert (await sandbox.client.chat(user["id"]))["reply_keyboard"] is None  # one-time

    await bot.send_message(user["id"], "kb", reply_markup=ReplyKeyboardMarkup([["a"]]))
    await bot.send_message(user["id"], "gone", reply_markup=ReplyKeyboardRemove())
    assert (await sandbox.client.chat(user["id"]))["reply_keyboard"] is None


async def test_edits_deletes_and_their_errors(sandbox: RunningSandbox, bot: Bot) -> None:
    user = await sandbox.client.create_user("Qian")
    chat = user["id"]
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("完成", callback_data="done")]])
    sent = await bot.send_message(chat, "处理中", reply_markup=keyboard)
    edited = await bot.edit_message_text("已完成", chat_id=chat, message_id=sent.message_id)
    assert isinstance(edited, Message)
    assert edited.text == "已完成" and edited.edit_date is not None
    assert edited.reply_markup is None  # an edit without reply_markup drops the keyboard
    with pytest.raises(BadRequest, match=r"(?i)not modified"):
        await bot.edit_message_text("已完成", chat_id=chat, message_id=sent.message_id)
    await bot.edit_message_reply_markup(chat_id=chat, message_id=sent.message_id,
                                        reply_markup=keyboard)
    shown = (await sandbox.client.messages(chat))[-1]
    assert shown["text"] == "已完成" and shown["reply_markup"]["inline_keyboard"][0][0][
        "callback_data"] == "done"
    assert shown["sandbox"]["edits"] == 2

    said = await sandbox.client.send_text(chat, "hello")
    with pytest.raises(BadRequest, match=r"(?i)can't be edited"):
        await bot.edit_message_text("x", chat_id=chat, message_id=said["message_id"])
    with pytest.raises(BadRequest, match=r"(?i)not found"):
        await bot.edit_message_text("x", chat_id=chat, message_id=999)

    assert await bot.delete_message(chat, sent.message_id)
    assert [m["text"] for m in await sandbox.client.messages(chat)] == ["hello"]
    with pytest.raises(BadRequest, match=r"(?i)to delete not found"):
        await bot.delete_message(chat, sent.message_id)


async def test_markup_errors_like_telegram(sandbox: RunningSandbox, bot: Bot) -> None:
    user = await sandbox.client.create_user("Zhou")
    with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
        await bot.send_message(user["id"], "a <br> b", parse_mode="HTML")
    with pytest.raises(BadRequest, match=r"(?i)reserved"):
        await bot.send_message(user["id"], "Case A.1 done", parse_mode="MarkdownV2")
    ok = await bot.send_message(user["id"], r"Case *A\.1* done", parse_mode="MarkdownV2")
    assert ok.text == "Case A.1 done" and ok.entities[0].type == "bold"
    with pytest.raises(BadRequest, match=r"(?i)BUTTON_DATA_INVALID"):
        await bot.send_message(user["id"], "x", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("x", callback_data="x" * 65)]]))
    with pytest.raises(BadRequest, match=r"(?i)text is empty"):
        await bot.send_message(user["id"], " ")
    assert await sandbox.client.messages(user["id"]) == [
        m for m in await sandbox.client.messages(user["id"]) if m["text"] == "Case A.1 done"]


async def test_unknown_chat_and_blocked_user(sandbox: RunningSandbox, bot: Bot) -> None:
    with pytest.raises(BadRequest, match=r"(?i)chat not found"):
        await bot.send_message(424242, "hi")
    user = await sandbox.client.create_user("Wu")
    await sandbox.client.block(user["id"])
    with pytest.raises(Forbidden, match=r"(?i)bot was blocked by the user"):
        await bot.send_message(user["id"], "hi")
    [update] = await bot.get_updates(allowed_updates=["message", "my_chat_member"])
    assert update.my_chat_member is not None
    assert update.my_chat_member.new_chat_member.status == "kicked"
    await sandbox.client.block(user["id"], blocked=False)
    assert (await bot.send_message(user["id"], "back")).text == "back"

    stranger = await sandbox.client.create_user("Never started", started=False)
    with pytest.raises(Forbidden, match=r"(?i)can't initiate conversation"):
        await bot.send_message(stranger["id"], "hi")
    await sandbox.client.send_text(stranger["id"], "/start")
    assert (await bot.send_message(stranger["id"], "welcome")).text == "welcome"


async def test_commands_are_stored_per_scope_and_language(sandbox: RunningSandbox,
                                                          bot: Bot) -> None:
    assert await bot.set_my_commands([("report", "上报"), ("mine", "我的任务")],
                                     language_code="zh")
    assert await bot.set_my_commands([("report", "Report")], language_code="en")
    assert [c.command for c in await bot.get_my_commands(language_code="zh")] == [
        "report", "mine"]
    with pytest.raises(BadRequest, match=r"(?i)BOT_COMMAND_INVALID"):
        await bot.set_my_commands([("Bad-Name", "x")])


async def test_json_form_and_query_bodies(sandbox: RunningSandbox) -> None:
    user = await sandbox.client.create_user("Raw")
    api = f"{sandbox.url}/bot{sandbox.token}"
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{api}/sendMessage", json={
                "chat_id": user["id"], "text": "json", "reply_markup": {
                    "inline_keyboard": [[{"text": "go", "callback_data": "go"}]]}}) as r:
            body = await r.json()
            assert r.status == 200 and body["ok"] and body["result"]["text"] == "json"
        async with http.post(f"{api}/sendMessage", data={
                "chat_id": str(user["id"]), "text": "42",
                "reply_parameters": f'{{"message_id": {body["result"]["message_id"]}}}'}) as r:
            form = await r.json()
            # a numeric-looking text stays a string; JSON-valued parameters are decoded
            assert form["result"]["text"] == "42"
            assert form["result"]["reply_to_message"]["text"] == "json"
        async with http.get(f"{api}/sendMessage",
                            params={"chat_id": str(user["id"]), "text": "query"}) as r:
            assert (await r.json())["result"]["text"] == "query"
        async with http.post(f"{api}/sendMessage", data={"chat_id": "abc", "text": "x"}) as r:
            assert r.status == 400
            assert (await r.json())["description"] == "Bad Request: chat not found"


async def test_get_updates_conflicts(sandbox: RunningSandbox, bot: Bot) -> None:
    first = asyncio.create_task(bot.get_updates(timeout=10))
    # the first poll must be waiting at the server before the second one comes
    assert await sandbox.state.changed.wait_for(lambda: sandbox.state.polls_started > 0, 5)
    async with Bot(sandbox.token, base_url=sandbox.base_url) as other_instance:
        second = asyncio.create_task(other_instance.get_updates(timeout=1))
        with pytest.raises(Conflict, match=r"(?i)terminated by other getUpdates"):
            await asyncio.wait_for(first, 5)
        assert await second == ()
    await bot.set_webhook("http://127.0.0.1:9/hook")
    with pytest.raises(Conflict, match=r"(?i)webhook is active"):
        await bot.get_updates()
    await bot.delete_webhook()
    assert await bot.get_updates() == ()


async def test_control_api_errors(sandbox: RunningSandbox) -> None:
    client = sandbox.client
    with pytest.raises(SandboxError) as missing:
        await client.send_text(999, "hi")
    assert missing.value.status == 404
    user = await client.create_user("X", id=77)
    with pytest.raises(SandboxError) as duplicate:
        await client.create_user("Y", id=77)
    assert duplicate.value.status == 409
    with pytest.raises(SandboxError) as late:
        await client.wait_message(user["id"], timeout=0.1)
    assert late.value.status == 408
    with pytest.raises(SandboxError) as bad:
        await client.send_location(user["id"], 91, 0)
    assert bad.value.status == 400
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sandbox.url}/sandbox/api/users", data="nope") as r:
            assert r.status == 400
            assert (await r.json())["error"]["code"] == "invalid_input"


async def test_groups_venues_contacts_and_replies(sandbox: RunningSandbox, bot: Bot) -> None:
    a = await sandbox.client.create_user("A", username="leader_a")
    b = await sandbox.client.create_user("B")
    group = await sandbox.client.create_group("湖滨街道中心", [a["id"]])
    assert group["id"] < 0 and group["type"] == "group"
    with pytest.raises(SandboxError) as outsider:
        await sandbox.client.send_text(b["id"], "hi", chat_id=group["id"])
    assert outsider.value.status == 403
    said = await sandbox.client.send_text(a["id"], "组里的消息", chat_id=group["id"])
    note = await bot.send_message(group["id"], "收到", reply_parameters=ReplyParameters(
        said["message_id"]))
    assert note.chat.type == "group" and note.chat.title == "湖滨街道中心"
    await sandbox.client.reply(a["id"], note.message_id, "5", chat_id=group["id"])
    await sandbox.client.send_venue(a["id"], 31.2, 121.45, "小区东门", "枫林路 1 号")
    await sandbox.client.send_contact(a["id"], "+86 138 0000 0000")
    by_username = await bot.send_message("@leader_a", "by username")
    assert by_username.chat.id == a["id"]

    updates = await bot.get_updates()
    first, reply, venue, contact = (u.message for u in updates)
    assert first is not None and first.chat.id == group["id"]
    assert reply is not None and reply.reply_to_message is not None
    assert reply.reply_to_message.message_id == note.message_id and reply.text == "5"
    assert venue is not None and venue.venue is not None and venue.venue.title == "小区东门"
    assert venue.location is not None and venue.location.latitude == pytest.approx(31.2)
    assert contact is not None and contact.contact is not None
    assert contact.contact.user_id == a["id"]
    chats = {c["chat"]["id"]: c for c in await sandbox.client.chats()}
    assert chats[group["id"]]["message_count"] == 3


async def test_voice_note_with_caption(sandbox: RunningSandbox, bot: Bot,
                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PTB_TIMEDELTA", "1")  # else reading `duration` warns (PTB 22)
    user = await sandbox.client.create_user("Voice")
    sound = b"OggS\x00fake-opus-bytes"
    sent = await sandbox.client.send_voice(user["id"], sound, duration=4, caption="补充说明")
    assert sent["sandbox"]["voice_url"].startswith("/sandbox/files/")
    [update] = await bot.get_updates()
    voice = update.message.voice if update.message else None
    assert voice is not None and voice.duration == timedelta(seconds=4)
    assert update.message is not None and update.message.caption == "补充说明"
    assert bytes(await (await voice.get_file()).download_as_bytearray()) == sound
    with pytest.raises(BadRequest, match=r"(?i)type voice as document"):
        await bot.send_document(user["id"], voice.file_id)
