"""Operations views for staff: the notification outbox (counts, oldest queued, dead letters)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from api.auth import require
from api.keys import CLOCK, DB
from gridlink.errors import InvalidInput
from notify import repository as notify_repo

PREFIX = "/api/v1/ops"


async def outbox(request: web.Request) -> web.Response:
    """Counts of queued, sending, sent, retry and dead messages and the oldest queued age."""
    await require(request)
    stats = await notify_repo.outbox_stats(request.app[DB], now=request.app[CLOCK].now())
    return web.json_response(stats)


async def dead_letters(request: web.Request) -> web.Response:
    """Messages that failed for good, oldest id first; `after` pages on."""
    await require(request)
    raw = request.query.get("limit", "50")
    if not raw.isdigit() or not 1 <= int(raw) <= 500:
        raise InvalidInput("limit must be a whole number from 1 to 500", field="limit")
    docs = await notify_repo.dead_letters(request.app[DB], limit=int(raw),
                                          after=request.query.get("after") or None)
    items: list[dict[str, Any]] = [{
        "id": d["_id"], "chat_id": d.get("chat_id"), "kind": d.get("kind"),
        "case_id": d.get("case_id"), "error": d.get("error"), "attempts": d.get("attempts", 0),
        "created_at": _iso(d.get("created_at")), "dead_at": _iso(d.get("dead_at")),
        "recipient": d.get("recipient") or {},
    } for d in docs]
    return web.json_response({"items": items,
                              "next": items[-1]["id"] if len(items) == int(raw) else None})


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def setup_routes(app: web.Application) -> None:
    app.router.add_get(f"{PREFIX}/outbox", outbox)
    app.router.add_get(f"{PREFIX}/outbox/dead", dead_letters)
