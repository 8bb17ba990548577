"""A coordinator's chat report, photo to confirm, with thousands of cases stored (issue 22):
every read and write it sends finds its documents by an index FerretDB uses — an equality or
`$in` of strings, numbers or ids on an indexed field that holds no arrays — and it reads a
bounded number of documents. Counted by a PyMongo command listener on the app's own client.

(`{photo_ids: {$in: …}}`, the photo check at the category button and at confirm, read every
case: FerretDB keeps every row whose field is an array for its own filter. Under the load
bench that made the confirm take 4.5–14 s; bench/autodispatch.py.)
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from bson import ObjectId
from pymongo import monitoring

from gridlink.db import Database
from gridlink.i18n import t
from stats.history import generate
from tests.bot.conftest import BLOCK_ONE, INSIDE, BotWorld
from tests.bot.test_flows import bind, buttons, jpeg

N = 3000
# The reporter's own records (dialogue, photo, roster, counters) and a few lookups by id: far
# below N, and the same whatever N is.
MAX_DOCS_READ = 60
FILTERS = {"find": "filter", "count": "query", "findAndModify": "query", "distinct": "query"}
# Configuration, not records: tens of documents whatever the number of cases (read whole).
CONFIG = {"categories"}
PUSHED = (str, int, float, bool, ObjectId)  # value types the FerretDB build pushes down


class Commands(monitoring.CommandListener):
    """The filters of the commands sent while `on`, and the documents they returned."""

    def __init__(self) -> None:
        self.on = False
        self.filters: list[tuple[str, str, dict[str, Any], int]] = []
        self.docs: Counter[str] = Counter()
        self.collection: dict[int, str] = {}

    def started(self, event: monitoring.CommandStartedEvent) -> None:
        if not self.on:
            return
        cmd, name = event.command, event.command_name
        if name == "getMore":
            self.collection[event.request_id] = str(cmd.get("collection"))
            return
        if name in FILTERS:
            self.collection[event.request_id] = str(cmd[name])
            self.filters.append((name, str(cmd[name]), dict(cmd.get(FILTERS[name]) or {}),
                                 int(cmd.get("limit") or 0)))
        elif name in ("update", "delete"):
            for op in cmd.get(f"{name}s") or []:
                self.filters.append((name, str(cmd[name]), dict(op.get("q") or {}), 0))
        elif name == "aggregate":
            match: Mapping[str, Any] = next(
                (s["$match"] for s in cmd.get("pipeline") or [] if "$match" in s), {})
            self.collection[event.request_id] = str(cmd[name])
            self.filters.append((name, str(cmd[name]), dict(match), 0))

    def succeeded(self, event: monitoring.CommandSucceededEvent) -> None:
        coll = self.collection.pop(event.request_id, None)
        reply: Mapping[str, Any] = event.reply
        cursor: Mapping[str, Any] = reply.get("cursor") or {}
        if coll is not None:
            self.docs[coll] += len(cursor.get("firstBatch") or cursor.get("nextBatch") or [])
            if reply.get("value") is not None:  # findAndModify
                self.docs[coll] += 1

    def failed(self, event: monitoring.CommandFailedEvent) -> None:
        self.collection.pop(event.request_id, None)


@pytest.fixture
def commands() -> Iterator[Commands]:
    """Registered before the app's client is made (the `world` fixture comes after it)."""
    listener = Commands()
    monitoring.register(listener)
    try:
        yield listener
    finally:
        monitoring._LISTENERS.command_listeners.remove(listener)


def _pushed(value: Any) -> bool:
    if isinstance(value, Mapping):
        ops = set(value)
        if "$in" in ops:
            return bool(value["$in"]) and all(isinstance(v, PUSHED) for v in value["$in"])
        return "$eq" in ops and isinstance(value["$eq"], PUSHED)
    return isinstance(value, PUSHED)


def _values(doc: Mapping[str, Any], path: str) -> Any:
    for part in path.split("."):
        if not isinstance(doc, Mapping):
            return None
        doc = doc.get(part)  # type: ignore[assignment]
    return doc


async def _unserved(db: Database, coll: str, flt: Mapping[str, Any], limit: int) -> str | None:
    """Why FerretDB would read the whole collection for `flt` (None: an index serves it)."""
    if coll in CONFIG or (not flt and limit == 1):  # (GridFS asks whether a bucket is empty)
        return None
    indexes = (await db[coll].index_information()).values()
    first = {"_id"} | {next(iter(ix["key"]))[0] for ix in indexes}
    for field, value in flt.items():
        if field.startswith("$") or field not in first or not _pushed(value):
            continue
        stored = await db[coll].find({field: {"$exists": True}}, {field: 1}).to_list(None)
        if not any(isinstance(_values(d, field), list) for d in stored):
            return None
    return f"no indexed scalar equality among {sorted(flt)} (indexes on {sorted(first)})"


async def test_chat_report_reads_by_index_only_whatever_the_cases_stored(
        commands: Commands, world: BotWorld) -> None:
    db, now = world.db, world.clock.now()
    old = list(generate(N, now=now, years=1.0))
    for i, case in enumerate(old):
        case["photo_ids"] = [f"old-photo-{i}"]  # arrays in every row, as real cases carry
    await db.cases.insert_many(old, ordered=False)
    coordinator = await world.phone("巡管员老周")
    await bind(world, coordinator, "coordinator", BLOCK_ONE)

    commands.on = True
    await coordinator.photo(jpeg())
    await coordinator.replies(2)  # photo added, where is it?
    await coordinator.location(*INSIDE)
    _, categories = await coordinator.replies(2)
    await coordinator.press(categories, "f:cat:community_sanitation")
    assert (await coordinator.reply())["text"] == t("report.ask_note", "zh-CN")
    await coordinator.send("楼道口堆满装修垃圾")
    confirm = await coordinator.reply()
    assert "f:confirm" in buttons(confirm)
    await coordinator.press(confirm, "f:confirm")
    created = (await coordinator.reply())["text"]
    commands.on = False
    assert created.startswith("已受理，流水号 A"), created

    unserved = [f"{name} {coll} {flt}: {why}" for name, coll, flt, limit in commands.filters
                if (why := await _unserved(db, coll, flt, limit)) is not None]
    assert not unserved, "\n".join(unserved)
    assert sum(n for c, n in commands.docs.items() if c not in CONFIG) <= MAX_DOCS_READ, commands.docs
    assert commands.docs["cases"] <= 2, commands.docs  # the new case, by its id or key
