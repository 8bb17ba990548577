"""`make run` as a first-time visitor meets it: `gridlink demo` started as a process on free ports
with a fresh database, the printed desk account signs in (Chromium), the boards are not empty,
and the printed "try this" walk is done on the sandbox chat page as the pre-bound users (a
coordinator's photo, the center's dispatch, the block leader's accept and result, the center's
verification, the citizen's rating). Every page is photographed in both languages; the
directory is printed (test-artifacts/living-demo/ beside the other browser tests' pictures)."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from gridlink.db import Database, make_client
from gridlink.embedded import free_port
from gridlink.settings import PROJECT_ROOT, load_settings

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
ARTIFACTS = PROJECT_ROOT / "test-artifacts" / "living-demo"
COORDINATOR, LEADER, CITIZEN = 7_100_001, 7_100_002, 7_100_005
SERIAL = re.compile(r"\bA\d{8}-\d{5}\b")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(shutil.which(CHROMIUM) is None, reason="needs Debian chromium (make browser)"),
]


@dataclass
class Demo:
    web: str
    chat: str
    db: Database
    lines: list[str] = field(default_factory=list)

    def text(self) -> str:
        return "\n".join(self.lines)

    def password(self, username: str) -> str:
        found = re.search(rf"user {re.escape(username)}\s+password (\S+)", self.text())
        assert found, f"no printed password for {username}:\n{self.text()}"
        return found.group(1)


def _read(stream: Any, into: list[str]) -> None:
    for line in iter(stream.readline, ""):
        into.append(line.rstrip("\n"))


@pytest.fixture
def demo_process(mongo_uri: str, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[str], list[str], dict[str, str]]]:
    """`gridlink demo` as `make run` starts it (its own database on the session's server)."""
    http_port, sandbox_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("MONGODB_", "TELEGRAM_", "DATA_DIR", "HTTP_", "SANDBOX_", "PUBLIC_"))}
    env.update(MONGODB_URI=mongo_uri, MONGODB_DB=f"demo_{uuid.uuid4().hex[:12]}", DATA_DIR=str(tmp_path / "var"),
               HTTP_PORT=str(http_port), SANDBOX_PORT=str(sandbox_port), PYTHONUNBUFFERED="1",
               PUBLIC_BASE_URL=f"http://127.0.0.1:{http_port}", PTB_TIMEDELTA="1")
    log = (tmp_path / "demo.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "gridlink.cli", "demo"], cwd=PROJECT_ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True)
    lines: list[str] = []
    reader = threading.Thread(target=_read, args=(proc.stdout, lines), daemon=True)
    reader.start()
    try:
        yield proc, lines, env
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)  # Ctrl-C, as a visitor stops it
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        reader.join(timeout=5)
        assert proc.stdout is not None
        proc.stdout.close()
        log.close()


@pytest.fixture
async def demo(demo_process: tuple[subprocess.Popen[str], list[str], dict[str, str]],
               tmp_path: Path) -> AsyncIterator[Demo]:
    proc, lines, env = demo_process
    deadline = time.monotonic() + 120
    while not any("Ctrl-C stops everything" in line for line in lines):
        assert proc.poll() is None, f"gridlink demo exited:\n{(tmp_path / 'demo.log').read_text()[-4000:]}"
        assert time.monotonic() < deadline, "gridlink demo did not finish starting:\n" + "\n".join(lines)
        await asyncio.sleep(0.2)
    web, chat = env["PUBLIC_BASE_URL"], f"http://127.0.0.1:{env['SANDBOX_PORT']}"
    async with aiohttp.ClientSession() as http:
        for url in (f"{web}/healthz", f"{chat}/sandbox/api/info"):
            while True:
                try:
                    async with http.get(url) as r:
                        if r.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                assert time.monotonic() < deadline and proc.poll() is None, f"{url} never answered"
                await asyncio.sleep(0.2)
    settings = load_settings(mongodb_uri=env["MONGODB_URI"], mongodb_db=env["MONGODB_DB"])
    client = make_client(env["MONGODB_URI"], settings)
    try:
        yield Demo(web=web, chat=chat, db=client[env["MONGODB_DB"]], lines=lines)
    finally:
        await client.drop_database(env["MONGODB_DB"])
        await client.close()


async def _wait_case(db: Database, serial: str, state: str, within_s: float = 20) -> dict[str, Any]:
    deadline = time.monotonic() + within_s
    while True:
        case = await db.cases.find_one({"serial": serial})
        if case is not None and case["state"] == state:
            return case
        assert time.monotonic() < deadline, f"{serial} is {case and case['state']}, not {state}"
        await asyncio.sleep(0.2)


async def test_make_run_is_a_living_demo(demo: Demo) -> None:
    from playwright.async_api import async_playwright, expect

    expect.set_options(timeout=30_000)  # two cores shared: the bot answers through web and worker
    out = ARTIFACTS
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    print(f"\nliving demo screenshots: {out}")
    text = demo.text()
    for role in ("coordinator", "block leader", "line department", "workstation head", "citizen"):
        assert role in text, f"no pre-bound {role} printed:\n{text}"
    assert "try this" in text
    citizen_serial = re.search(r"(A\d{8}-\d{5}), the citizen", text)
    assert citizen_serial, text
    citizen_case = citizen_serial.group(1)
    # the seeded cases: every state, through the domain (each has its history and events)
    for state in ("reported", "dispatched", "in_progress", "awaiting_verification", "returned",
                  "closed", "merged"):
        found = await demo.db.cases.find_one({"state": state, "synthetic": {"$ne": True}})
        assert found is not None, state
        assert await demo.db.events.count_documents({"case_id": found["_id"]}) == len(found["history"])
    assert await demo.db.cases.count_documents({"synthetic": True}) >= 1000  # the month of history

    problems: list[str] = []

    def watch(page: Any, who: str) -> None:
        page.on("pageerror", lambda exc: problems.append(f"{who}: {exc}"))

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            contexts = {lang: await browser.new_context(viewport={"width": 1366, "height": 900}, locale=locale)
                        for lang, locale in (("zh", "zh-CN"), ("en", "en-US"))}
            desk = await contexts["zh"].new_page()
            desk.set_default_timeout(20_000)
            watch(desk, "desk")
            # --- sign in with the printed account
            await desk.goto(f"{demo.web}/desk/signin")
            await desk.fill("#username", "center")
            await desk.fill("#password", demo.password("center"))
            await desk.press("#password", "Enter")
            await desk.wait_for_url("**/desk/**")
            await expect(desk.locator("#signin-form")).to_have_count(0)
            assert int(await desk.locator("#nav-new .count").inner_text()) >= 2
            await desk.screenshot(path=str(out / "zh-desk.png"), full_page=True)

            # --- the boards are not empty, in both languages (at the printed addresses)
            counted = next(line for line in demo.lines if "See it counted" in line)
            urls = {u.split("?")[0].rsplit("/", 1)[-1]: u for u in re.findall(r"http://\S+", counted)}
            for lang, ctx in contexts.items():
                page = await ctx.new_page()
                page.set_default_timeout(20_000)
                watch(page, f"pages-{lang}")
                await page.goto(f"{demo.web}/board")
                await page.wait_for_selector("#board tr.unit")
                assert await page.locator("#board td.red, #board td.yellow, #board td.blue").count() > 0
                await page.screenshot(path=str(out / f"{lang}-board.png"), full_page=True)
                await page.goto(urls["hotspots"])
                await page.wait_for_function("() => Number(document.getElementById('chart').dataset.bars) > 5")
                await page.wait_for_timeout(1500)  # the bars grow in: photograph them grown
                await page.screenshot(path=str(out / f"{lang}-hotspots.png"), full_page=True)
                await page.goto(f"{demo.web}/map")
                await page.wait_for_function("() => Number(document.getElementById('map').dataset.blocks) > 0")
                await page.screenshot(path=str(out / f"{lang}-map.png"), full_page=True)
                await page.goto(urls["assessment"])
                await page.wait_for_selector("table tr.unit")
                await page.screenshot(path=str(out / f"{lang}-assessment.png"), full_page=True)
                await page.close()

            # --- 1. the coordinator's photo, on the chat page
            chat = await contexts["zh"].new_page()
            chat.set_default_timeout(20_000)
            watch(chat, "chat")
            await chat.goto(demo.chat + "/")
            await expect(chat.locator("#act-as option")).to_have_count(6)  # "pick" + five people

            async def act_as(user_id: int) -> None:
                await chat.select_option("#act-as", str(user_id))
                await expect(chat.locator("#chat-title")).not_to_have_class("muted")

            def bot_says(words: str) -> Any:
                return chat.locator(".msg.bot", has_text=words).last

            await act_as(COORDINATOR)
            await chat.click("#sample-photo")
            await chat.locator(".reply-button", has_text="发送当前位置").click()
            await bot_says("小区环境卫生").locator(".inline-button", has_text="小区环境卫生").click()
            await bot_says("跳过").locator(".inline-button", has_text="跳过").click()
            await bot_says("确认").locator(".inline-button", has_text="确认").click()
            answer = chat.locator(".msg.bot", has_text=re.compile(r"已受理.*" + SERIAL.pattern)).last
            await expect(answer).to_be_visible()
            found = SERIAL.search(await answer.inner_text())
            assert found
            serial = found.group(0)
            case = await _wait_case(demo.db, serial, "reported")
            assert case["placement"]["community_block"] == case["proposed_assignee"]["unit"]
            await chat.screenshot(path=str(out / "zh-chat-coordinator.png"))

            # --- 2. the center dispatches it on the desk
            await desk.click("#nav-new")
            row = desk.locator(f'li[data-serial="{serial}"]')
            await expect(row.locator('input[name="unit"]')).to_have_value(case["proposed_assignee"]["unit"])
            await row.locator("form.act-dispatch button").click()
            await expect(desk.locator(f'li[data-serial="{serial}"]')).to_have_count(0)
            case = await _wait_case(demo.db, serial, "dispatched")

            # --- 3. the block leader accepts and reports the result
            await act_as(LEADER)
            assignment = chat.locator(".msg.bot", has_text=serial).first
            await assignment.locator(f'.inline-button[data-callback-data^="c:accept:{case["_id"]}"]').click()
            await _wait_case(demo.db, serial, "in_progress")
            done = chat.locator(f'.inline-button[data-callback-data^="c:done:{case["_id"]}"]').last
            await done.click()
            await expect(bot_says(serial).last).to_be_visible()
            before = await chat.locator(".msg").count()
            await chat.click("#sample-photo")
            await expect(chat.locator(".msg.bot")).not_to_have_count(0)
            await chat.wait_for_function(f"() => document.querySelectorAll('.msg').length > {before + 1}")
            await chat.fill("#text-input", "杂物已清理，楼道恢复通畅")
            await chat.press("#text-input", "Enter")
            await chat.locator(".msg.bot").last.locator(".inline-button", has_text="确认").click()
            await _wait_case(demo.db, serial, "awaiting_verification")
            await chat.screenshot(path=str(out / "zh-chat-leader.png"))

            # --- 4. the center verifies both: the walk's case and the citizen's complaint
            await desk.click("#nav-verification")
            for number in (serial, citizen_case):
                row = desk.locator(f'li[data-serial="{number}"]')
                await row.locator('button[value="pass"]').click()
                await expect(desk.locator(f'li[data-serial="{number}"]')).to_have_count(0)
                await _wait_case(demo.db, number, "closed")
            cited = await demo.db.cases.find_one({"serial": citizen_case})
            assert cited is not None

            # --- 5. the citizen rates: the worker's closing message carries the stars
            await act_as(CITIZEN)
            star = chat.locator(f'.inline-button[data-callback-data="r:{cited["_id"]}:5"]')
            await star.click(timeout=60_000)
            deadline = time.monotonic() + 20
            while (await demo.db.cases.find_one({"serial": citizen_case}) or {}).get("rating") is None:
                assert time.monotonic() < deadline, "the citizen's rating never arrived"
                await asyncio.sleep(0.2)
            await chat.screenshot(path=str(out / "zh-chat-citizen.png"))

            # --- the same chat in English: the citizen switches with /language
            await chat.fill("#text-input", "/language")
            await chat.press("#text-input", "Enter")
            await chat.locator('.inline-button[data-callback-data="l:en"]').last.click()
            await chat.fill("#text-input", "/help")
            await chat.press("#text-input", "Enter")
            await expect(chat.locator(".msg.bot").last).to_contain_text("/report")
            await chat.screenshot(path=str(out / "en-chat-citizen.png"))

            # --- 6. the portal finds the rated case; the desk and pages in English
            for lang, ctx in contexts.items():
                page = await ctx.new_page()
                page.set_default_timeout(20_000)
                await page.goto(f"{demo.web}/portal")
                await page.fill("input[name=serial]", citizen_case)
                await page.click("#lookup button")
                await page.wait_for_selector("#timeline li")
                await page.screenshot(path=str(out / f"{lang}-portal.png"), full_page=True)
                await page.close()
            desk_en = await contexts["en"].new_page()
            await desk_en.goto(f"{demo.web}/desk/signin")
            await desk_en.fill("#username", "admin")
            await desk_en.fill("#password", demo.password("admin"))
            await desk_en.press("#password", "Enter")
            await desk_en.wait_for_url("**/desk/**")
            await expect(desk_en.locator("#signin-form")).to_have_count(0)
            await desk_en.screenshot(path=str(out / "en-desk.png"), full_page=True)
        finally:
            await browser.close()
    assert not problems, problems
    shots = sorted(p.name for p in out.glob("*.png"))
    for page_name in ("desk", "board", "hotspots", "map", "assessment", "portal", "chat-citizen"):
        for lang in ("zh", "en"):
            assert f"{lang}-{page_name}.png" in shots, (page_name, lang, shots)
