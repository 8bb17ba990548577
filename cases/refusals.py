"""Why a report is not accepted (不予立案) or a case voided (作废): an admin-kept list (issue 22).

Stored in `refusal_reasons` as `{_id: code, zh, en, active}`, seeded with the defaults
(cases.model.REFUSAL_REASONS) where one is missing. Codes are stored on cases, so a reason is
never renamed or deleted: an admin adds one, edits its words, or retires it (inactive: no
longer offered, still named on the cases that carry it).
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from cachetools import TTLCache
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from pymongo import ASCENDING

from cases.errors import BadCaseInput
from cases.model import REFUSAL_REASONS
from gridlink.db import Database, Document, insert_new

CODE_PATTERN = r"^[a-z][a-z0-9_]{1,40}$"


class RefusalReason(BaseModel):
    model_config = ConfigDict(extra="forbid")
    code: str = Field(pattern=CODE_PATTERN)
    zh: str = Field(min_length=1, max_length=60)
    en: str = Field(min_length=1, max_length=120)
    active: bool = True

    def to_doc(self) -> Document:
        doc = self.model_dump()
        doc["_id"] = doc.pop("code")
        return doc


DEFAULT_REASONS: tuple[RefusalReason, ...] = tuple(
    RefusalReason(code=code, zh=zh, en=en) for code, (zh, en) in REFUSAL_REASONS.items())


def parse_reason(data: dict[str, Any]) -> RefusalReason:
    """A reason from an admin's input (words stripped), or BadCaseInput naming the field."""
    data = {k: v.strip() if isinstance(v, str) else v for k, v in data.items()}
    try:
        return RefusalReason(**data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "reason"
        raise BadCaseInput(f"{where}: {first['msg']}", field=where, errors=[
            {"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()
        ]) from None


# Edited only by an admin; each process keeps what it read for a few seconds, like categories
# (an edit made through this process is seen at once).
_LISTS: TTLCache[str, list[Document]] = TTLCache(maxsize=64, ttl=10.0)


async def seed_reasons(db: Database) -> int:
    """Store each default reason that is missing (an admin's edits to stored ones stay)."""
    docs = [r.to_doc() for r in DEFAULT_REASONS]
    seeded = len(docs) - len(await insert_new(db.refusal_reasons, docs))
    _LISTS.pop(db.name, None)  # read afresh after a (re)start, e.g. of a database made anew
    return seeded


async def list_reasons(db: Database, *, include_inactive: bool = True) -> list[Document]:
    cached = _LISTS.get(db.name)
    if cached is None:  # a handful of documents: read whole, by code
        cached = [doc async for doc in db.refusal_reasons.find({}).sort("_id", ASCENDING)]
        _LISTS[db.name] = cached
    return [copy.deepcopy(d) for d in cached if include_inactive or d.get("active", True)]


async def active_reason(db: Database, *, code: str) -> Document:
    """The stored reason `code` if it may be given now, or BadCaseInput naming the valid codes."""
    offered = await list_reasons(db, include_inactive=False)
    for doc in offered:
        if doc["_id"] == code:
            return doc
    valid = ", ".join(d["_id"] for d in offered)
    retired = any(d["_id"] == code for d in await list_reasons(db))
    what = f"reason {code!r} is retired" if retired else f"unknown reason {code!r}"
    raise BadCaseInput(f"{what}; reason_code must be one of {valid}", field="reason_code")


async def put_reason(db: Database, *, reason: RefusalReason, now: datetime, by: str) -> Document:
    doc = reason.to_doc()
    doc.update(updated_at=now, updated_by=by)
    await db.refusal_reasons.replace_one({"_id": doc["_id"]}, doc, upsert=True)
    _LISTS.pop(db.name, None)
    return doc


def changes(before: Document | None, after: Document) -> dict[str, str]:
    """What storing `after` changed of `before` (None: a new reason), `old → new` per field:
    the audit log's detail."""
    old = before or {}
    return {k: f"{old.get(k)} → {after.get(k)}" for k in ("zh", "en", "active") if old.get(k) != after.get(k)}


def words_of(refusal: Document | None, code: str | None, locale: str) -> str:
    """A case's reason in `locale`: the words stored on the case, else (cases refused before
    they were stored) the default list's, else a dash."""
    en = locale.startswith("en")
    stored = (refusal or {}).get("label_en" if en else "label_zh")
    if stored:
        return str(stored)
    zh_en = REFUSAL_REASONS.get(str(code or (refusal or {}).get("code")))
    if zh_en:
        return zh_en[1] if en else zh_en[0]
    return "—"
