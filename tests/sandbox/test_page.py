"""The sandbox chat page in headless Chromium, chatting with a small bot run by python-telegram-bot."""

from __future__ import annotations

import io
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image
from telegram import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
    ReplyKeyboardRemove,
    Update,
)
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.sandbox.conftest import RunningSandbox

CHROMIUM = "/usr/bin/chromium"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian chromium (make browser)"),
]


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.text is not None
    await update.message.reply_text(
        f"echo: {update.message.text}",
        reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("Confirm",
                                                                 callback_data="confirm:1")]]))


async def confirmed(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    assert query is not None and query.message is not None
    await query.answer("Confirmed!")
    await context.bot.send_message(query.message.chat.id, f"You pressed {query.data}")


async def photo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    if update.message.photo:
        biggest = update.message.photo[-1]
        await update.message.reply_text(f"photo {biggest.width}x{biggest.height}")
    else:
        assert update.message.document is not None
        data = await (await update.message.document.get_file()).download_as_bytearray()
        await update.message.reply_text(f"file {update.message.document.mime_type} "
                                        f"{len(data)} bytes")


async def where(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None
    await update.message.reply_text("Where is it?", reply_markup=ReplyKeyboardMarkup(
        [[KeyboardButton("📍 Share location", request_location=True)]],
        one_time_keyboard=True, resize_keyboard=True))


async def located(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    assert update.message is not None and update.message.location is not None
    spot = update.message.location
    await update.message.reply_text(f"Got {spot.latitude:.3f}, {spot.longitude:.3f}",
                                    reply_markup=ReplyKeyboardRemove())


@pytest.fixture
async def echo_bot(sandbox: RunningSandbox) -> AsyncIterator[Application]:  # type: ignore[type-arg]
    app = (Application.builder().token(sandbox.token).base_url(sandbox.base_url)
           .base_file_url(sandbox.base_file_url).build())
    app.add_handler(CommandHandler("where", where))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(MessageHandler(filters.LOCATION, located))
    app.add_handler(MessageHandler(filters.PHOTO | filters.Document.IMAGE, photo))
    app.add_handler(CallbackQueryHandler(confirmed))
    async with app:
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0.0, timeout=5)
        try:
            yield app
        finally:
            await app.updater.stop()
            await app.stop()


async def test_chat_page_sends_presses_and_shows_replies(sandbox: RunningSandbox,
                                                         echo_bot: object) -> None:
    from playwright.async_api import FilePayload, async_playwright, expect

    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page(viewport={"width": 1100, "height": 760})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            await page.goto(sandbox.url + "/")
            await expect(page.locator("#bot-name")).to_have_text("GridLink @gridlink_bot")

            await page.select_option("#new-role", "coordinator")
            await page.fill("#new-name", "Coordinator Wang")
            await page.select_option("#new-lang", "en")
            await page.click("#create-user")
            await expect(page.locator("#chat-title")).to_contain_text("Coordinator Wang")
            [user] = await sandbox.client.users()
            assert (user["role"], user["language_code"]) == ("coordinator", "en")

            await page.fill("#text-input", "manhole cover missing")
            await page.press("#text-input", "Enter")
            bot_reply = page.locator(".msg.bot", has_text="echo: manhole cover missing")
            await expect(bot_reply).to_be_visible(timeout=10_000)

            await bot_reply.locator(".inline-button", has_text="Confirm").click()
            await expect(page.locator(".msg.bot", has_text="You pressed confirm:1")).to_be_visible(
                timeout=10_000)
            await expect(page.locator("#toast")).to_have_text("Confirmed!")

            await page.fill("#text-input", "/where")
            await page.click("#send-text")
            location_button = page.locator(".reply-button", has_text="Share location")
            await expect(location_button).to_be_visible(timeout=10_000)
            await page.fill("#lat", "31.2")
            await page.fill("#lon", "121.45")
            await location_button.click()
            await expect(page.locator(".msg.bot", has_text="Got 31.200, 121.450")).to_be_visible(
                timeout=10_000)
            await expect(page.locator(".reply-button")).to_have_count(0)

            picture = io.BytesIO()
            Image.new("RGB", (1600, 1200), (40, 120, 200)).save(picture, "JPEG")
            upload: FilePayload = {"name": "hazard.jpg", "mimeType": "image/jpeg",
                                   "buffer": picture.getvalue()}
            await page.set_input_files("#photo-input", files=[upload])
            await page.fill("#caption", "broken railing")
            await page.click("#send-photo")
            await expect(page.locator(".msg.user img")).to_be_visible(timeout=10_000)
            await expect(page.locator(".msg.bot", has_text="photo 1280x960")).to_be_visible(
                timeout=10_000)
            await page.set_input_files("#photo-input", files=[upload])
            await page.check("#as-file")
            await page.click("#send-photo")
            await expect(page.locator(".msg.bot", has_text=(
                f"file image/jpeg {len(picture.getvalue())} bytes"))).to_be_visible(
                timeout=10_000)

            ARTIFACTS.mkdir(exist_ok=True)
            await page.screenshot(path=str(ARTIFACTS / "sandbox-chat.png"), full_page=True)
        finally:
            await browser.close()
    assert errors == []
    texts = [m.get("text") for m in await sandbox.client.messages(user["id"])]
    assert texts == ["manhole cover missing", "echo: manhole cover missing",
                     "You pressed confirm:1", "/where", "Where is it?", None,
                     "Got 31.200, 121.450", None, "photo 1280x960", None,
                     f"file image/jpeg {len(picture.getvalue())} bytes"]
