"""The case workflow as one table: every door (desk, bot, REST, Open311) asks it.

A row says which action may be taken from which states, what state it leads to (None: the
state is unchanged), who may take it and what it needs. `cases.lifecycle` enforces a row
with `check`; the doors offer buttons, forms and endpoints from `allowed_actions`. Adding a
transition is one row here plus its function in the lifecycle.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from cases.errors import NotYourCase, TransitionNotAllowed
from cases.model import CENTER_ROLES, HANDLER_ROLES, OPEN_STATES, STATES, Actor
from cases.visibility import in_area, is_reporter

# reporter: the reporter alone (their own answer in chat); reporter_or_center: the reporter, or
# the center recording what the reporter said on the phone.
# assisting: a unit with a part of a joint case (联勤联动), acting on its own part only.
Guard = Literal["center", "assignee", "assisting", "reporter", "reporter_or_center"]
Case = Mapping[str, Any]


def _pending(case: Case) -> bool:
    return (case.get("extension") or {}).get("status") == "pending"


def _not_pending(case: Case) -> bool:
    return not _pending(case)


def _consultation(case: Case) -> bool:
    return case.get("kind") == "consultation"


def _shown(case: Case) -> bool:
    return not case.get("hidden")


def _hidden(case: Case) -> bool:
    return bool(case.get("hidden"))


def _has_photos(case: Case) -> bool:
    return bool(case.get("photos") or case.get("after_photos") or case.get("result_photos"))


def _lead_working(case: Case) -> bool:
    """The lead unit has not fed back yet (a joint case waits for its other parts after)."""
    return not case.get("waiting_parts")


def _lead_working_not_pending(case: Case) -> bool:
    return _lead_working(case) and _not_pending(case)


def _part_not_pending(part: Case) -> bool:
    return (part.get("extension") or {}).get("status") != "pending"


def _a_part_pending(case: Case) -> bool:
    return any(not _part_not_pending(p) for p in case.get("parts") or [])


def _unrated(case: Case) -> bool:
    return case.get("rating") is None


def _reporter_question_open(case: Case) -> bool:
    """A chat reporter has not yet answered "is it fixed?" about the latest result."""
    if (case.get("reporter") or {}).get("chat_id") is None:
        return False
    answered = (case.get("reporter_callback") or {}).get("at")
    result_at = (case.get("result") or {}).get("at")
    return answered is None or (result_at is not None and answered < result_at)


@dataclass(frozen=True)
class Transition:
    action: str
    sources: tuple[str, ...]
    target: str | None  # None: the state does not change
    guard: Guard
    needs: tuple[str, ...] = ()  # fields the action requires ("a|b": exactly one of them)
    when: Callable[[Case], bool] | None = None
    # what the history records (`verify` records close or reopen, `dispatch` redispatch)
    records: tuple[str, ...] = ()
    # an "assisting" row: the states of the actor's own part it may start from (`sources`
    # are the case's states while the parts run)
    part_sources: tuple[str, ...] = ()
    part_when: Callable[[Case], bool] | None = None  # and the condition of the actor's part


TRANSITIONS: tuple[Transition, ...] = (
    Transition("dispatch", ("reported", "returned"), "dispatched", "center",
               records=("dispatch", "redispatch")),
    Transition("accept", ("dispatched",), "in_progress", "assignee", records=("accept",)),
    Transition("return", ("dispatched", "in_progress"), "returned", "assignee", ("reason",),
               _lead_working, records=("return",)),
    Transition("extend", ("dispatched", "in_progress"), None, "assignee",
               ("reason", "until|working_days|hours"), _lead_working_not_pending,
               records=("request_extension",)),
    Transition("decide", ("dispatched", "in_progress"), None, "center", ("approve",), _pending,
               records=("decide_extension",)),
    # a joint case stays in_progress (waiting_parts) until the last part's feedback
    Transition("feedback", ("in_progress",), "awaiting_verification", "assignee", ("text",),
               _lead_working, records=("feedback",)),
    Transition("verify", ("awaiting_verification",), "closed", "center", ("ok",),
               records=("close", "reopen")),
    Transition("supervise", OPEN_STATES, None, "center", records=("supervise",)),
    Transition("merge", OPEN_STATES, "merged", "center", ("into",), records=("merge",)),
    Transition("rate", ("closed",), None, "reporter_or_center", ("score",), _unrated,
               records=("rate",)),
    # The reporter's "is it fixed?" answer (回访 in chat): yes records the callback, "not yet"
    # reopens under supervision (recorded as reopen, like a failed verification).
    Transition("answer", ("awaiting_verification",), None, "reporter", ("fixed",),
               _reporter_question_open, records=("callback",)),
    # ---- the center's toolset (issue 22)
    # 不予立案: a report that is not a case (reason from the admin-kept list, cases.refusals); 作废 later on.
    Transition("refuse", ("reported", "returned"), "refused", "center", ("reason_code",),
               records=("refuse",)),
    Transition("void", ("dispatched", "in_progress", "awaiting_verification", "suspended"),
               "voided", "center", ("reason_code",), records=("void",)),
    # 挂账 until a review date; `resume` (by hand or at the date) goes back to the state the
    # case was suspended from (`target` None: the table cannot name it).
    Transition("suspend", ("reported", "returned", "dispatched", "in_progress"), "suspended",
               "center", ("reason", "review_at"), records=("suspend",)),
    Transition("resume", ("suspended",), None, "center", records=("resume",)),
    # 直接答复: a consultation answered at intake is closed with the answer (then rated).
    Transition("direct_answer", ("reported",), "closed", "center", ("text",), _consultation,
               records=("direct_answer",)),
    # Re-file (another category) and re-place (another location) before dispatch or on return.
    Transition("refile", ("reported", "returned"), None, "center", ("category", "reason"),
               records=("refile",)),
    Transition("replace", ("reported", "returned"), None, "center", ("location",),
               records=("replace",)),
)
# ---- moderation (cases.moderation), in any state: hide the case from every public view and
# show it again; redact a photo (the blurred copy replaces it publicly).
TRANSITIONS += (
    Transition("hide", STATES, None, "center", ("reason",), _shown, records=("hide",)),
    Transition("unhide", STATES, None, "center", (), _hidden, records=("unhide",)),
    Transition("redact", STATES, None, "center", ("photo", "boxes"), _has_photos,
               records=("redact",)),
)
# ---- automatic dispatch (cases.autodispatch): the center takes an automatic assignment back
# into its own dispatch queue (before or after the unit accepted it).
TRANSITIONS += (
    Transition("take_back", ("dispatched", "in_progress"), "reported", "center",
               when=lambda case: bool(case.get("auto_dispatched")), records=("take_back",)),
)
# ---- joint cases (联勤联动, cases.joint): the center adds assisting units to a running case
# (or dispatches with them), each with its own part and deadline; an assisting unit accepts,
# returns or feeds back its own part. The case reaches awaiting_verification when the lead and
# every open part have fed back; a failed verification sends the parts back with the lead.
TRANSITIONS += (
    Transition("assist", ("dispatched", "in_progress"), None, "center", ("units",),
               records=("assist",)),
    Transition("part_accept", ("dispatched", "in_progress"), None, "assisting",
               records=("part_accept",), part_sources=("dispatched",)),
    Transition("part_return", ("dispatched", "in_progress"), None, "assisting", ("reason",),
               records=("part_return",), part_sources=("dispatched", "in_progress")),
    Transition("part_feedback", ("dispatched", "in_progress"), None, "assisting", ("text",),
               records=("part_feedback",), part_sources=("in_progress",)),
    # a part's own extension: asked by its unit, decided by the center (the part named)
    Transition("part_extend", ("dispatched", "in_progress"), None, "assisting",
               ("reason", "until|working_days|hours"), records=("part_request_extension",),
               part_sources=("dispatched", "in_progress"), part_when=_part_not_pending),
    Transition("part_decide", ("dispatched", "in_progress"), None, "center", ("unit", "approve"),
               _a_part_pending, records=("part_decide_extension",)),
)
BY_ACTION: dict[str, Transition] = {t.action: t for t in TRANSITIONS}
ACTIONS: tuple[str, ...] = tuple(BY_ACTION)
# Actions the assigned unit takes (the bot's assignment buttons, the handler's desk forms).
HANDLER_ACTIONS: tuple[str, ...] = tuple(t.action for t in TRANSITIONS if t.guard == "assignee")
# Actions a unit takes on its own part of a joint case.
PART_ACTIONS: tuple[str, ...] = tuple(t.action for t in TRANSITIONS if t.guard == "assisting")


def transition(action: str) -> Transition:
    try:
        return BY_ACTION[action]
    except KeyError:
        raise TransitionNotAllowed(f"unknown action {action!r}; one of {', '.join(ACTIONS)}",
                                   action=action) from None


def is_assignee(actor: Actor, case: Case) -> bool:
    assignee = case.get("assignee") or {}
    return actor.role in HANDLER_ROLES and bool(assignee) and actor.unit == assignee.get("unit")


def part_of(case: Case, unit: str | None) -> Mapping[str, Any] | None:
    """The unit's part of a joint case (None: it has none)."""
    return next((p for p in case.get("parts") or [] if unit and p.get("unit") == unit), None)


def is_assisting(actor: Actor, case: Case) -> bool:
    return actor.role in HANDLER_ROLES and part_of(case, actor.unit) is not None


def check_role(actor: Actor, case: Case, action: str) -> None:
    """Who may take the action on this case (NotYourCase otherwise), whatever its state."""
    row = transition(action)
    if row.guard == "reporter":
        if not is_reporter(actor, case):
            raise NotYourCase(f"only the case's reporter may {action}", role=actor.role)
        return
    # the system acts for the center only by rules an admin set (cases.autodispatch)
    if actor.role == "admin" or (actor.role == "system" and row.guard == "center"):
        return
    if row.guard == "center" or (row.guard == "reporter_or_center" and actor.role in CENTER_ROLES):
        if actor.role not in CENTER_ROLES:
            raise NotYourCase(f"only a center dispatcher may {action}", role=actor.role)
        if not in_area(actor, case):
            raise NotYourCase(f"case {case.get('serial')} is outside your center's area", unit=actor.unit)
    elif row.guard == "assisting":
        if not is_assisting(actor, case):
            raise NotYourCase(f"only an assisting unit of the case may {action}", role=actor.role,
                              parts=[p.get("unit") for p in case.get("parts") or []])
    elif row.guard == "assignee":
        if not is_assignee(actor, case):
            raise NotYourCase(f"only the assigned unit may {action}", role=actor.role,
                              assignee=(case.get("assignee") or {}).get("unit"))
    elif not is_reporter(actor, case):
        raise NotYourCase(f"only the case's reporter may {action}", role=actor.role)


def role_may(actor: Actor, action: str) -> bool:
    """Whether the principal's role can ever take the action (before any case is read)."""
    guard = transition(action).guard
    if actor.role == "admin" or guard in ("reporter", "reporter_or_center"):
        return True
    return actor.role in (CENTER_ROLES if guard == "center" else HANDLER_ROLES)


def check_role_may(actor: Actor, action: str) -> None:
    if not role_may(actor, action):
        needed = "a center dispatcher" if transition(action).guard == "center" else "a handling unit"
        raise NotYourCase(f"role {actor.role!r} may not {action}; needs {needed}", role=actor.role)


def check_state(case: Case, action: str, actor: Actor | None = None) -> None:
    """Whether the case's state (and its condition, e.g. a pending extension) allows it now;
    for an assisting row also the state of the actor's part (any part's without an actor)."""
    row = transition(action)
    state = case.get("state")
    if state not in row.sources:
        raise TransitionNotAllowed(
            f"cannot {action} a case that is {state} (allowed from: {', '.join(row.sources)})",
            state=state, version=case.get("version"), case_id=case.get("_id"), action=action)
    if row.part_sources:
        parts = [part_of(case, actor.unit)] if actor is not None else list(case.get("parts") or [])
        states = [p.get("state") for p in parts if p]
        if not any(s in row.part_sources for s in states):
            raise TransitionNotAllowed(
                f"cannot {action} a part that is {', '.join(map(str, states)) or 'missing'} "
                f"(allowed from: {', '.join(row.part_sources)})",
                state=state, part_state=states[0] if states else None,
                version=case.get("version"), case_id=case.get("_id"), action=action)
        if row.part_when is not None and not any(
                row.part_when(p) for p in parts if p and p.get("state") in row.part_sources):
            raise TransitionNotAllowed("an extension request for this part is already waiting",
                                       state=state, version=case.get("version"),
                                       case_id=case.get("_id"), action=action)
    if row.when is not None and not row.when(case):
        reason = {"extend": "an extension request is already waiting for a decision",
                  "decide": "there is no pending extension request",
                  "part_decide": "no assisting unit's extension request is waiting",
                  "rate": "this case has already been rated",
                  "direct_answer": "only a consultation can be answered directly"}.get(action, f"cannot {action} now")
        if action in ("feedback", "return", "extend") and not _lead_working(case):
            reason = "the lead unit has fed back; the case waits for its assisting units"
        raise TransitionNotAllowed(reason, state=state, version=case.get("version"),
                                   case_id=case.get("_id"), action=action)


def check(actor: Actor, case: Case, action: str) -> None:
    """The whole guard: role and area first (403), then state (409)."""
    check_role(actor, case, action)
    check_state(case, action, actor)


def state_allows(case: Case, action: str) -> bool:
    """Whether the case's state (and condition) allows the action now, whoever takes it."""
    try:
        check_state(case, action)
    except TransitionNotAllowed:
        return False
    return True


def may(actor: Actor, case: Case, action: str) -> bool:
    try:
        check(actor, case, action)
    except (NotYourCase, TransitionNotAllowed):
        return False
    return True


def allowed_actions(actor: Actor, case: Case) -> list[str]:
    """The actions this principal may take on the case now, in the table's order."""
    return [t.action for t in TRANSITIONS if may(actor, case, t.action)]


def action_of_record(recorded: str) -> str:
    """The table's action of a history entry's action name (e.g. close → verify)."""
    for row in TRANSITIONS:
        if recorded in row.records:
            return row.action
    return recorded
