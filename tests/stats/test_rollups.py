"""Rollups kept per transition equal a recomputation from the raw cases."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from itertools import product

from cases import lifecycle
from cases.errors import BadCaseInput
from cases.intake import intake
from cases.model import CasePolicy
from gridlink.clock import FakeClock
from gridlink.db import Database, insert_new
from stats import repository as repo
from stats.facts import board_groups, colour_at
from stats.rollups import event_fields, fold, normalise, rebuild, recompute
from tests.cases.conftest import stored_photo

ADMIN = {"role": "admin", "unit": "310101", "name": "center"}
CATEGORIES = ("exposed_garbage", "manhole_cover", "group_renting", "food_hygiene", "street_light")
STREETS = ("310101001", "310101002", "310101003")


def placement(rng: random.Random) -> dict[str, object]:
    street = rng.choice(STREETS)
    ws = f"{street}00{rng.randint(1, 3)}"
    return {"district": "310101", "street": street, "workstation": ws,
            "community_block": f"{ws}00{rng.randint(1, 2)}", "street_block": None,
            "patrol_zone": None, "snapped": False, "distance_m": 0.0}


PATROLS = ("张伟", "李娜")


def handler(case: dict, rng: random.Random) -> dict:
    """A team of the assigned department (by name), or the center for other units."""
    unit = (case.get("assignee") or {}).get("unit")
    if unit in ("D03", "D08"):
        return {"role": "department", "unit": unit, "name": rng.choice(("一中队", "二中队"))}
    return ADMIN


async def random_walk(db: Database, clock: FakeClock, rng: random.Random, steps: int) -> list[str]:
    policy = CasePolicy()
    ids: list[str] = []
    for step in range(steps):
        clock.advance(minutes=rng.randint(1, 240))
        now = clock.now()
        if not ids or rng.random() < 0.3:
            reporter = {"user_id": 1000 + step, "chat_id": 1000 + step}
            spot = rng.random() < 0.15
            patrol = spot or rng.random() < 0.5
            actor = ({"role": "coordinator", "unit": "310101001001001", "name": rng.choice(PATROLS),
                      "user_id": 1000 + step, "chat_id": 1000 + step} if patrol
                     else {"role": "citizen", "user_id": 1000 + step, "chat_id": 1000 + step})
            if spot:
                for photo in (f"b{step}", f"a{step}"):
                    await stored_photo(db, photo)
            res = await intake(db, policy=policy, now=now,
                               channel="patrol_bot" if patrol else "hotline_12345",
                               kind="hazard", category=rng.choice(CATEGORIES),
                               description="something broken", reporter=None if patrol else reporter,
                               actor=actor,
                               placement=placement(rng), photos=[f"b{step}"] if spot else None,
                               on_the_spot={"after_photos": [f"a{step}"]} if spot else None)
            ids.append(res.case["_id"])
            continue
        case = await db.cases.find_one({"_id": rng.choice(ids)})
        assert case is not None
        state, ref = case["state"], case["_id"]
        try:
            if state in ("reported", "returned"):
                unit = rng.choice([None, "D03", "D08"])
                await lifecycle.dispatch(db, case_ref=ref, actor=ADMIN, now=now, policy=policy, unit=unit)
            elif state == "dispatched":
                if rng.random() < 0.25:
                    await lifecycle.return_case(db, case_ref=ref, actor=ADMIN, now=now, policy=policy,
                                                reason="not ours")
                else:
                    await lifecycle.accept(db, case_ref=ref, actor=handler(case, rng), now=now)
            elif state == "in_progress":
                if rng.random() < 0.2 and not case.get("extension"):
                    await lifecycle.request_extension(db, case_ref=ref, actor=ADMIN, now=now,
                                                      policy=policy, reason="parts", hours=48)
                    await lifecycle.decide_extension(db, case_ref=ref, actor=ADMIN, now=now,
                                                     policy=policy, approve=True)
                else:
                    await lifecycle.feedback(db, case_ref=ref, actor=handler(case, rng), now=now,
                                             policy=policy, text="fixed")
            elif state == "awaiting_verification":
                ok = rng.random() < 0.75
                await lifecycle.verify(db, case_ref=ref, actor=ADMIN, now=now, policy=policy, ok=ok,
                                       note=None if ok else "still broken")
            elif state == "closed" and case.get("rating") is None:
                await lifecycle.rate(db, case_ref=ref, now=now, score=rng.randint(1, 5),
                                     actor={"role": "citizen", **case["reporter"]})
        except BadCaseInput:
            continue
    return ids


async def stored(db: Database) -> tuple[dict, dict]:
    await fold(db, now=datetime.now(UTC))
    lists = {k: v for k, v in (await repo.all_open(db)).items() if v}
    # Each list's summary (what the boards read, in the groups of the boards that show it) is
    # the one computed from the list itself, and its times are the list's.
    docs = {d["_id"]: d async for d in db[repo.STATS].find({"_id": {"$regex": "^[tg][|]"}})}
    groups = {k[2:]: repo.group_summaries(d) for k, d in docs.items() if k.startswith("g|")}
    assert {k[2:] for k in docs if k.startswith("t|")} == set(lists)
    want_groups: dict[str, set[str]] = {}
    for list_id, cases in lists.items():
        assert {k: docs["t|" + list_id][k] for k in ("warn", "due")} == repo.times_doc(cases), list_id
        for group in board_groups(list_id, next(iter(cases.values()))):
            want_groups.setdefault(group, set()).add(list_id)
            summary = groups[group][list_id]
            assert summary == repo.summary(cases, summary["cut"]), (group, list_id)
    assert {g: set(sums) for g, sums in groups.items()} == want_groups
    return normalise(await repo.all_rollups(db)), lists


async def test_rollups_equal_recomputation_after_random_transitions(db: Database) -> None:
    clock = FakeClock()
    rng = random.Random(20261127)
    await random_walk(db, clock, rng, steps=50)
    cases = await db.cases.find({}).to_list(None)
    states = {c["state"] for c in cases}
    assert {"closed", "in_progress"} <= states or len(states) >= 3, states  # the walk went places
    expected_rollups, expected_open = recompute(cases)
    got_rollups, got_open = await stored(db)
    # The walk reached the lower assessment levels: departments' teams and patrol finders.
    assert any("|handler|dp=" in k for k in got_rollups) and any("|coordinator|ws=" in k for k in got_rollups)
    assert got_rollups == normalise(expected_rollups)
    assert got_open == {k: v for k, v in expected_open.items() if v}
    # The rebuild command computes the same documents from scratch.
    await rebuild(db)
    assert await stored(db) == (got_rollups, got_open)


async def test_open_lists_follow_the_colour_function(db: Database) -> None:
    from cases.colour import colour_of

    clock = FakeClock()
    await random_walk(db, clock, random.Random(7), steps=30)
    _, opened = await stored(db)
    district = {cid: e for k, v in opened.items() if k.startswith("st:") for cid, e in v.items()}
    cases = {c["_id"]: c async for c in db.cases.find({})}
    for later in (timedelta(0), timedelta(hours=5), timedelta(days=3), timedelta(days=30)):
        now = clock.now() + later
        for case_id, entry in district.items():
            assert colour_at(entry, now.timestamp()) == colour_of(cases[case_id], now)
    open_ids = {i for i, c in cases.items() if c["state"] not in ("closed", "merged")}
    assert set(district) == open_ids
    # The boards' counts: from a summary's counts while they hold, from its times after.
    from zoneinfo import ZoneInfo

    from stats.board import from_summary, valid

    cut = clock.now().timestamp()
    used = set()
    for list_id, entries in opened.items():
        times = repo.unpack(repo.times_doc(entries))
        for k, seconds in product((1, 2, 32), (-3600, 0, 60, 3600 * 5, 86400 * 3, 86400 * 30)):
            summary = repo.group_summaries(repo.group_doc({list_id: repo.summary(entries, cut, k=k)}))[list_id]
            ts = cut + seconds
            used.add(valid(summary, ts))
            got = from_summary(summary, ts, ZoneInfo("UTC"), None if valid(summary, ts) else times)
            colours = [colour_at(e, ts) for e in entries.values()]
            assert (got["blue"], got["yellow"], got["red"]) == tuple(
                colours.count(c) for c in ("blue", "yellow", "red")), (list_id, k, seconds)
    assert used == {True, False}  # both ways were taken


async def apply_transition(db: Database, *, before: dict | None, after: dict) -> None:
    """The change's event as `cases` writes it (cases.lifecycle.emit), with only the fields the
    statistics read."""
    fields = event_fields(before, after)
    if fields:
        await insert_new(db.events, [{"_id": f"{after['_id']}:{after['version']}",
                                      "case_id": after["_id"], **fields}])


async def test_a_transition_counts_once_and_one_folder_works_at_a_time(db: Database) -> None:
    from stats.history import generate

    now = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
    case = next(d for d in generate(50, now=now, years=0.01, seed=4) if d["state"] == "in_progress")
    for _ in range(2):  # the same event written twice (a retry): one change
        await apply_transition(db, before=None, after=case)
    assert await db.events.count_documents({"stats": {"$exists": True}}) == 1
    # Another process holds the folder's lease: nothing is folded, the change waits.
    assert await repo.take_lease(db, owner="other", now=now.timestamp(), ttl=60)
    assert await fold(db, now=now) == 0
    assert await repo.pending(db)
    # Past the lease's expiry the next folder takes over.
    assert await fold(db, now=now + timedelta(minutes=2)) == 1
    assert not await repo.pending(db)
    expected_rollups, expected_open = recompute([case])
    assert normalise(await repo.all_rollups(db)) == normalise(expected_rollups)
    assert await repo.all_open(db) == expected_open
    # A transition that changes no statistic logs nothing.
    await apply_transition(db, before=case, after={**case, "version": case["version"] + 1,
                                                  "supervisions": 1})
    assert not await repo.pending(db)


async def test_statistics_of_the_previous_generation_are_rebuilt_once(db: Database) -> None:
    """A deployment whose `stats` still holds one summary document per list (no layout mark) is
    rebuilt once into board groups; an empty one is simply marked current."""
    from stats.history import generate
    from stats.rollups import upgrade

    now = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
    assert await upgrade(db, now=now) is None  # nothing stored yet: marked, nothing to rebuild
    assert not await repo.has_previous_layout(db)
    docs = list(generate(120, now=now, years=0.05, seed=8))
    await db.cases.insert_many(docs)
    await db[repo.META].delete_one({"_id": repo.LAYOUT_ID})
    await db[repo.STATS].insert_one({"_id": "s|st:310101001", "n": 3, "cut": 0.0})
    summary = await upgrade(db, now=now)
    assert summary is not None and summary["cases"] == 120
    assert await upgrade(db, now=now) is None  # once
    assert await db[repo.STATS].count_documents({"_id": {"$regex": "^s[|]"}}) == 0
    _, lists = await stored(db)  # board groups hold every list's summary
    assert lists


async def test_statistics_first_written_by_a_fold_are_not_rebuilt(db: Database) -> None:
    """A script or test that folds before the web process's first round leaves statistics of
    the current layout: the web's upgrade check finds nothing to rebuild (it used to drop and
    rebuild them, and the boards were empty meanwhile)."""
    from stats.history import generate
    from stats.rollups import upgrade

    now = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
    case = next(d for d in generate(50, now=now, years=0.01, seed=4) if d["state"] == "in_progress")
    await apply_transition(db, before=None, after=case)
    assert await fold(db, now=now) == 1
    version = (await repo.log_state(db))[0]
    assert await upgrade(db, now=now) is None
    assert (await repo.log_state(db))[0] == version and await repo.all_rollups(db)


async def test_reads_leave_waiting_changes_to_the_background_folder(db: Database) -> None:
    """With a background folder in the process a read states the last fold's time and what
    waits; without one it folds first (one folder at a time: not while the lease is held)."""
    from stats.history import generate
    from stats.rollups import folding_in_background, fresh

    now = datetime(2026, 11, 27, 1, 0, tzinfo=UTC)
    await rebuild(db, now=now)
    case = next(d for d in generate(50, now=now, years=0.01, seed=4) if d["state"] == "in_progress")
    await apply_transition(db, before=None, after=case)
    later = now + timedelta(seconds=5)
    with folding_in_background(db):
        view = await fresh(db, now=later)
    assert (view.as_of, view.pending) == (now, 1)
    assert await repo.take_lease(db, owner="other", now=later.timestamp(), ttl=60)
    assert (await fresh(db, now=later)).pending == 1  # another folder at work: not folded here
    await repo.release_lease(db, owner="other")
    view = await fresh(db, now=later)
    assert (view.as_of, view.pending) == (later, 0) and not await repo.pending(db)
    assert view.stamp() == {"as_of": later.isoformat(), "pending": 0}
