"""The bot's aiohttp transport for python-telegram-bot (bot/transport.py) against the Bot API
sandbox: form and multipart calls, file downloads, and PTB's errors for timeouts and refusals."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from telegram import Bot, InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import NetworkError, TimedOut

from bot.transport import AiohttpRequest
from gridlink.embedded import free_port
from tests.sandbox.conftest import RunningSandbox


def jpeg() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(out, "JPEG")
    return out.getvalue()


def bot_for(base: str, token: str, **timeouts: float) -> Bot:
    return Bot(token, base_url=f"{base}/bot", base_file_url=f"{base}/file/bot",
               request=AiohttpRequest(**timeouts), get_updates_request=AiohttpRequest())


async def test_calls_uploads_and_downloads_go_through(sandbox: RunningSandbox) -> None:
    user = await sandbox.client.create_user("transport", language_code="en")
    async with bot_for(sandbox.url, sandbox.token) as bot:
        assert bot.username  # getMe at initialize
        sent = await bot.send_message(user["id"], "héllo ✓", reply_markup=InlineKeyboardMarkup(
            [[InlineKeyboardButton("ok", callback_data="x:1")]]))
        assert sent.text == "héllo ✓"
        chat = await sandbox.client.chat(user["id"])
        assert chat["messages"][-1]["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "x:1"
        data = jpeg()
        photo = await bot.send_photo(user["id"], data, caption="c")  # multipart
        file = await photo.photo[-1].get_file()
        assert bytes(await file.download_as_bytearray())[:2] == b"\xff\xd8"
        # A user's image file, downloaded as the webhook does: byte for byte.
        msg = await sandbox.client.send_photo(user["id"], data, as_document=True)
        got = await (await bot.get_file(msg["document"]["file_id"])).download_as_bytearray()
        assert bytes(got) == data


async def test_timeouts_and_refusals_are_ptb_errors(sandbox: RunningSandbox) -> None:
    user = await sandbox.client.create_user("slow", language_code="en")
    async with bot_for(sandbox.url, sandbox.token, read_timeout=0.3) as bot:
        await sandbox.client.inject_fault("hang", count=1, methods=["sendMessage"], seconds=1.0)
        with pytest.raises(TimedOut):
            await bot.send_message(user["id"], "late")
        await sandbox.client.clear_faults()
        assert (await bot.send_message(user["id"], "on time")).text == "on time"
    nobody = f"http://127.0.0.1:{free_port()}"
    bot = bot_for(nobody, sandbox.token)
    with pytest.raises(NetworkError):
        await bot.initialize()  # connection refused
    await bot.shutdown()
