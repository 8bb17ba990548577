"""Automatic dispatch: a coordinator's report confirmed → the assignment in the leader's chat,
under the load bench's traffic (issue 22; target p95 ≤ 2 s).

Run: .venv/bin/python bench/autodispatch.py [--probes 30] [--concurrency 8] [--warmup 5]
     [--gap 0.5] [--quiet | --rate R]

Spawns what bench/load.py spawns (an embedded database server, `gridlink sandbox`, `gridlink
web`, `gridlink worker`, all with their default settings: NOTIFY_POLL_S 1, the per-chat pace
1.05 s) over the demo district, turns on the exposed-garbage rule (→ the community block's
leader) and binds, for each probe, a coordinator and a leader to a block of their own (a
sandbox user each). Then, while `--concurrency` clients drive the load bench's mix (API intake
of hotline complaints, coordinators' photo webhooks, dashboard reads; `--quiet`: none), each
probe coordinator in turn reports exposed garbage in its block through the sandbox chat, as a
phone would: photo, location, the category button, a note, "confirm". Each probe is timed from
pressing "confirm" to the moment the leader's chat shows the assignment's text (a long poll on
that chat in the sandbox), split at the bot's answer with the serial number (intake through
the bot) — the rest is the worker: the rule's dispatch at the dispatch step, the notifier, the
outbox and the sender (photo, map pin, text).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
from shapely.geometry import Point, shape

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.load import POINT, SECRET, USERS_PER_CLIENT, jpeg, spawn, wait_http
from bench.timing import pct
from cases import repository as cases_repo
from cases.categories import AutoDispatch, Category
from gridlink import auth
from gridlink.db import make_client
from gridlink.embedded import EmbeddedServer, free_port
from gridlink.i18n import t
from gridlink.schema import ensure_indexes
from gridlink.settings import load_settings
from grids import repository as grids_repo
from grids.demo import demo_feature_collection
from grids.importer import parse_grid
from grids.placement import GridIndex
from notify import repository as notify_repo
from sandbox.client import SandboxClient, SandboxError

Json = dict[str, Any]
SERIAL_RE = re.compile(r"\b[A-Z]{1,3}\d{8}-\d{3,}\b")
CATEGORY = "exposed_garbage"
DB_NAME = "bench_autodispatch"


def probe_points(n: int) -> list[tuple[str, float, float]]:
    """(block, lon, lat): `n` community blocks, a point well inside each (placed in it)."""
    grid = parse_grid(demo_feature_collection())
    index = GridIndex(grid.units, version=1)
    blocks = [u for u in grid.units if u["level"] == "community_block"]
    random.Random(22).shuffle(blocks)
    out = []
    for unit in blocks:
        poly = shape(unit["geometry"])
        centre = poly.representative_point()
        if not poly.buffer(-0.0003).contains(Point(centre.x, centre.y)):
            continue  # too near an edge: a point that snaps is (rightly) not auto-dispatched
        placed = index.place(centre.x, centre.y)
        if placed.community_block != unit["code"] or placed.snapped:
            continue
        out.append((unit["code"], round(centre.x, 6), round(centre.y, 6)))
        if len(out) == n:
            return out
    raise SystemExit(f"only {len(out)} blocks with a clear inside point")


class Chat:
    """A sandbox user's side of the bot chat: what the bot sent since the last look."""

    def __init__(self, sb: SandboxClient, user: Json) -> None:
        self.sb, self.user, self.last = sb, user, 0

    @property
    def id(self) -> int:
        return int(self.user["id"])

    async def until(self, want: Any, timeout: float = 30.0) -> Json:  # noqa: ASYNC109
        """The bot's next message for which `want(message)` holds (earlier ones are read past)."""
        deadline = time.monotonic() + timeout
        passed: list[str] = []
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"chat {self.id}: no expected message; read past {passed}")
            try:
                msg = await self.sb.wait_message(self.id, after=self.last, timeout=min(left, 10))
            except SandboxError as exc:
                if exc.status == 408:
                    continue  # the server-side wait ended: wait on
                raise
            self.last = int(msg["message_id"])
            if want(msg):
                return msg
            passed.append(f"{(msg.get('text') or '')[:80]!r} {buttons(msg)[:4]}")

    def _sent(self, msg: Json) -> None:
        self.last = max(self.last, int(msg["message_id"]))


def buttons(msg: Json) -> list[str]:
    rows = (msg.get("reply_markup") or {}).get("inline_keyboard", [])
    return [b["callback_data"] for row in rows for b in row]


def with_button(prefix: str) -> Any:
    return lambda m: any(b.startswith(prefix) for b in buttons(m))


async def report(coord: Chat, lon: float, lat: float, seed: int) -> tuple[float, float, str]:
    """One report through the chat; (confirm pressed, serial answered, serial), perf_counter."""
    sb = coord.sb
    coord._sent(await sb.send_photo(coord.id, jpeg(10_000 + seed)))
    await coord.until(lambda m: m.get("text") == t("report.ask_location", "en"))
    coord._sent(await sb.send_location(coord.id, lat, lon))
    keyboard = await coord.until(with_button("f:cat"))
    while f"f:cat:{CATEGORY}" not in buttons(keyboard):
        more = [b for b in buttons(keyboard) if b.startswith("f:catp:")]
        if not more:
            raise SystemExit(f"{CATEGORY} is on no page of the category keyboard")
        await sb.press(coord.id, keyboard["message_id"], more[0])
        keyboard = await coord.until(with_button("f:cat"))
    await sb.press(coord.id, keyboard["message_id"], f"f:cat:{CATEGORY}")
    await coord.until(lambda m: m.get("text") == t("report.ask_note", "en"))
    coord._sent(await sb.send_text(coord.id, f"garbage bags by the gate, probe {seed}"))
    confirm = await coord.until(with_button("f:confirm"))
    pressed = time.perf_counter()
    await sb.press(coord.id, confirm["message_id"], "f:confirm")
    answer = await coord.until(lambda m: SERIAL_RE.search(m.get("text") or "") is not None)
    found = SERIAL_RE.search(answer["text"])
    assert found
    return pressed, time.perf_counter(), found.group(0)


async def leader_sees(sb: SandboxClient, leader: int, serial: str, seq: int,
                      timeout: float = 60.0) -> float:  # noqa: ASYNC109
    """When the leader's chat shows a text naming `serial` (long poll on the chat's changes)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = await sb.chat(leader, since_seq=seq, timeout=min(10.0, deadline - time.monotonic()))
        now = time.perf_counter()
        seq = int(state.get("seq") or seq)
        if any(serial in (m.get("text") or "") for m in state.get("messages") or []):
            return now
    raise TimeoutError(f"the assignment of {serial} never reached chat {leader}")


STAGES = ("serial → rule's dispatch (notifier)", "dispatch → assignment queued",
          "queued → sent (sender, 3 calls)", "sent → seen in the chat")


async def stages_of(db: Any, serial: str, leader: int, answered_at: float,
                    seen_at: float) -> dict[str, float]:
    """The chain's steps for one probe from what the case and the outbox recorded (the case's
    own time is the report's, which the bot may take from the update: the serial's answer is
    where the worker's part begins)."""
    case = await db.cases.find_one({"serial": serial})
    if case is None:
        return {}
    dispatch = next((e for e in case["history"] if e["action"] == "dispatch"), None)
    found = await notify_repo.find_messages(db, query={"chat_id": leader, "case_id": case["_id"]})
    msg = found[0] if found else None
    if dispatch is None or msg is None or msg.get("sent_at") is None:
        return {}

    def ts(at: datetime) -> float:
        return at.replace(tzinfo=UTC).timestamp() if at.tzinfo is None else at.timestamp()

    return {STAGES[0]: ts(dispatch["at"]) - answered_at,
            STAGES[1]: ts(msg["created_at"]) - ts(dispatch["at"]),
            STAGES[2]: ts(msg["sent_at"]) - ts(msg["created_at"]),
            STAGES[3]: seen_at - ts(msg["sent_at"])}


async def main(probes: int, concurrency: int, warmup: float, gap: float, quiet: bool,
               rate: float) -> None:
    tmp = Path(tempfile.mkdtemp(prefix="gridlink-autodispatch-"))
    server = EmbeddedServer(tmp / "db")
    server.start()
    procs: list[subprocess.Popen[bytes]] = []
    settings = load_settings(mongodb_uri=server.uri, mongodb_db=DB_NAME)
    client = make_client(server.uri, settings)
    db = client[DB_NAME]
    try:
        await ensure_indexes(db)
        now = datetime.now(UTC)
        await grids_repo.install_grid(db, grid=parse_grid(demo_feature_collection()),
                                      source="bench", now=now)
        category = Category.from_doc(await cases_repo.get_category(db, code=CATEGORY))
        category.auto_dispatch = AutoDispatch(enabled=True, to="community_block")
        await cases_repo.put_category(db, category=category, now=now, by="bench")
        token = await auth.create_token(db, role="dispatcher", unit="310101", district="310101",
                                        name="bench", now=now)
        web_port, sb_port = free_port(), free_port()
        env = {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"),
               "MONGODB_URI": server.uri, "MONGODB_DB": DB_NAME, "WEBHOOK_SECRET": SECRET,
               "HTTP_PORT": str(web_port), "SANDBOX_PORT": str(sb_port),
               "PUBLIC_BASE_URL": f"http://127.0.0.1:{web_port}", "DATA_DIR": str(tmp / "data"),
               "RATE_LIMIT_IP_REQUESTS": "0", "RATE_LIMIT_CHAT_REPORTS": "0"}
        procs.append(spawn("sandbox", env, tmp / "sandbox.log"))
        base = f"http://127.0.0.1:{web_port}"
        async with aiohttp.ClientSession() as http:
            await wait_http(http, f"http://127.0.0.1:{sb_port}/sandbox/api/info")
            procs.append(spawn("web", env, tmp / "web.log"))
            procs.append(spawn("worker", env, tmp / "worker.log"))
            await wait_http(http, base + "/healthz")
            for _ in range(300):
                if "bot ready" in (tmp / "web.log").read_text():
                    break
                await asyncio.sleep(0.3)
            sb = SandboxClient(f"http://127.0.0.1:{sb_port}", http)

            # The probes: a coordinator and a leader per block (so neither chat's pace nor a
            # duplicate suggestion from an earlier probe's case enters the figures).
            pairs: list[tuple[Chat, int, float, float]] = []
            for k, (block, lon, lat) in enumerate(probe_points(probes)):
                patrol = await sb.create_user(f"probe{k}", language_code="en")
                leader = await sb.create_user(f"leader{k}", language_code="en")
                await grids_repo.bind(db, user_id=patrol["id"], chat_id=patrol["id"],
                                      role="coordinator", unit=block, name=f"probe{k}",
                                      locale="en", now=now)
                await grids_repo.bind(db, user_id=leader["id"], chat_id=leader["id"], role="leader",
                                      unit=block, name=f"leader{k}", locale="en", now=now)
                pairs.append((Chat(sb, patrol), int(leader["id"]), lon, lat))

            # The load bench's traffic (its mix, closed loop, `concurrency` clients).
            photo_msgs = []
            if not quiet:
                for k in range(concurrency * USERS_PER_CLIENT):
                    user = await sb.create_user(f"coord{k}", language_code="en")
                    await grids_repo.bind(db, user_id=user["id"], chat_id=user["id"],
                                          role="coordinator", unit="310101001001",
                                          name=f"coord{k}", locale="en", now=now)
                    photo_msgs.append(await sb.send_photo(user["id"], jpeg(k)))
                await asyncio.sleep(2 + len(photo_msgs) / 20)
            busy = [asyncio.Lock() for _ in photo_msgs]
            headers = {"Authorization": f"Bearer {token}"}
            hook = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            next_update = [5_000_000]
            done: dict[str, int] = {"intake": 0, "webhook": 0, "dashboard": 0, "errors": 0}
            lat_traffic: list[float] = []
            stop = asyncio.Event()

            async def one(kind: str, k: int, i: int) -> None:
                t0 = time.perf_counter()
                try:
                    if kind == "webhook":
                        user = (k + concurrency * (i // 4)) % len(photo_msgs)
                        msg = photo_msgs[user]
                        async with busy[user]:
                            next_update[0] += 1
                            update: Json = {"update_id": next_update[0], "message": {
                                **{key: msg[key] for key in ("photo", "chat", "from") if key in msg},
                                "message_id": next_update[0], "date": int(time.time())}}
                            async with http.post(base + "/telegram/webhook", json=update,
                                                 headers=hook) as r:
                                await r.read()
                                ok = r.status == 200
                    elif kind == "intake":
                        body = {"channel": "hotline_12345", "kind": "complaint",
                                "category": "road_damage", "description": f"load {k}-{i}",
                                "location": POINT}
                        async with http.post(base + "/api/v1/cases", json=body, headers=headers) as r:
                            await r.read()
                            ok = r.status == 201
                    else:
                        path = ("/api/v1/stats/board", "/api/v1/stats/headline")[i % 2]
                        async with http.get(base + path) as r:
                            await r.read()
                            ok = r.status == 200
                except aiohttp.ClientError:
                    ok = False
                done[kind if ok else "errors"] += 1
                lat_traffic.append(time.perf_counter() - t0)

            async def traffic(k: int) -> None:
                mix = ("intake", "intake", "webhook", "dashboard")
                i = 0
                while not stop.is_set():
                    i += 1
                    await one(mix[(i + k) % len(mix)], k, i)

            async def open_loop() -> None:
                """The mix arriving at `rate` per second (Poisson) whatever the answers."""
                arrivals, n = random.Random(7), 0
                tasks: set[asyncio.Task[None]] = set()
                mix = ("intake", "intake", "webhook", "dashboard")
                while not stop.is_set():
                    await asyncio.sleep(arrivals.expovariate(rate))
                    k, i = n % concurrency, n // concurrency + 1
                    task = asyncio.create_task(one(mix[(i + k) % len(mix)], k, i))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    n += 1
                await asyncio.gather(*tasks)

            if quiet:
                clients = []
            elif rate:
                clients = [asyncio.create_task(open_loop())]
            else:
                clients = [asyncio.create_task(traffic(k)) for k in range(concurrency)]
            await asyncio.sleep(0 if quiet else warmup)
            for key in done:
                done[key] = 0
            lat_traffic.clear()
            started = time.perf_counter()

            intake_s, worker_s, total_s = [], [], []
            backlog: list[int] = []  # events the notifier had not done when each probe began
            stages: list[dict[str, float]] = []
            failed: list[str] = []  # probes whose chat or leader stayed silent: named, not timed
            try:
                for seed, (coord, chat, lon, lat) in enumerate(pairs):
                    backlog.append(await db.events.count_documents({"notify_state": "new"}))
                    seq = int((await sb.chat(chat)).get("seq") or 0)
                    try:
                        pressed, answered, serial = await report(coord, lon, lat, seed)
                        seen = await leader_sees(sb, chat, serial, seq)
                    except TimeoutError as exc:
                        failed.append(f"probe {seed}: {exc}")
                        print(f"  probe {seed} timed out: {exc}", flush=True)
                        continue
                    wall = time.time() - time.perf_counter()  # perf_counter → wall clock

                    intake_s.append(answered - pressed)
                    worker_s.append(seen - answered)
                    total_s.append(seen - pressed)
                    stages.append(await stages_of(db, serial, chat, wall + answered, wall + seen))
                    await asyncio.sleep(gap)
            finally:
                elapsed = time.perf_counter() - started
                stop.set()
                await asyncio.gather(*clients)
                print(f"  events waiting for the notifier as each probe began: {backlog}")

            auto = await db.cases.count_documents({"category": CATEGORY, "auto_dispatched": True})
            print(f"load average {os.getloadavg()[0]:.1f} at the end; "
                  f"{await db.cases.estimated_document_count()} cases stored")
            print(f"automatic dispatch: {len(total_s)} probes timed over {elapsed:.0f} s, "
                  f"{'no other traffic' if quiet else f'under the load mix arriving at {rate}/s' if rate else f'under the load mix from {concurrency} clients'}"
                  f"; {auto} of {len(total_s)} cases dispatched by the rule")
            if not quiet:
                n = sum(v for k, v in done.items() if k != "errors")
                print(f"  traffic: {n / elapsed:.1f} req/s (intake {done['intake']}, webhook "
                      f"{done['webhook']}, dashboard {done['dashboard']}, errors {done['errors']}), "
                      f"p95 {pct(lat_traffic, 0.95):.0f} ms")
            for name, samples in (("confirm → serial", intake_s), ("serial → leader", worker_s),
                                  ("confirm → leader", total_s)):
                if samples:
                    print(f"  {name:<18} p50 {pct(samples, 0.5):7.0f} ms   "
                          f"p95 {pct(samples, 0.95):7.0f} ms"
                          f"   max {max(samples) * 1000:7.0f} ms")
            print("  where the worker's part went (database timestamps, one clock):")
            for name in STAGES:
                samples = [s[name] for s in stages if name in s]
                if samples:
                    print(f"    {name:<34} p50 {pct(samples, 0.5):7.0f} ms   "
                          f"p95 {pct(samples, 0.95):7.0f} ms   max {max(samples) * 1000:7.0f} ms")
            if failed:
                print(f"  {len(failed)} of {len(pairs)} probes timed out (a chat step over 30 s, "
                      f"or the leader over 60 s): not in the figures above")
            verdict = "met" if total_s and not failed and pct(total_s, 0.95) <= 2000 else "NOT met"
            print(f"  target p95 ≤ 2000 ms: {verdict}")
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
        await client.close()
        server.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--probes", type=int, default=30)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--warmup", type=float, default=5)
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between probes")
    parser.add_argument("--quiet", action="store_true", help="no load traffic beside the probes")
    parser.add_argument("--rate", type=float, default=0,
                        help="open loop (as bench/load.py --rate): the mix arrives at this many "
                             "requests/s instead of --concurrency clients each awaiting its answer")
    a = parser.parse_args()
    asyncio.run(main(a.probes, a.concurrency, a.warmup, a.gap, a.quiet, a.rate))
