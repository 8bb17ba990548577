"""Who hears of a joint case's parts (联勤联动, cases.joint), in their language.

Called by `notify.notifier` for every event, beside its own messages (tagged apart, so one
recipient can get both): each assisting unit's members get their own assignment with their
part's deadline and the buttons the workflow allows them (the same accept/return/done as a
lead; their unit picks the part) when the case is dispatched with them or the center adds them;
the center hears "waiting for: <units>" when the lead has fed back before the others, and each
part's result or return; a failed verification tells the parts it sends back.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from cases import workflow
from cases.colour import OPEN_PART_STATES, colour_of, part_colour
from cases.joint import request_waiting
from cases.workflow import part_of
from gridlink.buttons import part_decision_markup
from gridlink.db import Document
from gridlink.i18n import t
from notify import render
from notify.recipients import Directory, Recipient
from notify.texts import unit_name, when


class Batch(Protocol):
    directory: Directory
    cfg: Any
    now: Any

    async def send(self, event: Document, case: Document, recipients: list[Recipient],
                   key: str, *, extra: Callable[[str], Awaitable[dict[str, Any]]] | None = None,
                   markup: Callable[[Recipient, str], Document | None] | None = None,
                   on_sent: Document | None = None, album: list[str] | None = None,
                   with_venue: bool = False, tag: str = "") -> None: ...


def _buttons(case: Document) -> Callable[[Recipient, str], Document | None]:
    def markup(recipient: Recipient, locale: str) -> Document | None:
        return render.case_buttons(case, recipient, locale)
    return markup


async def _names(d: Directory, codes: list[str], locale: str) -> str:
    out = []
    for code in codes:
        out.append(unit_name(await d.unit(code), locale, code))
    return "、".join(out) if locale.startswith("zh") else ", ".join(out)


async def handle(batch: Batch, event: Document, case: Document) -> None:
    kind, data = event.get("type"), event.get("data") or {}
    d, tz = batch.directory, batch.cfg.tz
    if kind in ("case.assigned", "case.assisting", "case.reopened"):
        codes = data.get("assisting") or data.get("units") or data.get("parts") or []
        for code in codes:
            part = part_of(case, code)
            if part is None or part.get("state") not in OPEN_PART_STATES:
                continue
            due, dot = part.get("due_at"), part_colour(part, batch.now)

            async def extra(loc: str, due: Any = due, dot: str = dot) -> dict[str, Any]:
                return {"deadline": when(due, tz, loc), "dot": t(f"colour.{dot}", loc),
                        "reason": str(data.get("reason") or "—")}

            key = "notify.reopened" if kind == "case.reopened" else "notify.part_assignment"
            await batch.send(event, case, await d.members(code, kind=part.get("kind")), key,
                             extra=extra, markup=_buttons(case),
                             album=None if kind == "case.reopened" else list(case.get("photos") or []),
                             with_venue=kind != "case.reopened", tag=f":j:{code}")
    elif kind == "case.feedback" and data.get("waiting_for"):
        waiting = list(data["waiting_for"])

        async def names(loc: str) -> dict[str, Any]:
            return {"units": await _names(d, waiting, loc), "dot": t(f"colour.{colour_of(case, batch.now)}", loc)}

        await batch.send(event, case, await d.center(case=case), "notify.waiting_parts",
                         extra=names, tag=":j")
    elif kind == "case.part_extension_requested":
        asked = str(data.get("unit") or "")

        async def ask_kw(loc: str) -> dict[str, Any]:
            return {"unit": unit_name(await d.unit(asked), loc, asked),
                    "reason": str(data.get("reason") or "—"),
                    "deadline": when(data.get("previous"), tz, loc)}

        def decide(recipient: Recipient, locale: str) -> Document | None:
            return (part_decision_markup(case["_id"], int(case.get("version") or 0), asked, locale)
                    if request_waiting(case, asked) and workflow.may(recipient.actor(), case, "part_decide")
                    else None)

        await batch.send(event, case, await d.center(case=case), "notify.extension_requested",
                         extra=ask_kw, markup=decide, tag=":j")
    elif kind == "case.part_extension_decided":
        code = str(data.get("unit") or "")
        part = part_of(case, code) or {}
        key = "notify.extension_approved" if data.get("approved") else "notify.extension_refused"

        async def decided_kw(loc: str) -> dict[str, Any]:
            return {"deadline": when(data.get("deadline"), tz, loc),
                    "reason": str(data.get("reason") or "")}

        await batch.send(event, case, await d.members(code, kind=part.get("kind")), key,
                         extra=decided_kw, markup=_buttons(case), tag=f":j:{code}")
    elif kind in ("case.part_feedback", "case.part_returned"):
        code = str(data.get("unit") or "")
        still = [p["unit"] for p in case.get("parts") or [] if p.get("state") in OPEN_PART_STATES]

        async def part_kw(loc: str) -> dict[str, Any]:
            return {"unit": unit_name(await d.unit(code), loc, code),
                    "result": str(data.get("text") or "—"), "reason": str(data.get("reason") or "—"),
                    "units": await _names(d, still, loc) if still else "—"}

        key = "notify.part_feedback_center" if kind == "case.part_feedback" else "notify.part_returned"
        await batch.send(event, case, await d.center(case=case), key, extra=part_kw, tag=":j")
