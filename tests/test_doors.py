"""One report through every door (issue 16): the bot's coordinator and citizen dialogues, the
desk's intake form, REST and Open311 each file the same report — one place in block A of the
demo district, one photo — and must produce the same case: placement, the photo carried with
its perceptual hash, the reporter's language where the door knows it, the public flag as the
policy sets it. Then a case's transitions, each taken through a different door, read the same
through all the others."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from open311 import repository as open311_repo
from tests.bot.conftest import Phone
from tests.matrix import (
    Json,
    Reply,
    Staff,
    World,
    block_a,
    buttons,
    demo_index,
    distinct_points,
    jpeg,
    open_world,
    serial_in,
    staff_principals,
)

pytestmark = pytest.mark.asyncio(loop_scope="module")

PLACE_FIELDS = ("community_block", "street_block", "workstation", "street", "patrol_zone", "district")
DOORS = ("bot coordinator", "bot citizen", "desk", "desk 110 transfer", "REST", "Open311")
NOT_PUBLIC = ("desk 110 transfer",)
COORDINATOR, CITIZEN, LEADER = 770_100_001, 770_100_002, 770_100_003
INTAKE_KEY_RE = re.compile(r'name="intake_key" value="([^"]*)"')
VERSION_RE = re.compile(r'name="version" value="(\d+)"')


def marker(door: str) -> str:
    return f"door report via {door}"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(mongo_uri: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with open_world(mongo_uri, Path(tmp_path_factory.mktemp("doors"))) as w:
        yield w


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def point() -> tuple[float, float]:
    return distinct_points(block_a(), 1)[0]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def phones(world: World) -> dict[str, Phone]:
    coordinator = await world.phone("Qzpatrol Door", user_id=COORDINATOR)
    await world.bind(coordinator, Staff("coordinator", block_a()))
    leader = await world.phone("Qzleader Door", user_id=LEADER)
    await world.bind(leader, staff_principals()["leaderA"])
    return {"coordinator": coordinator, "citizen": await world.phone("Qzcitizen Door", user_id=CITIZEN),
            "leader": leader}


async def bot_coordinator(world: World, phone: Phone, lon: float, lat: float) -> str:
    await phone.photo(jpeg(21))
    await phone.replies(2)  # photo added, where is it?
    await phone.location(lat, lon)
    _, categories = await phone.replies(2)  # placed, pick a category
    assert "f:cat:community_sanitation" in buttons(categories), categories
    await phone.press(categories, "f:cat:community_sanitation")
    await phone.reply()  # a note?
    await phone.send(marker("bot coordinator"))
    confirm = await phone.reply()
    await phone.press(confirm, "f:confirm")
    return serial_in((await phone.reply())["text"])


async def bot_citizen(world: World, phone: Phone, lon: float, lat: float) -> str:
    await phone.send("/report")
    await phone.press(await phone.reply(), "f:kind:complaint")
    await phone.reply()  # what happened?
    await phone.send(marker("bot citizen"))
    await phone.reply()  # photos or a place?
    await phone.photo(jpeg(22))
    await phone.reply()
    await phone.location(lat, lon)
    extras = await phone.reply()
    await phone.press(extras, "f:confirm")
    return serial_in((await phone.reply())["text"])


async def desk_intake(world: World, door: str, channel: str, lon: float, lat: float, seed: int) -> None:
    page = await world.desk_get("district", "/desk/intake")
    assert page.status == 200, page.text[:300]
    key = INTAKE_KEY_RE.search(page.text)
    form = aiohttp.FormData()
    for name, value in (("csrf", re.search(r'name="csrf" value="([^"]*)"', page.text).group(1)),  # type: ignore[union-attr]
                        ("intake_key", key.group(1) if key else door), ("channel", channel),
                        ("kind", "hazard"), ("category", "community_sanitation"),
                        ("description", marker(door)), ("caller_name", "Qzcaller Desk"),
                        ("caller_phone", "13907779999"), ("reporter_locale", "en"),
                        ("lon", f"{lon}"), ("lat", f"{lat}")):
        form.add_field(name, value)
    form.add_field("photo", jpeg(seed), filename="photo.jpg", content_type="image/jpeg")
    saved = await world.desk_post("district", "/desk/intake", form)
    assert saved.status in (200, 303), (door, saved.status, saved.text[:500])


async def rest_intake(world: World, lon: float, lat: float) -> None:
    photo = await world.upload(jpeg(24), who="district")
    created = await world.post_json("/api/v1/cases", {
        "channel": "hotline_12345", "kind": "hazard", "category": "community_sanitation",
        "description": marker("REST"), "location": {"lon": lon, "lat": lat},
        "reporter": {"name": "Qzcaller Rest", "phone": "13907778888", "locale": "en"},
        "photos": [photo]}, who="district")
    assert created.status == 201, created.text


async def open311_intake(world: World, lon: float, lat: float) -> None:
    key = await open311_repo.create_key(world.db, name="city app", now=world.clock.now())
    form = aiohttp.FormData()
    for name, value in (("api_key", key), ("service_code", "community_sanitation"),
                        ("lat", f"{lat}"), ("long", f"{lon}"), ("description", marker("Open311")),
                        ("first_name", "Qzcaller"), ("phone", "13907777777"), ("locale", "en")):
        form.add_field(name, value)
    form.add_field("media", jpeg(25), filename="photo.jpg", content_type="image/jpeg")
    async with world.http.post(world.url + "/open311/v2/requests.json", data=form) as r:
        assert r.status in (200, 201), await r.text()


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def filed(world: World, phones: dict[str, Phone], point: tuple[float, float]
                ) -> dict[str, Json | str]:
    """door → the case it opened, or why it opened none (one broken door fails its own row)."""
    lon, lat = point
    steps = {
        "bot coordinator": lambda: bot_coordinator(world, phones["coordinator"], lon, lat),
        "bot citizen": lambda: bot_citizen(world, phones["citizen"], lon, lat),
        "desk": lambda: desk_intake(world, "desk", "hotline_12345", lon, lat, 23),
        "desk 110 transfer": lambda: desk_intake(world, "desk 110 transfer", "transfer_110", lon, lat, 26),
        "REST": lambda: rest_intake(world, lon, lat),
        "Open311": lambda: open311_intake(world, lon, lat),
    }
    out: dict[str, Json | str] = {}
    for door, step in steps.items():
        try:
            await step()
        except Exception as exc:  # reported as this door's failure
            out[door] = f"filing failed: {type(exc).__name__}: {str(exc)[:300]}"
            continue
        case = await world.db.cases.find_one({"description": {"$regex": re.escape(marker(door))}})
        out[door] = case if case is not None else "no case was filed"
    return out


def case_of(filed: dict[str, Json | str], door: str) -> Json:
    case = filed[door]
    assert isinstance(case, dict), f"{door}: {case}"
    return case


async def test_every_door_files_the_same_case(world: World, filed: dict[str, Json | str],
                                              point: tuple[float, float]) -> None:
    expected = demo_index().place(*point).to_dict()
    problems = []
    for door, case in filed.items():
        if isinstance(case, str):
            problems.append(f"{door}: {case}")
            continue
        placement = case.get("placement") or {}
        got = {f: placement.get(f) for f in PLACE_FIELDS}
        if got != {f: expected.get(f) for f in PLACE_FIELDS}:
            problems.append(f"{door}: placement {got}, expected {expected}")
        if {block_a(), expected["street"]} - set(case.get("units") or []):
            problems.append(f"{door}: units {case.get('units')} miss the block or street")
        photo_ids = case.get("photo_ids") or []
        if len(photo_ids) != 1 or list(case.get("photos") or []) != photo_ids:
            problems.append(f"{door}: photos {case.get('photos')}, photo_ids {photo_ids}: "
                            f"expected the one photo sent")
        else:
            record = await world.db.photos.find_one({"_id": photo_ids[0]})
            if record is None:
                problems.append(f"{door}: photo {photo_ids[0]} is not a stored photo")
            elif list(case.get("phashes") or []) != [record.get("phash")]:
                problems.append(f"{door}: phashes {case.get('phashes')}, photo's phash {record.get('phash')}")
        locale = (case.get("reporter") or {}).get("locale") or ""
        if not locale.startswith("en"):
            problems.append(f"{door}: reporter locale {locale!r}, expected English")
        public = door not in NOT_PUBLIC
        if case.get("public") is not public:
            problems.append(f"{door}: public={case.get('public')!r}, expected {public}")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- one case, many doors


async def desk_act(world: World, who: str, case: Json, action: str, **fields: str) -> None:
    page = await world.desk_get(who, f"/desk/cases/{case['_id']}")
    assert page.status == 200, (who, page.status)
    csrf = re.search(r'name="csrf" value="([^"]*)"', page.text)
    version = VERSION_RE.search(page.text)
    assert csrf and version, f"{who}: the case page offers no form"
    done = await world.desk_post(who, f"/desk/cases/{case['_id']}/{action}",
                                 {"csrf": csrf.group(1), "version": version.group(1), **fields})
    assert done.status == 303, (action, done.status, done.text[:800])


async def press_new(world: World, phone: Phone, data: str) -> Json:
    """Send the user a message with one inline button (as notify does) and press it."""
    sent = await world.bot.send_message(phone.id, data, reply_markup=InlineKeyboardMarkup(
        [[InlineKeyboardButton("go", callback_data=data)]]))
    phone.last = sent.message_id
    await phone.press({"message_id": sent.message_id}, data)
    return await phone.reply()


async def bot_lookup(phone: Phone, serial: str) -> str:
    await phone.send(serial)
    return str((await phone.reply())["text"])


def state_text(state: str) -> str:
    try:
        from gridlink.i18n import t
    except ImportError:
        from gridlink.i18n import t
    return t(f"state.{state}", "en")


async def read_everywhere(world: World, case: Json, phones: dict[str, Phone]) -> dict[str, Any]:
    serial = case["serial"]
    rest = (await world.get(f"/api/v1/cases/{serial}", who="district")).json()["case"]
    desk = await world.desk_get("streetA", f"/desk/cases/{serial}")
    o311 = (await world.get(f"/open311/v2/requests/{serial}.json")).json()[0]
    portal = (await world.get(f"/api/v1/portal/cases/{serial}")).json()
    return {"rest": rest, "desk": desk, "open311": o311, "portal": portal,
            "bot": await bot_lookup(phones["coordinator"], serial)}


async def test_a_transition_through_one_door_reads_the_same_through_the_others(
        world: World, filed: dict[str, Json | str], phones: dict[str, Phone]) -> None:
    case = case_of(filed, "bot coordinator")
    serial, case_id = case["serial"], case["_id"]

    # The street center dispatches on the desk; the leader accepts with the bot's button.
    await desk_act(world, "streetA", case, "dispatch", unit=block_a())
    dispatched = (await world.get(f"/api/v1/cases/{serial}", who="district")).json()["case"]
    assert dispatched["state"] == "dispatched" and dispatched["assignee"]["unit"] == block_a()
    accepted = await press_new(world, phones["leader"], f"c:accept:{case_id}:{dispatched['version']}")
    assert serial in accepted["text"], accepted

    # The leader reports the result through REST, with a photo.
    result_photo = await world.upload(jpeg(27), who="leaderA")
    fed = await world.post_json(f"/api/v1/cases/{serial}/feedback",
                                {"text": "Qzresult cleared away", "photos": [result_photo]}, who="leaderA")
    assert fed.status == 200, fed.text

    seen = await read_everywhere(world, case, phones)
    assert seen["rest"]["state"] == "awaiting_verification"
    assert [e["action"] for e in seen["rest"]["history"]] == ["report", "dispatch", "accept", "feedback"]
    assert seen["rest"]["result"]["photos"] == [result_photo]
    assert seen["desk"].status == 200 and "Qzresult cleared away" in seen["desk"].text
    assert seen["open311"]["status"] == "open"
    assert seen["portal"]["status"] == "awaiting_verification"
    assert state_text("awaiting_verification") in seen["bot"], seen["bot"]

    # The center verifies on the desk; the reporter rates with the bot's stars.
    await desk_act(world, "streetA", case, "verify", outcome="pass")
    rated = await press_new(world, phones["coordinator"], f"r:{case_id}:5")
    assert rated["text"], rated

    seen = await read_everywhere(world, case, phones)
    assert seen["rest"]["state"] == "closed" and seen["rest"]["rating"]["score"] == 5
    assert [e["action"] for e in seen["rest"]["history"]][-2:] == ["close", "rate"]
    assert seen["desk"].status == 200 and serial in seen["desk"].text
    assert seen["open311"]["status"] == "closed"
    assert seen["portal"]["status"] == "closed" and seen["portal"]["rating"]["score"] == 5
    assert result_photo in seen["portal"]["result"]["photos"]
    assert state_text("closed") in seen["bot"], seen["bot"]
    public = await world.get(f"/api/v1/media/{result_photo}?size=web")
    assert public.status == 200, "a closed case's result photo is public"


async def test_the_desk_serves_bot_photos_to_the_center_of_the_area(
        world: World, filed: dict[str, Json | str]) -> None:
    problems = []
    for door in ("bot coordinator", "bot citizen"):
        photo = case_of(filed, door)["photos"][0]
        for who, allowed in (("streetA", True), ("district", True), ("streetB", door == "bot coordinator")):
            reply: Reply = await world.desk_get(who, f"/desk/media/{photo}")
            got = reply.status == 200 and reply.headers.get("Content-Type", "").startswith("image/")
            if got != allowed:
                problems.append(f"{door} photo on the desk for {who}: {reply.status}, expected "
                                f"{'the photo' if allowed else 'a refusal'}")
    assert not problems, "\n".join(problems)
