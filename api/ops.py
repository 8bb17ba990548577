"""Operations views for staff: the notification outbox (counts, oldest queued, dead letters)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from aiohttp import web

from api.auth import require
from api.keys import CLOCK, DB, SETTINGS
from cases.visibility import CHAT_KEYS
from gridlink.db import Database, Document
from gridlink.errors import InvalidInput
from notify import repository as notify_repo

PREFIX = "/api/v1/ops"
SCAN = 100  # dead letters read per step while finding where a masked cursor stands


async def outbox(request: web.Request) -> web.Response:
    """Counts of queued, sending, sent, retry and dead messages and the oldest queued age."""
    await require(request)
    stats = await notify_repo.outbox_stats(request.app[DB], now=request.app[CLOCK].now())
    return web.json_response(stats)


async def dead_letters(request: web.Request) -> web.Response:
    """Messages that failed for good, oldest id first; `after` pages on.

    The admin sees everything. A dispatcher on call sees which message to whom (unit, role,
    name) failed and why, but no chat ids: a message's id holds its chat id, so theirs is
    masked (`<source>:<tag>`) and is also their page cursor. Other roles: 403.
    """
    who = await require(request, "dispatcher")
    raw = request.query.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= 500:
        raise InvalidInput("limit must be a whole number from 1 to 500", field="limit")
    limit, after = int(raw), request.query.get("after") or None
    db, secret = request.app[DB], request.app[SETTINGS].webhook_secret
    admin = who.role == "admin"
    if after is not None and not admin:
        after = await _unmask(db, after, secret)
    docs = await notify_repo.dead_letters(db, limit=limit, after=after)
    items: list[dict[str, Any]] = [{
        "id": d["_id"] if admin else _mask(d["_id"], secret), "chat_id": d.get("chat_id"),
        "kind": d.get("kind"), "case_id": d.get("case_id"), "error": d.get("error"),
        "attempts": d.get("attempts", 0), "created_at": _iso(d.get("created_at")),
        "dead_at": _iso(d.get("dead_at")), "recipient": d.get("recipient") or {},
    } for d in docs]
    if not admin:
        items = [_without_chat(i) for i in items]
    return web.json_response({"items": items,
                              "next": items[-1]["id"] if len(items) == limit else None})


def _without_chat(item: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in item.items() if k not in CHAT_KEYS}
    out["recipient"] = {k: v for k, v in item["recipient"].items() if k not in CHAT_KEYS}
    return out


def _tag(msg_id: str, secret: str) -> str:
    return "h" + hmac.new(secret.encode(), msg_id.encode(), hashlib.sha256).hexdigest()[:16]


def _mask(msg_id: str, secret: str) -> str:
    """`<source>:<chat id>` → `<source>:<tag>`: unique, stable, and says nothing of the chat."""
    return f"{msg_id.rpartition(':')[0]}:{_tag(msg_id, secret)}"


async def _unmask(db: Database, cursor: str, secret: str) -> str:
    """The id a masked cursor stands for, found among its source's dead letters (a raw id given
    by a non-admin is not taken: paging by guessed ids would reveal chat ids by their order)."""
    source, _, tag = cursor.rpartition(":")
    if not source or not tag.startswith("h"):
        raise InvalidInput("after must be the `next` of the previous page", field="after")
    start = after = f"{source}:"
    while True:
        docs: list[Document] = await notify_repo.dead_letters(db, limit=SCAN, after=after)
        for d in docs:
            if not d["_id"].startswith(start):
                return start  # that message is no longer dead: page on from its source
            if hmac.compare_digest(_tag(d["_id"], secret), tag):
                return str(d["_id"])
        if len(docs) < SCAN:
            return start
        after = docs[-1]["_id"]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def setup_routes(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/outbox", outbox)
    app.router.add_get(f"{PREFIX}/outbox/dead", dead_letters)
