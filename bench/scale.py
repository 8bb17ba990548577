"""Every screen and list at a district's full year: 10,000 vs 1,000,000 historical cases.

Run: .venv/bin/python bench/scale.py --sizes 10000,1000000 [--rounds 40]
     [--data-dir DIR [--reuse]] [--profile "desk case page"]

`--data-dir` keeps the server's files there (else a temporary directory); with `--reuse` a
size already loaded there by the same schema and lists version (`cases.schema.SCHEMA_VERSION`,
`cases.lists.LISTS_VERSION`) is not loaded again (1,000,000 cases take ~26 min to load).
Both databases also carry the same live work, planted once through the real workflow (intake,
dispatch, accept, return, extension, feedback, verify, rating): LIVE cases in each desk queue
the history leaves empty or short at 10,000 (new, returned, extensions, verification,
low ratings), the extensions' cases open at the handler's unit. So each queue page renders a
full page at both sizes and the ratio compares the cost of the same page, not of 21 rows
against 50.
`--profile NAME` prints a cProfile of that endpoint's calls (server and client share the
process) after the table. Each endpoint is called once, untimed, before the rounds (a
template's first render compiles it).

One embedded server; each size in its own database, loaded with `stats.history.generate`
(the seed's mix, over one year) in `insert_many` batches of 2,000 with the lists' keys
(`cases.lists`), as `gridlink demo --history N` loads them. Then every endpoint is timed
round-robin across the sizes in one run, through the real app over loopback HTTP: the desk
signed in (queues, navigation counts included in every page, a case page, a unit's page), the
staff API list with each filter and its second page, Open311 `GET requests`, the public
lookup, and the bot's `/mine` and `/status <serial>` as Telegram updates POSTed to the real
webhook (exactly-once claim, PTB, the replies sent to the local Bot API sandbox, done mark),
from chat users bound to the case's unit and to the district. p50/p95 in ms and
p95(largest)/p95(smallest).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import ClientSession, CookieJar
from aiohttp.test_utils import TestServer
from argon2 import PasswordHasher

from api.keys import PTB_APP
from cases import lifecycle, lists
from cases.intake import intake
from cases.model import Actor, CasePolicy
from cases.repository import OLDEST_HOUR
from cases.schema import SCHEMA_VERSION
from gridlink import auth
from gridlink.app import create_app
from gridlink.clock import FakeClock
from gridlink.db import make_client
from gridlink.embedded import EmbeddedServer
from gridlink.schema import ensure_indexes
from gridlink.settings import load_settings
from grids import repository as grids_repo
from grids.demo import demo_feature_collection
from grids.importer import parse_grid
from sandbox.app import DEFAULT_TOKEN, create_sandbox_app
from staff import passwords, service
from stats.history import generate

PASSWORD = "bench password 123"
BATCH = 2000
LOADED = "bench:loaded"  # counters document: what was loaded, by which schema and lists version
PLANTED = "bench:planted"  # counters document: the live work is in (planted once per database)
LIVE = 60  # cases planted in each desk queue, the same at every size (a queue page shows 50)


async def plant(db: Any, *, unit: str, now: Any, district: str = "310101") -> None:
    """The same live work at every size (see the module's docstring), through the workflow."""
    if await db.counters.find_one({"_id": PLANTED}):
        return
    policy = CasePolicy(district=district)
    center = Actor(role="dispatcher", unit=district, name="bench centre")
    handler = Actor(role="department" if unit.startswith("D") else "leader", unit=unit, name="bench handler")
    made = 0

    async def case(steps: int) -> None:
        nonlocal made
        made += 1
        # spread over the last month (~0.4 cases an hour, a tenth of the 10k history's rate
        # added to it): the lists' walks meet them as they meet the history
        at = now - timedelta(minutes=144 * made)
        citizen = {"role": "citizen", "user_id": 880000 + made, "chat_id": 880000 + made,
                   "name": "bench citizen", "locale": "en"}
        ref = (await intake(db, policy=policy, now=at, channel="citizen_bot", kind="complaint",
                            category="other", description=f"bench live case {made}", actor=citizen,
                            update_id=7_000_000 + made)).case["_id"]
        if steps == 0:
            return
        await lifecycle.dispatch(db, case_ref=ref, actor=center, now=at, policy=policy, unit=unit)
        if steps == 1:
            await lifecycle.return_case(db, case_ref=ref, actor=handler, now=at, policy=policy,
                                        reason="not ours")
            return
        await lifecycle.accept(db, case_ref=ref, actor=handler, now=at)
        if steps == 2:
            await lifecycle.request_extension(db, case_ref=ref, actor=handler, now=at, policy=policy,
                                              reason="parts on order", working_days=3)
            return
        await lifecycle.feedback(db, case_ref=ref, actor=handler, now=at, policy=policy, text="done")
        if steps == 3:
            return
        await lifecycle.verify(db, case_ref=ref, actor=center, now=at, policy=policy, ok=True)
        await lifecycle.rate(db, case_ref=ref, actor=citizen, now=at, score=1)

    # new, returned, extensions (open at the unit), verification, low ratings
    for _ in range(LIVE):
        for steps in range(5):
            await case(steps)
    await db.counters.insert_one({"_id": PLANTED, "cases": made})


async def load(db: Any, n: int, now: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    docs: list[dict[str, Any]] = []
    sample: dict[str, Any] = {}
    first = True
    for doc in generate(n, now=now, years=1.0):
        if first:
            await db.counters.insert_one({"_id": OLDEST_HOUR, "hour": doc["created_hour"]})
            first = False
        docs.append(doc)
        if doc["state"] == "in_progress" and (doc.get("assignee") or {}).get("kind") == "department":
            sample["red"] = doc  # the last one: a recent open case of a department, whose members
            # (the desk's unit page, the bot's /mine) have the most open cases at any size
        if doc["public"] and doc["state"] == "closed":
            sample["public"] = doc
        if len(docs) >= BATCH:
            await db.cases.insert_many(docs, ordered=False)
            await lists.add_keys(db, docs, now)
            docs = []
    if docs:
        await db.cases.insert_many(docs, ordered=False)
        await lists.add_keys(db, docs, now)
    sample["load_s"] = time.perf_counter() - t0
    return sample


def version() -> dict[str, int]:
    return {"schema": SCHEMA_VERSION, "lists": lists.LISTS_VERSION}


async def main(sizes: list[int], rounds: int, data_dir: Path | None = None, reuse: bool = False,
               profile: str | None = None) -> None:
    clock = FakeClock()
    now = clock.now()
    passwords.use_hasher(PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = str(data_dir) if data_dir else tmp_dir
        server = EmbeddedServer(Path(tmp))
        server.start()
        apps: dict[int, tuple[TestServer, ClientSession, dict[str, str], dict[str, Any], Any]] = {}
        sandbox = TestServer(create_sandbox_app(bot_token=DEFAULT_TOKEN), host="127.0.0.1")
        await sandbox.start_server()
        sandbox_url = str(sandbox.make_url("")).rstrip("/")
        try:
            for n in sizes:
                settings = load_settings(mongodb_uri=server.uri, mongodb_db=f"scale_{n}",
                                         data_dir=Path(tmp), telegram_bot_token=None,
                                         telegram_api_url=sandbox_url, webhook_secret="bench",
                                         rate_limit_read_requests=1_000_000)
                client = make_client(server.uri, settings)
                db = client[settings.mongodb_db]
                mark = await db.counters.find_one({"_id": LOADED}) if reuse else None
                if mark is not None and mark.get("version") == version():
                    sample = dict(mark["sample"])
                    print(f"reused {n:,} cases loaded in {sample['load_s']:.0f} s", flush=True)
                    unit = sample["red"]["assignee"]["unit"]
                else:
                    if mark is not None or (reuse and await db.cases.find_one({}, {"_id": 1})):
                        print(f"{n:,}: loaded by another version; loading again", flush=True)
                        await client.drop_database(settings.mongodb_db)
                    await ensure_indexes(db)
                    # Loaded by a client that waits as long as a batch takes (on a busy machine
                    # a batch outlasted the default socket timeout).
                    loader = make_client(server.uri, settings.model_copy(update={"mongodb_socket_timeout_ms": 0}))
                    await grids_repo.install_grid(db, grid=parse_grid(demo_feature_collection(),
                                                                      district_code="310101"),
                                                  source="bench", now=now)
                    sample = await load(loader[settings.mongodb_db], n, now)
                    print(f"loaded {n:,} cases in {sample['load_s']:.0f} s", flush=True)
                    unit = sample["red"]["assignee"]["unit"]
                    await db.counters.replace_one({"_id": LOADED}, {"version": version(), "sample": sample},
                                                  upsert=True)
                await ensure_indexes(db)
                t0 = time.perf_counter()
                await plant(db, unit=unit, now=now)
                print(f"{n:,}: live work in place ({time.perf_counter() - t0:.0f} s)", flush=True)
                # This run's own accounts (a reused database keeps earlier runs' sessions and
                # sign-ins, at the same fake time).
                run = f"{int(time.time() * 100)}"
                await service.create_account(db, username=f"center{run}", password=PASSWORD,
                                             role="dispatcher", unit="310101", name="bench",
                                             district="310101", now=now)
                await service.create_account(db, username=f"handler{run}", password=PASSWORD,
                                             role="department" if unit.startswith("D") else "leader",
                                             unit=unit, name="bench", district="310101", now=now)
                # What the desk's lists hold at this size (a queue page renders up to 50 rows).
                held = await lists.counts(db, unit="310101")
                held["new"] = await lists.waiting_count(db, queue="new", unit="310101")
                print(f"{n:,}: the district's lists hold {dict(sorted(held.items()))} "
                      f"(red before the clock moves; 'new' capped at {lists.COUNT_CAP})", flush=True)
                token = await auth.create_token(db, role="dispatcher", unit="310101",
                                                district="310101", name="bench", now=now)
                web = TestServer(create_app(settings, mongo_uri=server.uri, clock=clock))
                await web.start_server()
                http = ClientSession(base_url=str(web.make_url("")).rstrip("/"),
                                     cookie_jar=CookieJar(unsafe=True))
                handler = ClientSession(base_url=str(web.make_url("")).rstrip("/"),
                                        cookie_jar=CookieJar(unsafe=True))
                for c, who in ((http, "center"), (handler, "handler")):
                    page = await (await c.get("/desk/signin")).text()
                    csrf = re.search(r'name="csrf" value="([^"]*)"', page).group(1)  # type: ignore[union-attr]
                    signed = await c.post("/desk/signin", data={"csrf": csrf, "username": f"{who}{run}",
                                                                 "password": PASSWORD})
                    assert signed.status == 200 and "/signin" not in signed.url.path, (who, signed.url)
                sample["handler"], sample["settings"] = handler, settings
                # Chat users: one bound to the case's unit (/mine), one to the district (/status).
                ptb = web.app[PTB_APP]
                for _ in range(200):  # the bot reaches the sandbox in the background
                    if ptb._initialized:
                        break
                    await asyncio.sleep(0.05)
                for who, role, at in (("unit_user", "department" if unit.startswith("D") else "leader", unit),
                                      ("center_user", "dispatcher", "310101")):
                    async with ClientSession() as plain, plain.post(
                            f"{sandbox_url}/sandbox/api/users",
                            json={"first_name": who, "language_code": "en"}) as resp:
                        sample[who] = (await resp.json())["id"]
                    await grids_repo.bind(db, user_id=sample[who], chat_id=sample[who], role=role,
                                          unit=at, name=who, locale="en", now=now)
                apps[n] = (web, http, {"Authorization": f"Bearer {token}"}, sample, db)
            clock.advance(hours=2)  # deadlines pass: the sweep's work is in the figures
            day = (now - timedelta(days=3)).isoformat()
            results: dict[str, dict[int, list[float]]] = {}

            def endpoints(n: int) -> dict[str, Callable[[], Awaitable[Any]]]:
                _, http, bearer, sample, _ = apps[n]
                red, public = sample["red"], sample["public"]

                async def get(path: str, c: ClientSession = http, **kw: Any) -> Any:
                    resp = await c.get(path, **kw)
                    body = await resp.read()
                    assert resp.status == 200, (path, resp.status, body[:300])
                    return body

                async def api(q: str) -> Any:
                    return await get(f"/api/v1/cases?{q}", headers=bearer)

                async def chat(user: int, text: str) -> None:
                    """One Telegram update through the webhook (answered once its replies are sent)."""
                    update_ids[0] += 1
                    command = text.split()[0]
                    body = {"update_id": update_ids[0], "message": {
                        "message_id": update_ids[0], "date": int(time.time()), "text": text,
                        "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
                        "chat": {"id": user, "type": "private", "first_name": "U"},
                        "from": {"id": user, "is_bot": False, "first_name": "U", "language_code": "en"}}}
                    resp = await http.post("/telegram/webhook", json=body,
                                           headers={"X-Telegram-Bot-Api-Secret-Token": "bench"})
                    assert resp.status == 200 and (await resp.json()).get("outcome") == "processed", \
                        await resp.text()

                async def second_page(q: str) -> None:
                    import json
                    first = json.loads(await api(q))
                    if first["next_cursor"]:
                        await api(f"{q}&cursor={first['next_cursor']}")

                out: dict[str, Callable[[], Awaitable[Any]]] = {
                    f"desk queue {q}": (lambda q=q: get(f"/desk/queues/{q}"))  # type: ignore[misc]
                    for q in ("new", "returned", "extensions", "verification", "red", "low_ratings")}
                out.update({
                    "desk case page": lambda: get(f"/desk/cases/{red['_id']}"),
                    "desk unit page (handler)": lambda: get("/desk/unit", sample["handler"]),
                    "api list": lambda: api("limit=50"),
                    "api list page 1+2": lambda: second_page("limit=50"),
                    "api status=in_progress": lambda: api("status=in_progress&limit=50"),
                    "api colour=red": lambda: api("colour=red&limit=50"),
                    "api category": lambda: api(f"category={red['category']}&limit=50"),
                    "api channel=open311": lambda: api("channel=open311&limit=50"),
                    "api kind=help": lambda: api("kind=help&limit=50"),
                    "api unit": lambda: api(f"unit={red['assignee']['unit']}&limit=50"),
                    "api from (3 days)": lambda: api(f"from={day.replace('+', '%2B')}&limit=50"),
                    "api q=serial": lambda: api(f"q={red['serial']}&limit=50"),
                    "api case view": lambda: get(f"/api/v1/cases/{red['_id']}", headers=bearer),
                    "open311 requests": lambda: get("/open311/v2/requests.json"),
                    "open311 status=open": lambda: get("/open311/v2/requests.json?status=open"),
                    "portal lookup": lambda: get(f"/api/v1/public/cases/{public['serial']}"),
                    "bot /mine (webhook)": lambda: chat(sample["unit_user"], "/mine"),
                    "bot /status serial (webhook)": lambda: chat(sample["center_user"],
                                                                 f"/status {red['serial']}"),
                })
                return out

            update_ids = [int(time.time() * 100)]  # a reused database remembers earlier runs' ids
            calls = {n: endpoints(n) for n in sizes}
            # One untimed call of each endpoint first: a process renders a template the first
            # time by compiling it (the desk's case page: ~250 ms, once per process), and the
            # first desk page builds the district's map; with 20 rounds the p95 is the slowest.
            for name in calls[sizes[0]]:
                for n in sizes:
                    await calls[n][name]()
            profiler = cProfile.Profile() if profile else None
            for _ in range(rounds):
                for name in calls[sizes[0]]:
                    for n in sizes:
                        t0 = time.perf_counter()
                        if profiler and name == profile:
                            profiler.enable()
                        await calls[n][name]()
                        if profiler and name == profile:
                            profiler.disable()
                        results.setdefault(name, {}).setdefault(n, []).append((time.perf_counter() - t0) * 1000)
            lo, hi = sizes[0], sizes[-1]
            print(f"\n| endpoint | {lo:,} p50 / p95 | {hi:,} p50 / p95 | p95 ratio |\n|---|---|---|---|")
            for name, by in results.items():
                a, b = sorted(by[lo]), sorted(by[hi])

                def p95(v: list[float]) -> float:
                    return v[min(len(v) - 1, int(0.95 * len(v)))]
                print(f"| {name} | {statistics.median(a):.1f} / {p95(a):.1f} | "
                      f"{statistics.median(b):.1f} / {p95(b):.1f} | {p95(b) / p95(a):.2f} |")
            if profiler:
                print(f"\nprofile of {profile!r} ({rounds} rounds × {len(sizes)} sizes):")
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(45)
                pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
            for web, http, _, sample, _ in apps.values():
                await http.close()
                await sample["handler"].close()
                await web.close()
            await sandbox.close()
        finally:
            server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,1000000")
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--data-dir", type=Path, default=None)
    parser.add_argument("--reuse", action="store_true")
    parser.add_argument("--profile", default=None)
    args = parser.parse_args()
    asyncio.run(main([int(s) for s in args.sizes.split(",")], args.rounds, args.data_dir,
                     args.reuse, args.profile))
