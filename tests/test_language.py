"""One language negotiator (gridlink.i18n.negotiate): the same Accept-Language gives the same
language on every surface — the desk's page, every statistics page, the statistics JSON and its
export, Open311's services, an API error and the bot's reply (Telegram's language_code is a
tag of the same grammar, sent through the same function) — for a table of headers with q-values,
`*`, languages we do not speak and none at all. An explicit choice beats the header everywhere."""

from __future__ import annotations

import re
from typing import Any

import aiohttp
import pytest

from api.desk.i18n import t as desk_t
from gridlink.i18n import negotiate
from gridlink.i18n import t as chat_t
from open311.service import GROUPS
from tests.bot.conftest import BotWorld, world  # noqa: F401  (fixture)
from tests.sandbox.conftest import sandbox  # noqa: F401  (fixture)

ZH, EN = "zh-CN", "en"
# (Accept-Language, the language every surface answers in); the district's default is zh-CN.
TABLE: list[tuple[str | None, str]] = [
    (None, ZH),
    ("", ZH),
    ("en", EN),
    ("EN-gb", EN),
    ("en-US,en;q=0.9", EN),
    ("en;q=0.1, zh-CN;q=0.9", ZH),  # the header: English on the desk, Chinese in Open311
    ("zh-CN;q=0.2, en;q=0.8", EN),
    ("zh-TW", ZH),
    ("fr, en;q=0.5", EN),  # the first language we speak, after one we do not
    ("fr, de", ZH),  # none we speak: the default
    ("*", ZH),
    ("fr, *;q=0.5", ZH),
    ("en;q=0, *", ZH),  # English refused, anything else welcome
    ("de, en;q=0.8, zh;q=0.8", EN),  # a tie goes to the one listed first
    ("en;q=abc, zh;q=0.2", ZH),  # a broken q refuses its range
]


@pytest.mark.parametrize(("header", "want"), TABLE)
def test_the_negotiator(header: str | None, want: str) -> None:
    assert negotiate(accept=header, default=ZH) == want
    assert negotiate(chosen="en", accept=header, default=ZH) == EN
    assert negotiate(chosen="zh", accept=header, default=EN) == ZH
    assert negotiate(chosen="klingon", accept=header, default=ZH) == want  # not a choice we know


def _html_lang(text: str) -> str:
    found = re.search(r'<html lang="([^"]+)"', text)
    assert found, text[:200]
    return found[1]


async def _surfaces(http: aiohttp.ClientSession, base: str, headers: dict[str, str],
                    query: str = "") -> dict[str, Any]:
    """The language each web surface answered in."""
    out: dict[str, Any] = {}
    async with http.get(f"{base}/desk/signin{query}", headers=headers) as res:
        assert res.status == 200
        out["desk page"] = _html_lang(await res.text())
    async with http.get(f"{base}/board{query}", headers=headers) as res:
        assert res.status == 200
        out["board page"] = _html_lang(await res.text())
        out["board Content-Language"] = res.headers["Content-Language"]
    langs = set()
    for page in ("hotspots", "map", "trends", "assessment", "portal"):
        async with http.get(f"{base}/{page}{query}", headers=headers) as res:
            assert res.status == 200
            langs.add(_html_lang(await res.text()))
    out["other pages"] = langs
    sep = "&" if query else "?"
    async with http.get(f"{base}/api/v1/stats/assessment{query}", headers=headers) as res:
        assert res.status == 200
        body = await res.json()
        out["assessment JSON"] = EN if body["lang"] == "en" else ZH
        out["assessment formula"] = {d["key"]: d["name"] for d in body["definitions"]}["handling_rate"]
    async with http.get(f"{base}/api/v1/stats/assessment.csv{query}", headers=headers) as res:
        assert res.status == 200
        out["assessment CSV"] = res.headers["Content-Language"]
    async with http.get(f"{base}/open311/v2/services.json{query}", headers=headers) as res:
        assert res.status == 200
        groups = {s["group"] for s in await res.json()}
        langs = {lang for zh, en in GROUPS.values() for lang, name in ((ZH, zh), (EN, en)) if name in groups}
        assert len(langs) == 1, groups
        out["Open311 services"] = langs.pop()
    async with http.get(f"{base}/api/v1/stats/assessment{query}{sep}month=2026-13", headers=headers) as res:
        assert res.status == 400
        error = (await res.json())["error"]
        out["API error"] = res.headers["Content-Language"]
        out["API error title"] = error["title"]
    return out


def _expected(want: str) -> dict[str, Any]:
    return {"desk page": want, "board page": want, "board Content-Language": want, "other pages": {want},
            "assessment JSON": want, "assessment formula": "Handling rate" if want == EN else "处置率",
            "assessment CSV": want, "Open311 services": want, "API error": want,
            "API error title": desk_t("api_error.invalid_input", want)}


async def test_every_surface_answers_in_the_same_language(world: BotWorld) -> None:  # noqa: F811
    async with aiohttp.ClientSession() as http:
        for header, want in TABLE:
            headers = {} if header is None else {"Accept-Language": header}
            got = await _surfaces(http, world.url, headers)
            assert got == _expected(want), header
            # The bot: Telegram's language_code through the same negotiator.
            phone = await world.phone(f"user {len(header or '')}", language_code=header)
            await phone.send("/start")
            reply = await phone.reply()
            assert reply["text"] == chat_t("start.citizen", want), header
        # An explicit choice (the `locale` parameter) wins over the header on every surface.
        for header, choice in (("zh-CN", EN), ("en", ZH)):
            got = await _surfaces(http, world.url, {"Accept-Language": header},
                                  query=f"?locale={'en' if choice == EN else 'zh'}")
            assert got == _expected(choice), (header, choice)


async def test_hotspots_json_and_png_follow_the_header(client: Any, db: Any, clock: Any) -> None:
    """The hotspot rows' names and the PNG (its title drawn in) in the negotiated language."""
    from cases.categories import DEFAULT_CATEGORIES
    from tests.stats.test_assessment_indicators import NOW, load

    clock.set(NOW)
    await load(db)
    food = next(c for c in DEFAULT_CATEGORIES if c.code == "food_hygiene")
    url = "/api/v1/stats/hotspots?by=category&from=2026-11-01&to=2026-11-30"
    pngs = set()
    for header, name in (("en;q=0.1, zh-CN;q=0.9", food.name_zh), ("fr, en;q=0.5", food.name_en)):
        body = await (await client.get(url, headers={"Accept-Language": header})).json()
        assert [r["name"] for r in body["rows"]] == [name], header
        res = await client.get(url.replace("hotspots?", "hotspots.png?"), headers={"Accept-Language": header})
        assert res.status == 200
        pngs.add(await res.read())
    assert len(pngs) == 2  # bar names and title drawn in each language


def test_one_translation_system_for_chat_and_pages() -> None:
    """The chat's and the web pages' catalogs are two domains of one system: the same lookup,
    the same fallback (the other language's text, never the key) for every surface."""
    from api.desk import i18n as web
    from gridlink import i18n

    assert isinstance(web.WEB, i18n.Domain) and isinstance(i18n.CHAT, i18n.Domain)
    assert web.t("nav.board", "en") == web.WEB.t("nav.board", "en") != web.WEB.t("nav.board", "zh-CN")
    assert i18n.t("role.leader", "en") == "block leader" and i18n.t("role.leader", "zh-CN") == "责任块负责人"
    only_zh = i18n.Domain.of_pairs({"x.only_zh": ("只有中文 {n}", "")})
    assert only_zh.t("x.only_zh", "en", n=1) == "只有中文 1"
    assert only_zh.t("x.only_zh", "fr", n=2) == "只有中文 2"  # an unknown locale: the fallback
    with pytest.raises(KeyError):
        only_zh.t("x.missing", "en")
