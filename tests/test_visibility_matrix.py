"""Who sees what, door by door (issue 16, DESIGN.md §4, cases/visibility.py): every read route ×
every principal × four kinds of case, built once for the module.

The cases, all placed in block A of street A of the demo district:

| kind     | channel        | public | assigned                         | planted                      |
|----------|----------------|--------|----------------------------------|------------------------------|
| patrol   | patrol_bot     | yes    | leader of block A (fed back)     | coordinator's name, chat id  |
| transfer | transfer_110   | no     | D02, returned, then D07          | caller's name, phone, reason |
| citizen  | citizen_bot    | yes    | leader of block A, returned      | citizen's name, chat id      |
| hotline  | hotline_12345  | yes    | D07 (a hazard: no callback)      | caller's name, phone         |

Each has its own exact location (distinctive 5-decimal renderings) and a photo; the patrol case
also a result photo. A cell fails when a route allows what the audience denies (or the reverse),
or when a planted value reaches a principal whose audience may not see it. A route a principal
has no credentials for (the desk for anonymous, REST for citizens) is theirs as anonymous.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from cases import lifecycle
from cases.intake import intake
from cases.model import Actor, CasePolicy
from tests.bot.conftest import Phone
from tests.matrix import (
    DISTRICT,
    STREET_A,
    Reply,
    World,
    block_a,
    demo_index,
    distinct_points,
    jpeg,
    location_marks,
    open_world,
    staff_principals,
)
from tests.stats.conftest import folded

pytestmark = pytest.mark.asyncio(loop_scope="module")

KINDS = ("patrol", "transfer", "citizen", "hotline")
CHAT_PATROL, CHAT_CITIZEN = 770_001_113, 770_002_227
PHONE_TRANSFER, PHONE_HOTLINE = "13907770002", "13907770001"
NAMES = {"patrol": "Qzpatrol Zhou", "transfer": "Qztransfer Wu", "citizen": "Qzcitizen Chen",
         "hotline": "Qzcaller Sun"}
REASON = "Qzreason police matter"
STAFF = tuple(staff_principals())
NON_STAFF = ("anon", "reporter", "citizen2")
# The bot's users: chat ids of the citizens and of the roster members.
BOT_USERS = {"anon": 770_009_001, "reporter": CHAT_CITIZEN, "citizen2": 770_009_002,
             "leaderA": 770_009_011, "leaderB": 770_009_012, "D07": 770_009_013,
             "D02": 770_009_014}

# The audience per principal and kind (patrol, transfer, citizen, hotline), as the policy says.
NO: str | None = None  # the principal may not know the case exists
AUDIENCE: dict[str, tuple[str | None, ...]] = {
    "anon":     ("public", NO, "public", "public"),
    "reporter": ("public", NO, "reporter", "public"),
    "citizen2": ("public", NO, "public", "public"),
    "leaderA":  ("assignee", NO, "assignee", "public"),  # the citizen case: assigned before
    "leaderB":  ("public", NO, "public", "public"),
    "D07":      ("public", "assignee", "public", "assignee"),
    "D02":      ("public", "assignee", "public", "public"),  # the transfer: assigned before
    "D09":      ("public", NO, "public", "public"),
    "streetA":  ("center", "center", "center", "center"),
    "streetB":  ("public", NO, "public", "public"),
    "district": ("center", "center", "center", "center"),
    "admin":    ("admin", "admin", "admin", "admin"),
}
# Staff lists (REST GET /api/v1/cases): the list scope, by kind initial.
REST_LIST = {"anon": "", "leaderA": "pc", "leaderB": "", "D07": "th", "D02": "t", "D09": "",
             "streetA": "ptch", "streetB": "", "district": "ptch", "admin": "ptch"}
# Desk lists (the queues and the unit page): (must list, may list); nothing else may appear.
# A unit's page lists what is assigned now; what was assigned before may be listed too.
DESK_LIST = {"anon": ("", ""), "leaderA": ("p", "c"), "leaderB": ("", ""), "D07": ("th", ""),
             "D02": ("", "t"), "D09": ("", ""), "streetA": ("ptch", ""), "streetB": ("", ""),
             "district": ("ptch", ""), "admin": ("ptch", "")}
STAFF_SEES = frozenset({"admin", "center", "assignee"})
EVERYONE = frozenset({"admin", "center", "assignee", "reporter", "public"})


def audience(principal: str, kind: str) -> str | None:
    return AUDIENCE[principal][KINDS.index(kind)]


@dataclass
class Secret:
    label: str
    marks: tuple[str, ...]
    seen_by: frozenset[str]  # audiences that may see it


@dataclass
class Built:
    serial: dict[str, str]
    case_id: dict[str, str]
    photos: dict[str, list[tuple[str, bool]]]  # kind → (photo id, public?)
    secrets: dict[str, list[Secret]]
    phones: dict[str, Phone] = field(default_factory=dict)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def world(mongo_uri: str, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[World]:
    async with open_world(mongo_uri, Path(tmp_path_factory.mktemp("visibility"))) as w:
        yield w


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def built(world: World) -> Built:
    db, now = world.db, world.clock.now()
    policy = CasePolicy.from_settings(world.settings)
    block = block_a()
    points = dict(zip(KINDS, distinct_points(block, len(KINDS)), strict=True))
    photo = {k: await world.upload(jpeg(i + 1)) for i, k in enumerate(KINDS)}
    result_photo = await world.upload(jpeg(9))
    center = Actor(role="dispatcher", unit=DISTRICT, name="Center Li")
    leader_a = Actor(role="leader", unit=block, name="Leader A")
    d07, d02 = Actor(role="department", unit="D07", name="D07"), Actor(role="department", unit="D02", name="D02")

    async def take(which: str, **kw: Any) -> dict[str, Any]:
        lon, lat = points[which]
        return (await intake(db, policy=policy, now=now, location={"lon": lon, "lat": lat},
                             photos=[photo[which]], grid=demo_index(), **kw)).case

    cases = {
        "patrol": await take("patrol", channel="patrol_bot", kind="hazard",
                             category="community_sanitation", description="rubbish at the gate",
                             actor={"role": "coordinator", "unit": block, "user_id": CHAT_PATROL,
                                    "chat_id": CHAT_PATROL, "name": NAMES["patrol"], "locale": "en"}),
        "transfer": await take("transfer", channel="transfer_110", kind="complaint",
                               category="illegal_construction", description="a shed on the roof",
                               actor=center, reporter={"name": NAMES["transfer"], "phone": PHONE_TRANSFER}),
        "citizen": await take("citizen", channel="citizen_bot", kind="complaint", category="other",
                              description="noise every night",
                              actor={"role": "citizen", "user_id": CHAT_CITIZEN, "chat_id": CHAT_CITIZEN,
                                     "name": NAMES["citizen"], "locale": "en"}),
        "hotline": await take("hotline", channel="hotline_12345", kind="hazard", category="pollution",
                              description="smoke from a chimney", actor=center,
                              reporter={"name": NAMES["hotline"], "phone": PHONE_HOTLINE}),
    }
    ref = {k: c["_id"] for k, c in cases.items()}
    common: dict[str, Any] = {"db": db, "now": now}
    await lifecycle.dispatch(case_ref=ref["patrol"], actor=center, policy=policy, unit=block, **common)
    await lifecycle.accept(case_ref=ref["patrol"], actor=leader_a, **common)
    await lifecycle.feedback(case_ref=ref["patrol"], actor=leader_a, policy=policy, text="cleared",
                             photos=[result_photo], **common)
    await lifecycle.dispatch(case_ref=ref["transfer"], actor=center, policy=policy, unit="D02", **common)
    await lifecycle.return_case(case_ref=ref["transfer"], actor=d02, policy=policy, reason=REASON, **common)
    await lifecycle.dispatch(case_ref=ref["transfer"], actor=center, policy=policy, unit="D07", **common)
    await lifecycle.accept(case_ref=ref["transfer"], actor=d07, **common)
    await lifecycle.request_extension(case_ref=ref["transfer"], actor=d07, policy=policy,
                                      reason="waiting for the police", hours=24, **common)
    await lifecycle.dispatch(case_ref=ref["citizen"], actor=center, policy=policy, unit=block, **common)
    await lifecycle.return_case(case_ref=ref["citizen"], actor=leader_a, policy=policy,
                                reason="not a block matter", **common)
    await lifecycle.dispatch(case_ref=ref["hotline"], actor=center, policy=policy, unit="D07", **common)
    await lifecycle.accept(case_ref=ref["hotline"], actor=d07, **common)
    await lifecycle.request_extension(case_ref=ref["hotline"], actor=d07, policy=policy,
                                      reason="needs a crane", hours=24, **common)

    contact_callback = frozenset({"admin", "center", "assignee"})
    secrets = {
        "patrol": [Secret("coordinator's name", (NAMES["patrol"],), STAFF_SEES),
                   Secret("chat id", (str(CHAT_PATROL),), frozenset({"admin"})),
                   Secret("location", location_marks(*points["patrol"]), EVERYONE)],
        "transfer": [Secret("caller's name", (NAMES["transfer"],), contact_callback),
                     Secret("caller's phone", (PHONE_TRANSFER,), contact_callback),
                     Secret("return reason", (REASON,), STAFF_SEES),
                     Secret("location", location_marks(*points["transfer"]), STAFF_SEES)],
        "citizen": [Secret("citizen's name", (NAMES["citizen"],), contact_callback | {"reporter"}),
                    Secret("chat id", (str(CHAT_CITIZEN),), frozenset({"admin"})),
                    Secret("location", location_marks(*points["citizen"]), STAFF_SEES | {"reporter"})],
        # a hazard: its assignee does not call the caller back
        "hotline": [Secret("caller's name", (NAMES["hotline"],), frozenset({"admin", "center"})),
                    Secret("caller's phone", (PHONE_HOTLINE,), frozenset({"admin", "center"})),
                    Secret("location", location_marks(*points["hotline"]), STAFF_SEES)],
    }
    out = Built(serial={k: c["serial"] for k, c in cases.items()}, case_id=ref,
                photos={k: [(photo[k], k == "patrol")] for k in KINDS}, secrets=secrets)
    out.photos["patrol"].append((result_photo, True))
    staff = staff_principals()
    for name, user_id in BOT_USERS.items():
        phone = await world.phone(f"Qzuser {name}", user_id=user_id)
        if name in staff:
            await world.bind(phone, staff[name])
        out.phones[name] = phone
    return out


# ---------------------------------------------------------------- judging one response


def leaks(built: Built, principal: str, reply: Reply) -> list[str]:
    """Planted values in the response that this principal's audience may not see."""
    found = []
    for kind in KINDS:
        seen_as = audience(principal, kind)
        for secret in built.secrets[kind]:
            if seen_as not in secret.seen_by and any(m in reply.text for m in secret.marks):
                found.append(f"{kind} case's {secret.label} ({seen_as or 'no'} audience)")
        if principal in NON_STAFF and built.case_id[kind] in reply.text:
            found.append(f"{kind} case's internal id")
    return found


Check = Callable[[World, Built], Awaitable[list[str]]]


def _cell(route: str, principal: str, kind: str) -> str:
    return f"{route} × {principal} × {kind}"


async def _single(world: World, built: Built, route: str, principals: tuple[str, ...],
                  fetch: Callable[[str, str], Awaitable[Reply]],
                  expect: Callable[[str, str], bool | None],
                  allowed: Callable[[Reply, str], bool]) -> list[str]:
    problems = []
    for principal in principals:
        for kind in KINDS:
            reply = await fetch(principal, kind)
            want, got = expect(principal, kind), allowed(reply, kind)
            if want is not None and want != got:
                problems.append(f"{_cell(route, principal, kind)}: expected "
                                f"{'allow' if want else 'deny'}, got {reply.status} "
                                f"({'allowed' if got else 'refused'}) {reply.text[:120]!r}")
            for leak in leaks(built, principal, reply):
                problems.append(f"{_cell(route, principal, kind)}: leaked {leak}")
    return problems


def _denied(reply: Reply) -> bool:
    """A refusal: 401/403/404, or the desk's redirect to sign-in."""
    return reply.status in (401, 403, 404) or (reply.status in (302, 303)
                                               and "/desk/signin" in reply.headers.get("Location", ""))


def _shown(built: Built) -> Callable[[Reply, str], bool]:
    def shown(reply: Reply, kind: str) -> bool:
        if reply.status == 200 and built.serial[kind] in reply.text:
            return True
        assert _denied(reply), f"neither shown nor refused: {reply.status} {reply.text[:300]!r}"
        return False
    return shown


def _may_see(principal: str, kind: str) -> bool:
    return audience(principal, kind) is not None


async def rest_case(world: World, built: Built) -> list[str]:
    return await _single(
        world, built, "REST GET /api/v1/cases/{ref}", ("anon", *STAFF),
        lambda p, k: world.get(f"/api/v1/cases/{built.serial[k]}", who=None if p == "anon" else p),
        lambda p, k: p != "anon" and _may_see(p, k), _shown(built))


def _desk_expects(principal: str, kind: str) -> bool | None:
    """The desk is a work tool: a case a staff user sees only as the public does may be shown
    (the public view) or refused; anything more is for the staff audiences only."""
    if principal == "anon":
        return False
    seen_as = audience(principal, kind)
    return None if seen_as == "public" else seen_as is not None


async def desk_case(world: World, built: Built) -> list[str]:
    return await _single(
        world, built, "desk /desk/cases/{ref}", ("anon", *STAFF),
        lambda p, k: world.desk_get(None if p == "anon" else p, f"/desk/cases/{built.serial[k]}"),
        _desk_expects, _shown(built))


def _photo_rule(principal: str, kind: str, public_photo: bool) -> bool:
    seen_as = audience(principal, kind)
    return seen_as in STAFF_SEES or (seen_as is not None and public_photo)


async def _photos(world: World, built: Built, route: str, principals: tuple[str, ...],
                  fetch: Callable[[str, str], Awaitable[Reply]], *, anon_ok: bool) -> list[str]:
    problems = []
    for principal in principals:
        for kind in KINDS:
            for photo_id, public in built.photos[kind]:
                reply = await fetch(principal, photo_id)
                want = _photo_rule(principal, kind, public) and (anon_ok or principal != "anon")
                got = reply.status == 200 and reply.headers.get("Content-Type", "").startswith("image/")
                if not got and not _denied(reply):
                    problems.append(f"{_cell(route, principal, kind)}: photo answered {reply.status}")
                elif want != got:
                    problems.append(f"{_cell(route, principal, kind)}: {'public ' if public else ''}"
                                    f"photo expected {'allow' if want else 'deny'}, got {reply.status}")
    return problems


async def rest_media(world: World, built: Built) -> list[str]:
    return await _photos(world, built, "REST GET /api/v1/media/{id}", ("anon", *STAFF),
                         lambda p, ph: world.get(f"/api/v1/media/{ph}?size=web",
                                                 who=None if p == "anon" else p), anon_ok=True)


async def desk_media(world: World, built: Built) -> list[str]:
    return await _photos(world, built, "desk /desk/media/{id}", ("anon", *STAFF),
                         lambda p, ph: world.desk_get(None if p == "anon" else p, f"/desk/media/{ph}"),
                         anon_ok=False)


def _public(principal: str, kind: str) -> bool:
    return audience("anon", kind) is not None


async def open311_request(world: World, built: Built) -> list[str]:
    return await _single(world, built, "Open311 GET requests/{id}", ("anon",),
                         lambda p, k: world.get(f"/open311/v2/requests/{built.serial[k]}.json"),
                         _public, _shown(built))


async def portal_lookup(world: World, built: Built) -> list[str]:
    portal = await _single(world, built, "portal GET /api/v1/portal/cases/{serial}", ("anon",),
                           lambda p, k: world.get(f"/api/v1/portal/cases/{built.serial[k]}"),
                           _public, _shown(built))
    lookup = await _single(world, built, "REST GET /api/v1/public/cases/{serial}", ("anon",),
                           lambda p, k: world.get(f"/api/v1/public/cases/{built.serial[k]}"),
                           _public, _shown(built))
    return portal + lookup


def _not_found_text(serial: str) -> str:
    try:
        from gridlink.i18n import t
    except ImportError:  # before the catalog moved out of bot/
        from gridlink.i18n import t
    return t("status.not_found", "en", serial=serial)


async def bot_lookup(world: World, built: Built) -> list[str]:
    async def ask(principal: str, kind: str) -> Reply:
        phone = built.phones[principal]
        await phone.send(built.serial[kind])
        return Reply(200, str((await phone.reply())["text"]))

    def shown(reply: Reply, kind: str) -> bool:
        return reply.text.strip() != _not_found_text(built.serial[kind]).strip()

    return await _single(world, built, "bot serial lookup", tuple(BOT_USERS), ask, _may_see, shown)


# ---------------------------------------------------------------- lists


async def _list(built: Built, route: str, principal: str, reply: Reply, must: str, may: str = ""
                ) -> list[str]:
    problems = [f"{route} × {principal}: leaked {leak}" for leak in leaks(built, principal, reply)]
    for kind in KINDS:
        listed = built.serial[kind] in reply.text
        if kind[0] in must and not listed:
            problems.append(f"{_cell(route, principal, kind)}: expected listed, is not "
                            f"(answer {reply.status})")
        elif kind[0] not in must + may and listed:
            problems.append(f"{_cell(route, principal, kind)}: listed but must not be")
    return problems


async def rest_list(world: World, built: Built) -> list[str]:
    problems = []
    for principal, must in REST_LIST.items():
        reply = await world.get("/api/v1/cases?limit=200", who=None if principal == "anon" else principal)
        problems += await _list(built, "REST GET /api/v1/cases", principal, reply, must)
    return problems


async def desk_lists(world: World, built: Built) -> list[str]:
    problems = []
    paths = [f"/desk/queues/{q}" for q in ("new", "returned", "extensions", "verification", "red")]
    for principal, (must, may) in DESK_LIST.items():
        who = None if principal == "anon" else principal
        pages = [await world.desk_get(who, p) for p in [*paths, "/desk/unit"]]
        text = "\n".join(p.text for p in pages if p.status == 200)
        problems += await _list(built, "desk queues + unit page", principal, Reply(200, text), must, may)
    return problems


async def open311_list(world: World, built: Built) -> list[str]:
    reply = await world.get("/open311/v2/requests.json")
    return await _list(built, "Open311 GET requests", "anon", reply, "pch")


async def _fold(world: World) -> None:
    """The statistics pages read folded lists: fold every change logged so far."""
    await folded(world.db, now=world.clock.now())


async def stats_map(world: World, built: Built) -> list[str]:
    await _fold(world)
    reply = await world.get(f"/api/v1/stats/map?street={STREET_A}")
    return await _list(built, "stats GET /api/v1/stats/map", "anon", reply, "p", "ch")


async def stats_board(world: World, built: Built) -> list[str]:
    await _fold(world)
    reply = await world.get(f"/api/v1/stats/board?unit={block_a()}")
    return await _list(built, "stats GET /api/v1/stats/board?unit=<block>", "anon", reply, "p", "ch")


ROUTES: dict[str, Check] = {
    "rest_case": rest_case, "rest_list": rest_list, "rest_media": rest_media,
    "desk_case": desk_case, "desk_lists": desk_lists, "desk_media": desk_media,
    "open311_request": open311_request, "open311_list": open311_list,
    "portal_lookup": portal_lookup, "stats_map": stats_map, "stats_board": stats_board,
    "bot_lookup": bot_lookup,
}


@pytest.mark.parametrize("route", list(ROUTES))
async def test_route_shows_each_principal_what_the_policy_allows(world: World, built: Built,
                                                                 route: str) -> None:
    problems = await ROUTES[route](world, built)
    assert not problems, f"{len(problems)} cell(s) wrong:\n" + "\n".join(problems)
