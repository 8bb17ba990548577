"""The bot's own records against the real database: invites, dialogue state, update claims;
and the message catalog's completeness."""

from __future__ import annotations

import ast
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from bot import repository as repo
from bot.errors import InviteExpired, InviteUnknown, InviteUsed
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.errors import InvalidInput
from gridlink.i18n import CATALOG, EN, ZH, locale_for, t

BOT = Path(__file__).resolve().parents[2] / "bot"
CJK = re.compile(r"[\u3400-\u9fff]")


def test_catalog_languages_have_the_same_keys_and_placeholders() -> None:
    assert set(ZH) == set(EN)
    fields = re.compile(r"\{(\w+)\}")
    for key in ZH:
        assert set(fields.findall(ZH[key])) == set(fields.findall(EN[key])), key
        assert ZH[key].strip() and EN[key].strip(), key


def test_locale_from_telegram_language_code() -> None:
    assert locale_for("zh-hans", "en") == "zh-CN"
    assert locale_for("zh-TW", "en") == "zh-CN"
    assert locale_for("en-US", "zh-CN") == "en"
    assert locale_for("de", "en") == "en"
    assert locale_for(None, "zh-CN") == "zh-CN"
    assert t("report.created", "en", serial="A1") == "Received. Serial number A1."
    assert t("report.created", "fr", serial="A1") == "已受理，流水号 A1。"


def _string_constants(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text())
    docstrings = {id(n.body[0].value) for n in ast.walk(tree)
                  if isinstance(n, ast.Module | ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                  and n.body and isinstance(n.body[0], ast.Expr)
                  and isinstance(n.body[0].value, ast.Constant)}
    # Log lines are for operators, not users.
    logged = {id(a) for n in ast.walk(tree) if isinstance(n, ast.Call)
              and isinstance(n.func, ast.Attribute) and isinstance(n.func.value, ast.Name)
              and n.func.value.id == "log" for a in n.args}
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str)
            and id(n) not in docstrings | logged]


@pytest.mark.parametrize("module", ["handlers.py", "flows.py", "common.py", "keyboards.py"])
def test_no_user_facing_text_outside_the_catalog(module: str) -> None:
    """Handler modules hold only catalog keys and machine words, never sentences or Chinese."""
    for line, value in _string_constants(BOT / module):
        assert not CJK.search(value), f"{module}:{line} {value!r}"
        # A sentence: several words with spaces; keys and callback formats have none.
        assert len(value.split()) < 3, f"{module}:{line} {value!r}"


@pytest.mark.parametrize("module", ["handlers.py", "flows.py", "common.py", "keyboards.py"])
def test_every_catalog_key_used_exists(module: str) -> None:
    source = (BOT / module).read_text()
    used = set(re.findall(r'(?:say\(update, d, |t\()"([a-z_]+\.[a-z_.0-9]+)"', source))
    assert used, module if module != "keyboards.py" else "keyboards use t()"
    missing = used - set(CATALOG["zh-CN"])
    assert not missing


async def test_invite_is_single_use(db: Database, clock: FakeClock) -> None:
    token = await repo.create_invite(db, role="leader", unit="310101001001001", name="王",
                                     now=clock.now(), ttl=timedelta(hours=72))
    stored = await db.invites.find_one({})
    assert stored is not None and token not in str(stored)  # only the hash is kept
    invite = await repo.redeem_invite(db, token=token, user_id=7, now=clock.now())
    assert (invite["role"], invite["unit"], invite["used_by"]) == ("leader", "310101001001001", 7)
    with pytest.raises(InviteUsed):
        await repo.redeem_invite(db, token=token, user_id=8, now=clock.now())
    with pytest.raises(InviteUnknown):
        await repo.redeem_invite(db, token="no-such-token", user_id=8, now=clock.now())


async def test_invite_expires(db: Database, clock: FakeClock) -> None:
    token = await repo.create_invite(db, role="coordinator", unit="U1", name="", now=clock.now(),
                                     ttl=timedelta(hours=1))
    clock.advance(hours=1)
    with pytest.raises(InviteExpired):
        await repo.redeem_invite(db, token=token, user_id=7, now=clock.now())
    with pytest.raises(InvalidInput):
        await repo.create_invite(db, role="mayor", unit="U1", name="", now=clock.now(),
                                 ttl=timedelta(hours=1))


async def test_conversation_survives_and_expires(db: Database, clock: FakeClock) -> None:
    ttl = timedelta(minutes=30)
    await repo.save_conversation(db, chat_id=5, flow="report", step="location",
                                 data={"photos": ["m1"]}, now=clock.now(), ttl=ttl)
    clock.advance(minutes=29)
    conv, expired = await repo.load_conversation(db, chat_id=5, now=clock.now())
    assert conv is not None and conv["data"]["photos"] == ["m1"] and not expired
    clock.advance(minutes=2)
    conv, expired = await repo.load_conversation(db, chat_id=5, now=clock.now())
    assert conv is None and expired
    conv, expired = await repo.load_conversation(db, chat_id=5, now=clock.now())
    assert conv is None and not expired  # told once
    await repo.save_conversation(db, chat_id=6, flow="appeal", step="text", data={},
                                 now=clock.now(), ttl=ttl)
    clock.advance(minutes=31)
    assert await repo.sweep_conversations(db, now=clock.now()) == [6]


async def test_update_claimed_once(db: Database, clock: FakeClock) -> None:
    now = clock.now()
    assert await repo.claim_update(db, update_id=1, now=now) == "claimed"
    assert await repo.claim_update(db, update_id=1, now=now) == "busy"  # being processed
    await repo.finish_update(db, update_id=1, now=now)
    assert await repo.claim_update(db, update_id=1, now=now + timedelta(hours=1)) == "done"
    assert await repo.update_state(db, update_id=1) == "done"
    # A failed attempt is taken again at once; an abandoned one after its lease.
    assert await repo.claim_update(db, update_id=2, now=now) == "claimed"
    await repo.fail_update(db, update_id=2)
    assert await repo.claim_update(db, update_id=2, now=now) == "claimed"
    assert await repo.claim_update(db, update_id=2, now=now + timedelta(seconds=30)) == "busy"
    assert await repo.claim_update(db, update_id=2, now=now + repo.UPDATE_LEASE) == "claimed"


async def test_photos_of_a_media_group_arriving_together_are_all_kept(db: Database,
                                                                     clock: FakeClock) -> None:
    import asyncio

    ttl = timedelta(minutes=30)
    new: tuple[str, str, dict[str, Any]] = ("report", "photos", {"photos": [], "after": [], "location": None})
    await asyncio.gather(*(repo.append_to_conversation(db, chat_id=9, field="photos", value=f"m{i}",
                                                       new=new, now=clock.now(), ttl=ttl)
                           for i in range(6)))
    # A step change written meanwhile does not overwrite the list.
    await repo.save_conversation(db, chat_id=9, flow="report", step="category",
                                 data={"photos": [], "after": [], "location": {"lon": 1, "lat": 2}},
                                 now=clock.now(), ttl=ttl)
    conv, _ = await repo.load_conversation(db, chat_id=9, now=clock.now())
    assert conv is not None and conv["step"] == "category"
    assert sorted(conv["data"]["photos"]) == [f"m{i}" for i in range(6)]
    assert conv["data"]["location"] == {"lon": 1, "lat": 2}


async def test_a_lone_photo_adds_to_the_lists_it_was_given_and_all_are_stored(
        db: Database, clock: FakeClock) -> None:
    ttl = timedelta(minutes=30)
    await repo.start_conversation(db, chat_id=11, flow="report", step="location",
                                  data={"photos": ["p1"], "after": []}, now=clock.now(), ttl=ttl)
    conv, _ = await repo.load_conversation(db, chat_id=11, now=clock.now())
    assert conv is not None
    known = {"photos": conv["data"]["photos"], "after": conv["data"]["after"]}
    # The lists come back as given plus this photo, without reading them again: a photo stored
    # meanwhile by another update (which `known` is only passed when none can be) is not in it.
    await db.conversation_items.insert_one({"chat": "11", "chat_id": 11, "field": "photos",
                                            "value": "other"})
    done = await repo.append_to_conversation(db, chat_id=11, field="photos", value="p2", new=None,
                                             now=clock.now(), ttl=ttl, known=known)
    assert done is not None and done["data"]["photos"] == ["p1", "p2"]
    assert known["photos"] == ["p1"]  # the caller's lists are left as they were
    read = await repo.append_to_conversation(db, chat_id=11, field="photos", value="p3", new=None,
                                             now=clock.now(), ttl=ttl)
    assert read is not None and read["data"]["photos"] == ["p1", "other", "p2", "p3"]
    # Dialogue gone meanwhile: None either way.
    await repo.clear_conversation(db, chat_id=11)
    assert await repo.append_to_conversation(db, chat_id=11, field="photos", value="p4", new=None,
                                             now=clock.now(), ttl=ttl, known=known) is None


async def test_an_invite_redeemed_twice_at_once_binds_one_user(db: Database, clock: FakeClock) -> None:
    import asyncio

    token = await repo.create_invite(db, role="leader", unit="U1", name="", now=clock.now(),
                                     ttl=timedelta(hours=1))
    results = await asyncio.gather(*(repo.redeem_invite(db, token=token, user_id=u, now=clock.now())
                                     for u in range(8)), return_exceptions=True)
    winners = [r for r in results if isinstance(r, dict)]
    assert len(winners) == 1
    assert all(isinstance(r, InviteUsed) for r in results if not isinstance(r, dict))
    stored = await db.invites.find_one({})
    assert stored is not None and stored["used_by"] == winners[0]["used_by"]


async def test_a_redelivered_update_is_claimed_by_one_attempt(db: Database, clock: FakeClock) -> None:
    import asyncio

    assert await repo.claim_update(db, update_id=3, now=clock.now()) == "claimed"
    await repo.fail_update(db, update_id=3)
    claims = await asyncio.gather(*(repo.claim_update(db, update_id=3, now=clock.now())
                                    for _ in range(6)))
    assert claims.count("claimed") == 1
