"""Moderation over REST: hide/unhide a case, redact one of its photos, block a chat user.

    POST   /api/v1/cases/{ref}/hide            {reason, version?}
    POST   /api/v1/cases/{ref}/unhide          {reason?, version?}
    POST   /api/v1/cases/{ref}/redact          {photo, boxes: [{x, y, w, h}], reason?, version?}
    GET    /api/v1/moderation/blocks           the blocks in force the caller may end
    POST   /api/v1/moderation/blocks           {case | user_id (admin), reason, until}
    DELETE /api/v1/moderation/blocks/{id}      end a block now (?reason=)
    GET    /api/v1/moderation/log              the last days' moderation actions

Handlers parse, call `cases.moderation` (which checks role, area and state through the
workflow table) and answer like the other transitions (`api.cases`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from api.auth import actor_of, require
from api.cases import NoteBody, ReasonBody, TransitionRoute, VersionedBody, _answer, _now
from api.errors import parse
from api.keys import DB, PHOTO_WORKERS, SETTINGS
from cases import moderation, workflow
from cases.visibility import jsonable

PREFIX = "/api/v1"


def _example(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": list(examples)})


class Box(BaseModel):
    """A rectangle in fractions of the picture's width and height (0–1), from its top left."""

    model_config = ConfigDict(extra="forbid")
    x: float = Field(ge=0, le=1)
    y: float = Field(ge=0, le=1)
    w: float = Field(gt=0, le=1)
    h: float = Field(gt=0, le=1)


class RedactBody(VersionedBody):
    model_config = _example({"photo": "5f0c…", "boxes": [{"x": 0.4, "y": 0.2, "w": 0.2, "h": 0.25}],
                             "reason": "a passer-by's face"})
    photo: str = Field(min_length=1, max_length=64, description="one of the case's photo ids")
    boxes: list[Box] = Field(min_length=1, max_length=20)
    reason: str | None = Field(None, max_length=1000)


class BlockBody(BaseModel):
    """Exactly one of `case` (block its chat reporter) or `user_id` (admin only)."""

    model_config = _example({"case": "A20261127-00001", "reason": "abusive messages",
                             "until": "2026-12-31T00:00:00+08:00"})
    case: str | None = Field(None, min_length=1, max_length=60, description="id or serial")
    user_id: int | None = None
    reason: str = Field(min_length=1, max_length=500)
    until: datetime

    @model_validator(mode="after")
    def _one_target(self) -> BlockBody:
        if (self.case is None) == (self.user_id is None):
            raise ValueError("give exactly one of case or user_id")
        return self


async def _redact(request: web.Request) -> web.Response:
    who = await require(request)
    actor, now = actor_of(who), _now(request)
    workflow.check_role_may(actor, "redact")
    body = await parse(request, RedactBody)
    case = await moderation.redact(
        request.app[DB], case_ref=request.match_info["ref"], actor=actor, now=now,
        photo=body.photo, boxes=[(b.x, b.y, b.w, b.h) for b in body.boxes], reason=body.reason,
        workers=request.app.get(PHOTO_WORKERS), expected_version=body.version)
    return _answer(actor, case, request)


ROUTES = (
    TransitionRoute("hide", "Hide the case from every public view (reason required)", ReasonBody,
                    lambda db, ref, a, now, pol, b: moderation.hide(
                        db, case_ref=ref, actor=a, now=now, reason=b.reason,
                        expected_version=b.version)),
    TransitionRoute("unhide", "Show a hidden case again as before", NoteBody,
                    lambda db, ref, a, now, pol, b: moderation.unhide(
                        db, case_ref=ref, actor=a, now=now, reason=b.note,
                        expected_version=b.version)),
)


async def list_blocks(request: web.Request) -> web.Response:
    who = await require(request, "dispatcher")
    actor = actor_of(who)
    blocks = await moderation.active_blocks(request.app[DB], actor=actor, now=_now(request))
    return web.json_response({"blocks": [jsonable(moderation.block_view(b, actor)) for b in blocks]})


async def create_block(request: web.Request) -> web.Response:
    who = await require(request, "dispatcher")
    actor, now = actor_of(who), _now(request)
    body = await parse(request, BlockBody)
    db = request.app[DB]
    if body.case is not None:
        block = await moderation.block_reporter(db, case_ref=body.case, actor=actor, now=now,
                                                reason=body.reason, until=body.until)
    else:
        block = await moderation.block_user(db, user_id=int(body.user_id or 0), actor=actor, now=now,
                                            reason=body.reason, until=body.until,
                                            district=request.app[SETTINGS].district_code)
    return web.json_response({"block": jsonable(moderation.block_view(block, actor))}, status=201)


async def end_block(request: web.Request) -> web.Response:
    who = await require(request, "dispatcher")
    actor = actor_of(who)
    block = await moderation.unblock(request.app[DB], block_id=request.match_info["block_id"],
                                     actor=actor, now=_now(request),
                                     reason=request.query.get("reason"))
    return web.json_response({"block": jsonable(moderation.block_view(block, actor))})


async def moderation_log(request: web.Request) -> web.Response:
    who = await require(request, "dispatcher")
    entries = await moderation.recent_log(request.app[DB], now=_now(request))
    actor = actor_of(who)
    # a street's center sees its own area's case actions and its blocks; the district all
    mine = {b["_id"] for b in await moderation.active_blocks(request.app[DB], actor=actor,
                                                             now=_now(request))}
    seen = [e for e in entries if actor.role == "admin" or actor.unit == request.app[SETTINGS].district_code
            or e.get("block_id") in mine or (e.get("moderator") or {}).get("unit") == actor.unit]
    return web.json_response({"entries": [jsonable({**{k: v for k, v in e.items() if k != "_id"},
                                                    "id": e["_id"]}) for e in seen]})


def setup_routes(app: web.Application) -> None:
    r = app.router
    for route in ROUTES:
        r.add_post(f"{PREFIX}/cases/{{ref}}/{route.path}", route.handle)
    r.add_post(f"{PREFIX}/cases/{{ref}}/redact", _redact)
    r.add_get(f"{PREFIX}/moderation/blocks", list_blocks)
    r.add_post(f"{PREFIX}/moderation/blocks", create_block)
    r.add_delete(f"{PREFIX}/moderation/blocks/{{block_id}}", end_block)
    r.add_get(f"{PREFIX}/moderation/log", moderation_log)
