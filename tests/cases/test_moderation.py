"""Moderation in the domain: hide/unhide and redact are workflow rows (role, area and state),
in the history with the moderator; a hidden case is nobody's public case; a redacted photo's
copy replaces it publicly; a chat user's block is in force until its end or until lifted."""

from __future__ import annotations

import io
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
from PIL import Image

from cases import moderation, visibility, workflow
from cases.errors import BadCaseInput, CaseNotFound, NotYourCase, TransitionNotAllowed
from cases.model import Actor
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.settings import Settings
from media import redaction
from media import service as media_service
from tests.cases.conftest import CENTER, CITIZEN, ROADS, NewCase

STREET = Actor(role="dispatcher", unit="310101001", name="Street One")
OTHER_STREET = Actor(role="dispatcher", unit="310101009", name="Street Nine")
ADMIN = Actor(role="admin", unit="310101")
COORDINATOR = Actor(role="coordinator", unit="310101001001001", user_id=5151, chat_id=5151,
                    name="Patrol Qian")
BOX = (0.25, 0.25, 0.5, 0.5)


def noisy_jpeg(width: int = 640, height: int = 480, seed: int = 7) -> bytes:
    """Random noise: any blurred region of it is flat, any untouched one is not."""
    pixels = np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, "JPEG", quality=95)
    return out.getvalue()


def region_std(data: bytes, box: tuple[float, float, float, float]) -> float:
    with Image.open(io.BytesIO(data)) as img:
        w, h = img.size
        x, y, bw, bh = box
        # a margin inside the box: its edges blend with the untouched pixels around it
        crop = img.convert("L").crop((int((x + 0.05) * w), int((y + 0.05) * h),
                                      int((x + bw - 0.05) * w), int((y + bh - 0.05) * h)))
        return float(np.asarray(crop, dtype=np.float64).std())


async def photo_case(db: Database, clock: FakeClock, settings: Settings, new_case: NewCase,
                     seed: int = 7) -> tuple[dict[str, Any], str]:
    stored = await media_service.ingest(db, data=noisy_jpeg(seed=seed), content_type="image/jpeg",
                                        uploader="test", settings=settings, now=clock.now())
    case = await new_case(channel="patrol_bot", kind="hazard", category="road_damage",
                          actor=COORDINATOR, reporter=None, photos=[stored.id])
    return case, stored.id


async def test_hide_takes_the_case_out_of_every_public_view(db: Database, clock: FakeClock,
                                                            new_case: NewCase) -> None:
    case = await new_case(actor=CITIZEN, channel="citizen_bot",
                          reporter={"user_id": CITIZEN.user_id, "chat_id": CITIZEN.chat_id})
    assert case["public"] is True
    assert "hide" in workflow.allowed_actions(CENTER, case)
    assert "unhide" not in workflow.allowed_actions(CENTER, case)
    hidden = await moderation.hide(db, case_ref=case["_id"], actor=STREET, now=clock.now(),
                                   reason="abusive words about a neighbour")
    assert hidden["hidden"] is True and hidden["public"] is False and hidden["hidden_public"] is True
    with pytest.raises(CaseNotFound):
        visibility.view(None, hidden, clock.now())
    assert visibility.audience(Actor(role="citizen", user_id=999), hidden) is None
    assert await db.cases.count_documents({"_id": case["_id"], **visibility.scope(None, district="310101")}) == 0
    # the boards list open cases by the public flag: the hidden case is counted, never named
    from stats import facts
    assert facts.open_entry(case)[0] == case["serial"]
    entry_now = facts.open_entry(hidden)
    assert entry_now is not None and entry_now[0] == "" and not facts.is_public(entry_now)
    # staff and the reporter keep it
    assert visibility.audience(CENTER, hidden) == "center"
    assert visibility.audience(CITIZEN, hidden) == "reporter"
    entry = hidden["history"][-1]
    assert (entry["action"], entry["actor"]["name"], entry["reason"]) == (
        "hide", "Street One", "abusive words about a neighbour")
    assert "unhide" in workflow.allowed_actions(CENTER, hidden)
    assert "hide" not in workflow.allowed_actions(CENTER, hidden)
    with pytest.raises(TransitionNotAllowed):
        await moderation.hide(db, case_ref=case["_id"], actor=CENTER, now=clock.now(), reason="again")
    clock.advance(timedelta(minutes=1))
    shown = await moderation.unhide(db, case_ref=case["_id"], actor=CENTER, now=clock.now())
    assert shown["hidden"] is False and shown["public"] is True
    assert visibility.view(None, shown, clock.now())["serial"] == case["serial"]
    with pytest.raises(TransitionNotAllowed):
        await moderation.unhide(db, case_ref=case["_id"], actor=CENTER, now=clock.now())
    log = await moderation.recent_log(db, now=clock.now())
    assert [(e["action"], e["moderator"]["name"]) for e in log][::-1] == [
        ("hide", "Street One"), ("unhide", "Center Li")]


async def test_hide_is_the_area_centers_and_needs_a_reason(db: Database, clock: FakeClock,
                                                           new_case: NewCase) -> None:
    case = await new_case()
    for who in (ROADS, OTHER_STREET, CITIZEN, COORDINATOR):
        with pytest.raises(NotYourCase):
            await moderation.hide(db, case_ref=case["_id"], actor=who, now=clock.now(), reason="x")
    with pytest.raises(BadCaseInput):
        await moderation.hide(db, case_ref=case["_id"], actor=CENTER, now=clock.now(), reason=" ")
    # a case that was never public stays so after unhide
    private = await new_case(channel="transfer_110")
    assert private["public"] is False
    await moderation.hide(db, case_ref=private["_id"], actor=ADMIN, now=clock.now(), reason="r")
    back = await moderation.unhide(db, case_ref=private["_id"], actor=ADMIN, now=clock.now())
    assert back["public"] is False


async def test_redacted_copy_replaces_the_photo_publicly(db: Database, clock: FakeClock,
                                                         settings: Settings, new_case: NewCase) -> None:
    case, photo = await photo_case(db, clock, settings, new_case)
    assert case["public_photos"] == [photo]
    assert "redact" in workflow.allowed_actions(CENTER, case)
    done = await moderation.redact(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                   photo=photo, boxes=[BOX], reason="a face")
    copy = done["redactions"][0]["redacted"]
    assert copy != photo and done["public_photos"] == [copy] and done["photos"] == [photo]
    assert visibility.public_view(done, clock.now())["photos"] == [copy]
    assert visibility.photo_is_public([done], copy) and not visibility.photo_is_public([done], photo)
    assert visibility.photo_visible(CENTER, [done], photo) and visibility.photo_visible(CENTER, [done], copy)
    original = await (await media_service.rendition(db, photo_id=photo, size="web")).read(db)
    blurred = await (await media_service.rendition(db, photo_id=copy, size="web")).read(db)
    assert region_std(original, BOX) > 40 and region_std(blurred, BOX) < 8
    # outside the boxes the copy is the picture
    assert region_std(blurred, (0.0, 0.0, 0.2, 0.2)) > 40
    # again, other boxes: from the original, the first copy is gone from the case
    again = await moderation.redact(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                    photo=copy, boxes=[(0.0, 0.0, 0.3, 0.3)])
    second = again["redactions"][0]["redacted"]
    assert len(again["redactions"]) == 1 and again["redactions"][0]["photo"] == photo
    assert again["public_photos"] == [second] and copy not in again["photo_ids"]
    assert [e["action"] for e in again["history"]][-2:] == ["redact", "redact"]


async def test_redaction_is_refused_for_others_and_bad_boxes(db: Database, clock: FakeClock,
                                                             settings: Settings, new_case: NewCase) -> None:
    case, photo = await photo_case(db, clock, settings, new_case, seed=8)
    with pytest.raises(NotYourCase):
        await moderation.redact(db, case_ref=case["_id"], actor=ROADS, now=clock.now(), photo=photo,
                                boxes=[BOX])
    for boxes in ([], [(2.0, 2.0, 0.1, 0.1)], [(0.1, 0.1)], [BOX] * 21):
        with pytest.raises(redaction.BadBoxes):
            await moderation.redact(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                    photo=photo, boxes=boxes)  # type: ignore[arg-type]
    with pytest.raises(BadCaseInput):
        await moderation.redact(db, case_ref=case["_id"], actor=CENTER, now=clock.now(),
                                photo="not-its-photo", boxes=[BOX])
    no_photos = await new_case()
    assert "redact" not in workflow.allowed_actions(CENTER, no_photos)


async def test_block_is_in_force_until_its_end_or_lifted(db: Database, clock: FakeClock,
                                                         new_case: NewCase) -> None:
    case = await new_case(actor=CITIZEN, channel="citizen_bot",
                          reporter={"user_id": CITIZEN.user_id, "chat_id": CITIZEN.chat_id, "locale": "en"})
    until = clock.now() + timedelta(days=7)
    for who in (ROADS, OTHER_STREET, COORDINATOR):
        with pytest.raises(NotYourCase):
            await moderation.block_reporter(db, case_ref=case["_id"], actor=who, now=clock.now(),
                                            reason="abuse", until=until)
    with pytest.raises(BadCaseInput):
        await moderation.block_reporter(db, case_ref=case["_id"], actor=STREET, now=clock.now(),
                                        reason="abuse", until=clock.now() - timedelta(hours=1))
    with pytest.raises(BadCaseInput):
        await moderation.block_reporter(db, case_ref=case["_id"], actor=STREET, now=clock.now(),
                                        reason="", until=until)
    hotline = await new_case()
    with pytest.raises(BadCaseInput):  # nobody in chat to block
        await moderation.block_reporter(db, case_ref=hotline["_id"], actor=STREET, now=clock.now(),
                                        reason="abuse", until=until)
    block = await moderation.block_reporter(db, case_ref=case["_id"], actor=STREET,
                                            now=clock.now(), reason="abuse", until=until)
    assert await moderation.active_block(db, user_id=CITIZEN.user_id or 0, now=clock.now()) is not None
    assert await moderation.mark_told(db, block=block, now=clock.now()) is True
    assert await moderation.mark_told(db, block=block, now=clock.now()) is False
    # the view hides the chat ids from all but the admin
    assert "user_id" not in moderation.block_view(block, STREET)
    assert moderation.block_view(block, ADMIN)["user_id"] == CITIZEN.user_id
    assert [b["_id"] for b in await moderation.active_blocks(db, actor=STREET, now=clock.now())] == [block["_id"]]
    assert await moderation.active_blocks(db, actor=OTHER_STREET, now=clock.now()) == []
    with pytest.raises(NotYourCase):
        await moderation.unblock(db, block_id=block["_id"], actor=OTHER_STREET, now=clock.now())
    # past its end date it is no longer in force
    assert await moderation.active_block(db, user_id=CITIZEN.user_id or 0,
                                         now=until + timedelta(seconds=1)) is None
    await moderation.unblock(db, block_id=block["_id"], actor=CENTER, now=clock.now(), reason="apologised")
    assert await moderation.active_block(db, user_id=CITIZEN.user_id or 0, now=clock.now()) is None
    # blocked again later: the same document, told afresh
    again = await moderation.block_reporter(db, case_ref=case["_id"], actor=CENTER,
                                            now=clock.now() + timedelta(minutes=1), reason="again",
                                            until=until)
    assert again["_id"] == block["_id"] and again["told_at"] is None
    log = await moderation.recent_log(db, now=clock.now())
    assert sorted(e["action"] for e in log) == ["block", "block", "unblock"]
    assert all(e["block_id"] == block["_id"] and e["moderator"]["name"] for e in log)


async def test_admin_blocks_by_user_id(db: Database, clock: FakeClock) -> None:
    until = clock.now() + timedelta(days=1)
    with pytest.raises(NotYourCase):
        await moderation.block_user(db, user_id=77, actor=CENTER, now=clock.now(), reason="spam",
                                    until=until, district="310101")
    block = await moderation.block_user(db, user_id=77, actor=ADMIN, now=clock.now(), reason="spam",
                                        until=until, district="310101")
    assert (await moderation.active_block(db, user_id=77, now=clock.now()) or {})["_id"] == block["_id"]
    assert moderation.may_manage(CENTER, block)  # the district center
    assert not moderation.may_manage(STREET, block)


async def test_a_refile_while_hidden_keeps_it_hidden(db: Database, clock: FakeClock,
                                                     new_case: NewCase) -> None:
    from cases import lifecycle
    from tests.cases.conftest import POLICY

    case = await new_case()
    hidden = await moderation.hide(db, case_ref=case["_id"], actor=CENTER, now=clock.now(), reason="r")
    other = "exposed_garbage"  # a public category: the re-file sets the flag, the hide wins
    refiled = await lifecycle.refile(db, case_ref=hidden["_id"], actor=CENTER, now=clock.now(),
                                     policy=POLICY, category=other, reason="wrong category")
    assert refiled["hidden"] is True and refiled["public"] is False
    shown = await moderation.unhide(db, case_ref=case["_id"], actor=CENTER, now=clock.now())
    from cases.intake import is_public
    assert is_public(shown["channel"], other) and shown["public"] is True

