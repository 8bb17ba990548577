"""`gridlink demo`'s living district: desk accounts, chat users bound to their roles, cases in
every state and a month of history, and a printed "try this" walk through it all.

Everything goes through the domain (staff accounts, roster bindings, `cases.intake.intake` and
`cases.lifecycle` transitions at chosen past moments), so the seeded cases carry the same
history, events and statistics as real ones. It is idempotent across restarts: the cases and
the history are seeded once (a marker in `demo_seed`), accounts and bindings are kept, each
start gives every desk account a fresh password, and the citizen always has a case waiting
for verification to rate at the end of the walk.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from shapely.geometry import shape

from api.desk.i18n import t as desk_t
from cases import lifecycle
from cases.intake import intake
from cases.model import Actor, CasePolicy
from gridlink.clock import Clock, SystemClock
from gridlink.db import Database
from gridlink.errors import DomainError
from gridlink.i18n import t as chat_t
from gridlink.settings import Settings
from grids import repository as grids_repo
from grids.live import LiveGridIndex
from staff import passwords
from staff import repository as staff_repo
from staff import service as staff_service
from staff.model import ROLES, UNIT_LEVELS

log = logging.getLogger("gridlink.demo")
SEED_ID = "seed-1"  # bump to seed a changed demo into a database seeded by an older one
MONTH_CASES = 1500  # a month of synthetic history: enough for boards, hotspots and the assessment
# Synthetic cases older than this are mostly closed: the center's queues keep room for the walk's.
SETTLED_DAYS = 3.0
CHAT_USERS_FILE = Path("demo") / "chat_users.json"  # under DATA_DIR; `gridlink sandbox --users`
DEPARTMENT = "D07"  # roads (道路破损): the department the demo's handler works for


@dataclass(frozen=True)
class Units:
    """The places the demo's people work: one street, one of its workstations and blocks."""

    district: str
    street: str
    station: str
    block: str  # the leader's and coordinator's block: the walk happens here
    neighbours: list[str]  # other blocks of the station: the boards get some spread
    department: str
    names: dict[str, tuple[str, str]]  # code → (zh, en)
    points: dict[str, tuple[float, float]]  # block → a point inside it (lon, lat)

    def name(self, code: str, locale: str) -> str:
        zh, en = self.names.get(code, (code, code))
        return en if locale == "en" else zh


@dataclass(frozen=True)
class ChatUser:
    id: int
    role: str  # roster role, or "citizen" (not bound)
    name: str
    unit: str | None


@dataclass
class DemoSeed:
    units: Units
    accounts: list[tuple[str, str, str, str]] = field(default_factory=list)  # role, user, password, unit
    chat_users: list[ChatUser] = field(default_factory=list)
    seeded_now: bool = False
    history: dict[str, Any] = field(default_factory=dict)
    citizen_case: str = ""  # serial of the citizen's complaint waiting for verification
    counts: dict[str, int] = field(default_factory=dict)  # cases by state
    now: datetime | None = None  # the seed's clock reading


# Chat users' ids: fixed, so a restart's sandbox (in memory) meets the roster the database kept.
COORDINATOR, LEADER, HANDLER, STATION_HEAD, CITIZEN = 7_100_001, 7_100_002, 7_100_003, 7_100_004, 7_100_005


def chat_users(units: Units) -> list[ChatUser]:
    return [
        ChatUser(COORDINATOR, "coordinator", "王伟", units.block),
        ChatUser(LEADER, "leader", "李芳", units.block),
        ChatUser(HANDLER, "department", "张强", units.department),
        ChatUser(STATION_HEAD, "station_head", "刘敏", units.station),
        ChatUser(CITIZEN, "citizen", "陈静", None),
    ]


# (username, role, which unit, name)
STAFF: tuple[tuple[str, str, Callable[[Units], str], str], ...] = (
    ("admin", "admin", lambda u: u.district, "演示管理员"),
    ("center", "dispatcher", lambda u: u.district, "中心调度 赵磊"),
    ("street", "dispatcher", lambda u: u.street, "街道分中心 孙杰"),
    ("department", "department", lambda u: u.department, "道路中队 周涛"),
    ("leader", "leader", lambda u: u.block, "块长 李芳"),
    ("station", "station_head", lambda u: u.station, "站长 刘敏"),
)


def new_password() -> str:
    return secrets.token_urlsafe(9)  # 12 characters (passwords.MIN_LENGTH is 10)


# --- the places ------------------------------------------------------------------------------

async def pick_units(db: Database, *, district: str) -> Units:
    """The first street, its first workstation and that station's first blocks (of whatever grid
    is active: the demo district or an imported one)."""
    _, streets = await grids_repo.list_units(db, level="street", limit=1)
    _, stations = await grids_repo.list_units(db, level="workstation", parent=streets[0]["code"], limit=1)
    _, blocks = await grids_repo.list_units(db, level="community_block", parent=stations[0]["code"], limit=4)
    _, departments = await grids_repo.list_units(db, level="department", limit=100)
    dept = next((d["code"] for d in departments if d["code"] == DEPARTMENT),
                departments[0]["code"] if departments else DEPARTMENT)
    geo = await grids_repo.find_units(db, codes=[b["code"] for b in blocks], geometry=True)
    points = {}
    for unit in geo:
        p = shape(unit["geometry"]).representative_point()
        points[unit["code"]] = (round(p.x, 6), round(p.y, 6))
    _, top = await grids_repo.list_units(db, level="district", limit=1)
    named = [*top, *streets, *stations, *blocks, *departments]
    names = {u["code"]: (u.get("name_zh") or u["code"], u.get("name_en") or u.get("name_zh") or u["code"])
             for u in named}
    return Units(district=district, street=streets[0]["code"], station=stations[0]["code"],
                 block=blocks[0]["code"], neighbours=[b["code"] for b in blocks[1:]],
                 department=dept, names=names, points=points)


# --- accounts and bindings -------------------------------------------------------------------

def staff_accounts() -> list[tuple[str, str, Callable[[Units], str], str]]:
    """STAFF, plus one account for any desk role added since (its unit by the role's level)."""
    by_level: dict[str, Callable[[Units], str]] = {
        "district": lambda u: u.district, "street": lambda u: u.street, "workstation": lambda u: u.station,
        "department": lambda u: u.department, "community_block": lambda u: u.block}
    known = {role for _, role, _, _ in STAFF}
    extra = [(role.replace("_", "-"), role, by_level[level], role)
             for role in ROLES if role not in known
             for level in UNIT_LEVELS.get(role, ())[:1] if level in by_level]
    return [*STAFF, *extra]


async def ensure_accounts(db: Database, units: Units, *, now: datetime) -> list[tuple[str, str, str, str]]:
    """Each desk role's account, created once; a fresh password (and no lock) at every start."""
    out = []
    for username, role, unit_of, name in staff_accounts():
        unit, password = unit_of(units), new_password()
        found = await staff_repo.account_by_username(db, username=username)
        if found is None:
            await staff_service.create_account(db, username=username, password=password, role=role,
                                               unit=unit, name=name, district=units.district, now=now)
        else:
            hashed = await asyncio.to_thread(passwords.hash_password, password)
            await staff_repo.set_account(db, staff_id=found["_id"],
                                         fields={"password_hash": hashed, "disabled": False})
            await staff_repo.set_lockout(db, username=username, until=None, reset_at=now)
            role, unit = found["role"], found["unit"]
        out.append((role, username, password, unit))
    return out


async def ensure_bindings(db: Database, users: list[ChatUser], *, locale: str, now: datetime) -> None:
    for user in users:
        if user.unit is None:
            continue
        if await grids_repo.membership(db, user_id=user.id) is None:
            await grids_repo.bind(db, user_id=user.id, chat_id=user.id, role=user.role, unit=user.unit,
                                  name=user.name, locale=locale, now=now)


# --- cases -----------------------------------------------------------------------------------

class _Timeline:
    """An injected clock for one case's story: each step a little after the one before."""

    def __init__(self, start: datetime) -> None:
        self.at = start

    def __call__(self, **step: float) -> datetime:
        self.at += timedelta(**step)
        return self.at


async def seed_cases(db: Database, units: Units, *, policy: CasePolicy, grid: LiveGridIndex,
                     now: datetime, locale: str) -> None:
    """A few cases in every state, told through the lifecycle at moments in the past."""
    center = Actor(role="dispatcher", unit=units.district, name="中心调度 赵磊")
    leader = {"role": "leader", "unit": units.block, "user_id": LEADER, "chat_id": LEADER, "name": "李芳"}
    dept = Actor(role="department", unit=units.department, name="道路中队 周涛")
    coordinator = {"role": "coordinator", "unit": units.block, "user_id": COORDINATOR,
                   "chat_id": COORDINATOR, "name": "王伟", "locale": locale}
    blocks = [units.block, *units.neighbours] or [units.block]

    def where(i: int) -> dict[str, float]:
        lon, lat = units.points[blocks[i % len(blocks)]]
        return {"lon": lon, "lat": lat}

    async def open_case(key: str, at: datetime, *, i: int, category: str, text: str,
                        channel: str = "patrol_bot", kind: str = "hazard",
                        actor: Any = None) -> dict[str, Any]:
        loc = where(i)
        result = await intake(db, policy=policy, now=at, channel=channel, kind=kind, category=category,
                              description=text, actor=actor or coordinator, location=loc, grid=grid,
                              idempotency_key=f"demo:{key}")
        return result.case

    async def dispatched(key: str, age: timedelta, **kw: Any) -> tuple[dict[str, Any], _Timeline]:
        clock = _Timeline(now - age)
        case = await open_case(key, clock.at, **kw)
        case = await lifecycle.dispatch(db, case_ref=case["_id"], actor=center, now=clock(minutes=12),
                                        policy=policy)
        return case, clock

    def handler_of(case: dict[str, Any]) -> Any:
        unit = case["assignee"]["unit"]
        return Actor(role="department", unit=unit, name=dept.name) if case["assignee"]["kind"] == "department" \
            else {**leader, "unit": unit}

    # reported: one just in, one waiting past its dispatch time (red on the desk)
    await open_case("reported-1", now - timedelta(minutes=4), i=1, category="exposed_garbage",
                    text="垃圾桶满溢，垃圾散落路边")
    await open_case("reported-2", now - timedelta(hours=3), i=2, category="street_light",
                    text="路灯不亮，夜间行人看不清")
    # dispatched: fresh, and one long past its deadline (red on the boards)
    # (not at the coordinator's own point: the walk's report there must not meet a duplicate)
    into, _ = await dispatched("dispatched-1", timedelta(hours=1), i=1, category="community_sanitation",
                               text="楼道堆放杂物，影响通行")
    await dispatched("dispatched-2", timedelta(days=6), i=3, category="illegal_ads",
                     text="外墙乱张贴小广告")
    # in progress: the leader's, the department's (with an extension request waiting), a late one
    case, clock = await dispatched("progress-1", timedelta(hours=5), i=0, category="property_repair",
                                   text="单元门禁损坏，无法关闭")
    await lifecycle.accept(db, case_ref=case["_id"], actor=handler_of(case), now=clock(minutes=30))
    case, clock = await dispatched("progress-2", timedelta(days=2), i=1, category="road_damage",
                                   text="人行道地砖松动，雨天溅水")
    await lifecycle.accept(db, case_ref=case["_id"], actor=handler_of(case), now=clock(hours=1))
    await lifecycle.request_extension(db, case_ref=case["_id"], actor=handler_of(case), now=clock(hours=3),
                                      policy=policy, reason="需等待材料到货", working_days=3)
    case, clock = await dispatched("progress-3", timedelta(days=8), i=2, category="group_renting",
                                   text="疑似群租，夜间人员进出频繁")
    await lifecycle.accept(db, case_ref=case["_id"], actor=handler_of(case), now=clock(hours=2))
    # awaiting verification: the department's result (the citizen's comes from ensure_citizen_case)
    case, clock = await dispatched("verify-1", timedelta(days=1), i=2, category="municipal_facilities",
                                   text="护栏倾斜，存在安全隐患")
    await lifecycle.accept(db, case_ref=case["_id"], actor=handler_of(case), now=clock(hours=1))
    await lifecycle.feedback(db, case_ref=case["_id"], actor=handler_of(case), now=clock(hours=4),
                             policy=policy, text="护栏已扶正加固")
    # returned: the department says it is not theirs
    case, clock = await dispatched("returned-1", timedelta(hours=6), i=3, category="greenery_damage",
                                   text="行道树枝条折断悬挂")
    await lifecycle.return_case(db, case_ref=case["_id"], actor=Actor(role="department", unit=case["assignee"]["unit"],
                                                                      name="绿化中队"),
                                now=clock(hours=1), policy=policy, reason="属物业管理范围，非市政绿化")
    # closed: on time and rated by the citizen who called, and one closed without a rating
    for n, (category, text, score) in enumerate((("neighbour_dispute", "楼上漏水引发邻里纠纷", 5),
                                                 ("exposed_garbage", "绿地内暴露垃圾", None))):
        case, clock = await dispatched(f"closed-{n}", timedelta(days=3 + n), i=n,
                                       category=category, text=text, channel="hotline_12345",
                                       kind="complaint", actor=center)
        await lifecycle.accept(db, case_ref=case["_id"], actor=handler_of(case), now=clock(hours=1))
        await lifecycle.feedback(db, case_ref=case["_id"], actor=handler_of(case), now=clock(hours=5),
                                 policy=policy, text="已现场处理完毕")
        await lifecycle.verify(db, case_ref=case["_id"], actor=center, now=clock(hours=2), policy=policy,
                               ok=True, callback="来电人确认已解决")
        if score:
            await lifecycle.rate(db, case_ref=case["_id"], actor=center, now=clock(hours=1), score=score)
    # merged: a second report of the open dispatched case
    dup = await open_case("merged-1", now - timedelta(minutes=40), i=1, category="community_sanitation",
                          text="楼道杂物堆积（重复反映）", channel="hotline_12345", kind="complaint",
                          actor=center)
    await lifecycle.merge(db, duplicate_ref=dup["_id"], into_ref=into["_id"], actor=center,
                          now=now - timedelta(minutes=30))


async def ensure_citizen_case(db: Database, units: Units, *, policy: CasePolicy, grid: LiveGridIndex,
                              now: datetime, locale: str) -> str:
    """The citizen's complaint, handled by the block leader and waiting for the center's
    verification (the walk's last steps); a new one when the last was used up."""
    waiting = await db.cases.find_one({"reporter.user_id": CITIZEN, "state": "awaiting_verification"},
                                      {"serial": 1})
    if waiting is not None:
        return str(waiting["serial"])
    citizen = {"role": "citizen", "user_id": CITIZEN, "chat_id": CITIZEN, "name": "陈静", "locale": locale}
    leader = {"role": "leader", "unit": units.block, "user_id": LEADER, "chat_id": LEADER, "name": "李芳"}
    center = Actor(role="dispatcher", unit=units.district, name="中心调度 赵磊")
    clock = _Timeline(now - timedelta(hours=6))
    lon, lat = units.points[units.block]
    case = (await intake(db, policy=policy, now=clock.at, channel="citizen_bot", kind="complaint",
                         category="property_repair", description="楼道灯坏了好几天，晚上上下楼看不见",
                         actor=citizen, location={"lon": lon, "lat": lat}, grid=grid,
                         idempotency_key=f"demo:citizen:{now.isoformat()}")).case
    case = await lifecycle.dispatch(db, case_ref=case["_id"], actor=center, now=clock(minutes=10),
                                    policy=policy, unit=units.block, unit_kind="block")
    await lifecycle.accept(db, case_ref=case["_id"], actor=leader, now=clock(minutes=40))
    await lifecycle.feedback(db, case_ref=case["_id"], actor=leader, now=clock(hours=3), policy=policy,
                             text="已联系物业更换楼道灯，各层已恢复照明")
    return str(case["serial"])


async def seed_history(db: Database, *, settings: Settings, now: datetime) -> dict[str, Any]:
    """A month of synthetic cases (stats.history's generator, the seed's mix) and the rollups."""
    from stats.history import insert_history

    # ids and serials of their own ("m…", "AM20261103-00001"): a later `--history` run inserts
    # `gridlink history`'s ("h…") beside them. It ends two days ago: the worker's first look
    # for changes without events goes one day back, and synthetic cases must not page anyone.
    return await insert_history(db, MONTH_CASES, now=now - timedelta(days=2), district=settings.district_code,
                                prefix=settings.serial_prefix, tz=settings.tz, years=1 / 12, tag="m",
                                settled_days=SETTLED_DAYS)


# --- the whole step --------------------------------------------------------------------------

async def seed(db: Database, settings: Settings, *, clock: Clock) -> DemoSeed:
    now = clock.now()
    locale = settings.default_locale
    policy = CasePolicy.from_settings(settings)
    units = await pick_units(db, district=settings.district_code)
    # Made-up chat users exist only in the sandbox: with a real bot their ids are strangers'.
    result = DemoSeed(units=units, chat_users=chat_users(units) if settings.sandbox else [], now=now)
    result.accounts = await ensure_accounts(db, units, now=now)
    await ensure_bindings(db, result.chat_users, locale=locale, now=now)
    grid = LiveGridIndex(tolerance_m=settings.grid_snap_tolerance_m)
    await grid.refresh(db, force=True)
    if await db.demo_seed.find_one({"_id": SEED_ID}) is None:
        if await db.cases.find_one({"_id": "m000000000"}, {"_id": 1}) is None:  # not by a start cut short
            result.history = await seed_history(db, settings=settings, now=now)
        try:
            await seed_cases(db, units, policy=policy, grid=grid, now=now, locale=locale)
        except DomainError as exc:  # a start cut short told part of it: the rest stays untold
            log.warning("demo cases seeded in part", extra={"error": exc.message})
        await db.demo_seed.insert_one({"_id": SEED_ID, "at": now})
        result.seeded_now = True
    if settings.sandbox:
        result.citizen_case = await ensure_citizen_case(db, units, policy=policy, grid=grid, now=now,
                                                        locale=locale)
    for state in ("reported", "dispatched", "in_progress", "awaiting_verification", "returned",
                  "closed", "merged"):
        result.counts[state] = await db.cases.count_documents({"state": state, "synthetic": {"$ne": True}})
    return result


def write_chat_users(settings: Settings, found: DemoSeed) -> Path:
    """The sandbox's users (`gridlink sandbox --users FILE`): the roster's people, by id."""
    lang = "en" if settings.default_locale == "en" else "zh-hans"
    units = found.units
    rows = []
    for user in found.chat_users:
        where = units.name(user.unit, "zh") if user.unit else ""
        rows.append({
            "id": user.id, "first_name": user.name, "language_code": lang,
            "role": user.role,
            "note": f"{chat_t(f'role.{user.role}', 'zh-CN')} · {where}".rstrip(" ·") if user.unit
            else chat_t("role.citizen", "zh-CN"),
            "home": ({"latitude": units.points[units.block][1], "longitude": units.points[units.block][0]}
                     if user.role in ("coordinator", "citizen") else None),
        })
    path = Path(settings.data_dir) / CHAT_USERS_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(rows, ensure_ascii=False, indent=1))
    return path


def both(key: str, catalog: Callable[[str, str], str] = chat_t) -> str:
    """「中文 / English」: a button or page label as it shows in either language."""
    return f"「{catalog(key, 'zh-CN')} / {catalog(key, 'en')}」"


def render(settings: Settings, found: DemoSeed) -> str:
    base = f"http://{settings.http_host}:{settings.http_port}"
    chat = f"http://{settings.http_host}:{settings.sandbox_port}/"
    units = found.units
    desk = lambda key: both(key, desk_t)  # noqa: E731
    role_names = {"admin": "administrator 管理员", "dispatcher": "center dispatcher 调度",
                  "department": "department 职能部门", "leader": "block leader 块长",
                  "station_head": "station head 工作站站长"}
    lines = ["", f"demo desk accounts at {base}/desk/ (new passwords at every start):"]
    for role, username, password, unit in found.accounts:
        lines.append(f"  user {username:<11} password {password}   {role_names.get(role, role)}, "
                     f"{units.name(unit, 'zh')} / {units.name(unit, 'en')}")
    if found.seeded_now:
        lines += ["", f"demo cases seeded: {found.counts}; history: {found.history.get('inserted', 0)} "
                  "cases over the last month"]
    if not found.chat_users:  # a real bot: the walk needs the sandbox's made-up people
        return "\n".join([*lines, "", "TELEGRAM_BOT_TOKEN is set: no demo chat users; unset it for the "
                           "sandbox and the try-this walk.", ""])
    lines += ["", "demo chat users, bound to their roles (pick one at the top of the chat page):"]
    for user in found.chat_users:
        where = f"{units.name(user.unit, 'zh')} ({user.unit})" if user.unit else ""
        lines.append(f"  {user.id}  {user.name}  {chat_t(f'role.{user.role}', 'en')} {where}".rstrip())
    block = f"{units.name(units.block, 'zh')} / {units.name(units.block, 'en')}"
    # the history is the last month: early in a month, the pages' default (this month) shows little
    today = (found.now or datetime.now(settings.tz)).astimezone(settings.tz).date()
    month_ago = today - timedelta(days=30)
    period = f"?period={month_ago:%Y-%m}" if today.day < 15 else ""
    lines += [
        "",
        "try this (about five minutes):",
        f"  1. Chat page {chat} · act as 王伟 (coordinator): press “sample photo”, then "
        f"{both('report.location_button')} (the point is in {block}), pick "
        f"「小区环境卫生 / Residential area sanitation」, {both('btn.skip')}, {both('btn.confirm')}: "
        "the bot answers with the case's serial number.",
        f"  2. Desk {base}/desk/ · sign in as center: {desk('nav.new')} → the new case (unit {units.block} "
        f"already proposed) → {desk('a.dispatch')}.",
        f"  3. Chat page · act as 李芳 (block leader): the assignment with your serial has arrived → {both('btn.accept')}, "
        f"then {both('btn.done')} → send a photo (“sample photo”), a note, {both('btn.confirm')}.",
        f"  4. Desk · {desk('nav.verification')} → your case → {desk('a.pass')}; and the same for "
        f"{found.citizen_case}, the citizen 陈静's complaint the block leader has just finished.",
        "  5. Chat page · act as 陈静 (citizen): the bot says her case is closed → tap ⭐⭐⭐⭐⭐ "
        "(or reply 5).",
        f"  6. Desk · sign in as station: {desk('nav.station')} → every block of "
        f"{units.name(units.station, 'zh')} / {units.name(units.station, 'en')} by colour, its leader "
        "and coordinators, the cases waiting longest (read-only).",
        f"  7. See it counted: {base}/board  {base}/hotspots?from={month_ago}  {base}/map  "
        f"{base}/assessment{period}  {base}/portal (look up {found.citizen_case}).",
        "",
    ]
    return "\n".join(lines)


async def _run(settings: Settings, uri: str) -> DemoSeed:
    from gridlink.schema import open_database

    async with open_database(uri, settings) as db:
        return await seed(db, settings, clock=SystemClock())


def demo_step(settings: Settings, uri: str) -> None:
    """`gridlink demo`'s DEMO_STEP (after the grid's): seed, write the sandbox's users, print."""
    found = asyncio.run(_run(settings, uri))
    write_chat_users(settings, found)
    print(render(settings, found), flush=True)


def sandbox_args(settings: Settings) -> list[str]:
    """`gridlink sandbox`'s arguments in `gridlink demo`: the demo's chat users."""
    path = Path(settings.data_dir) / CHAT_USERS_FILE
    return ["--users", str(path)] if path.exists() else []
