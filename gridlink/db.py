"""The database client and the index registry."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Sequence
from typing import Any

from pymongo import AsyncMongoClient
from pymongo.asynchronous.collection import AsyncCollection
from pymongo.asynchronous.database import AsyncDatabase
from pymongo.errors import BulkWriteError, DuplicateKeyError, WriteError

from gridlink.settings import Settings

log = logging.getLogger(__name__)

Document = dict[str, Any]
Database = AsyncDatabase[Document]
Client = AsyncMongoClient[Document]


def make_client(uri: str, settings: Settings) -> Client:
    """A client whose operations fail fast (503) rather than hang when the database is away."""
    timeout = settings.mongodb_timeout_ms
    return AsyncMongoClient(
        uri,
        tz_aware=True,
        serverSelectionTimeoutMS=timeout,
        connectTimeoutMS=timeout,
        socketTimeoutMS=settings.mongodb_socket_timeout_ms,
        appname="gridlink",
    )


# ---------------------------------------------------------------- insert unless stored

DUPLICATE_KEY = 11000


async def insert_new(coll: AsyncCollection[Document], docs: Sequence[Document]) -> set[int]:
    """`coll.insert_many(docs, ordered=False)` where a document already stored (duplicate key,
    in `coll` or earlier in `docs`) is not an error: returns the indexes in `docs` of those
    duplicates; every other document is stored. Any other write error, or a write concern
    error, raises BulkWriteError as insert_many does."""
    if not docs:
        return set()  # insert_many refuses an empty list
    try:
        await coll.insert_many(docs, ordered=False)
    except BulkWriteError as exc:
        errors = exc.details.get("writeErrors", [])
        if exc.details.get("writeConcernErrors") or any(
                e.get("code") != DUPLICATE_KEY for e in errors):
            raise
        return {int(e["index"]) for e in errors}
    return set()


# ---------------------------------------------------------------- group commit
#
# On FerretDB/SQLite each write command is a transaction of its own, and the commit, not the
# document, is most of its cost: one insert_many of 8 case-sized documents ran ~3× the
# documents/s of 8 concurrent insert_one (bench/RESULTS.md, load). So concurrent inserts into
# one collection from this process are sent together: a caller that comes while a batch is in
# flight joins the next one (no waiting when nothing is in flight), and gets back its own
# documents' outcome. Unordered, so each document stands alone exactly as with insert_one (on
# MongoDB too): one caller's duplicate key fails that document only.
# (aiodataloader batches one loop tick only; calls from separate requests rarely share one.)

GROUP_MAX_DOCS = 100


class _Group:
    def __init__(self) -> None:
        self.waiting: list[tuple[list[Document], asyncio.Future[list[Document | None]]]] = []
        self.task: asyncio.Task[None] | None = None


_groups: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop,
                                   dict[tuple[int, str], _Group]] = weakref.WeakKeyDictionary()


async def insert_grouped(coll: AsyncCollection[Document], docs: Sequence[Document]) -> list[Document | None]:
    """Insert `docs` unordered, in one command with other callers' concurrent inserts into
    `coll`; per document None (stored) or its write error (`{"code": 11000, "errmsg": …}`).
    A failure of the whole command (database away) is raised as insert_many would."""
    if not docs:
        return []
    loop = asyncio.get_running_loop()
    groups = _groups.setdefault(loop, {})
    slot = (id(coll.database.client), coll.full_name)
    group = groups.setdefault(slot, _Group())
    done: asyncio.Future[list[Document | None]] = loop.create_future()
    group.waiting.append((list(docs), done))
    if group.task is None:
        group.task = loop.create_task(_flush(coll, group, groups, slot))
    return await done


async def insert_one_grouped(coll: AsyncCollection[Document], doc: Document) -> None:
    """`coll.insert_one(doc)` sent with other callers' concurrent inserts (insert_grouped);
    raises DuplicateKeyError / WriteError as insert_one does."""
    (error,) = await insert_grouped(coll, [doc])
    if error is not None:
        if error.get("code") == DUPLICATE_KEY:
            raise DuplicateKeyError(error.get("errmsg", "duplicate key"), DUPLICATE_KEY, error)
        raise WriteError(error.get("errmsg", "write error"), error.get("code"), error)


async def _flush(coll: AsyncCollection[Document], group: _Group,
                 groups: dict[tuple[int, str], _Group], slot: tuple[int, str]) -> None:
    try:
        while group.waiting:
            batch: list[tuple[list[Document], asyncio.Future[list[Document | None]]]] = []
            size = 0
            while group.waiting and (not batch or size + len(group.waiting[0][0]) <= GROUP_MAX_DOCS):
                item = group.waiting.pop(0)
                batch.append(item)
                size += len(item[0])
            docs = [doc for mine, _ in batch for doc in mine]
            errors: dict[int, Document] = {}
            try:
                await coll.insert_many(docs, ordered=False)
            except BulkWriteError as exc:
                if exc.details.get("writeConcernErrors"):
                    _fail(batch, exc)
                    continue
                errors = {int(e["index"]): e for e in exc.details.get("writeErrors", [])}
            except Exception as exc:
                _fail(batch, exc)
                continue
            except BaseException:
                for _, fut in batch:
                    fut.cancel()
                raise
            start = 0
            for mine, fut in batch:
                if not fut.done():
                    fut.set_result([errors.get(i) for i in range(start, start + len(mine))])
                start += len(mine)
    finally:
        for _, fut in group.waiting:
            fut.cancel()
        if groups.get(slot) is group:
            del groups[slot]


def _fail(batch: list[tuple[list[Document], asyncio.Future[list[Document | None]]]],
          exc: BaseException) -> None:
    for _, fut in batch:
        if not fut.done():
            fut.set_exception(exc)
