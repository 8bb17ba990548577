"""Who hears of the center's toolset transitions (issue 22), in their language.

Called by `notify.notifier` for their events: a refused or voided report (the reporter, told
politely with the reason's words; a voided case's assignee too), a suspension (reporter and
assignee, with the review date), a resume (the assignee, or the center when none), and a
direct answer (the reporter gets the answer with the rating buttons, like a closed case).
Re-filing and re-placing tell nobody: the case is still the center's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from cases.refusals import words_of
from gridlink.buttons import rating_markup
from gridlink.db import Document
from notify.recipients import Directory, Recipient
from notify.texts import when

EVENTS = ("case.refused", "case.voided", "case.suspended", "case.resumed")


class Batch(Protocol):
    directory: Directory
    cfg: Any

    async def send(self, event: Document, case: Document, recipients: list[Recipient],
                   key: str, *, extra: Callable[[str], Awaitable[dict[str, Any]]] | None = None,
                   markup: Callable[[Recipient, str], Document | None] | None = None,
                   on_sent: Document | None = None, album: list[str] | None = None,
                   with_venue: bool = False, tag: str = "") -> None: ...


def handles(event: Document) -> bool:
    data = event.get("data") or {}
    return event.get("type") in EVENTS or (
        event.get("type") == "case.closed" and data.get("action") == "direct_answer")


async def _const(value: dict[str, Any]) -> dict[str, Any]:
    return value


async def handle(batch: Batch, event: Document, case: Document, *,
                 reporters: Callable[[], Awaitable[list[Recipient]]],
                 rating_code: Callable[[], Awaitable[str]]) -> None:
    kind, data = event.get("type"), event.get("data") or {}
    d, tz = batch.directory, batch.cfg.tz
    if kind in ("case.refused", "case.voided"):
        code = data.get("reason_code")

        async def why(loc: str) -> dict[str, Any]:
            return {"reason": words_of(case.get("refusal"), code, loc)}

        key = "notify.reporter_refused" if kind == "case.refused" else "notify.reporter_voided"
        await batch.send(event, case, await reporters(), key, extra=why, tag=":r")
        if kind == "case.voided" and case.get("assignee"):
            await batch.send(event, case, await d.assignee(case), "notify.voided", extra=why)
    elif kind == "case.suspended":
        review = data.get("review_at")

        async def held(loc: str) -> dict[str, Any]:
            return {"review": when(review, tz, loc), "reason": str(data.get("reason") or "—")}

        await batch.send(event, case, await reporters(), "notify.reporter_suspended",
                         extra=held, tag=":r")
        if case.get("assignee") and data.get("assignee"):
            await batch.send(event, case, await d.assignee(case), "notify.suspended", extra=held)
    elif kind == "case.resumed":
        told = await d.assignee(case) if case.get("assignee") and case.get("state") in (
            "dispatched", "in_progress") else await d.center(case=case)
        await batch.send(event, case, told, "notify.resumed")
    elif kind == "case.closed":  # a direct answer: the answer, and the rating buttons
        code = await rating_code()
        answer = str((case.get("result") or {}).get("text") or data.get("text") or "—")
        await batch.send(event, case, await reporters(), "notify.answered",
                         extra=lambda loc: _const({"result": answer, "code": code}),
                         markup=lambda _, loc: rating_markup(case["_id"], loc),
                         on_sent={"rating_prompt": case["_id"]})
