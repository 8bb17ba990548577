"""Which desk actions a signed-in user may take on a case right now.

cases/ has no "allowed transitions" function, so this asks its guard functions
(`require_center`, `require_assignee`, `require_state` in cases.lifecycle: role, scope and
state checks) with the states of the lifecycle's state-machine table. The table below is that
table, one row per desk action; tests/desk/test_actions.py checks it against the lifecycle's
docstring and against the lifecycle itself, so the two cannot drift apart silently. The domain
still decides: a POST the table allowed but the domain refuses shows the domain's answer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from cases.errors import NotYourCase, TransitionNotAllowed
from cases.lifecycle import require_assignee, require_center, require_state
from cases.model import OPEN_STATES, Actor

Guard = Literal["center", "assignee"]


def _pending(case: dict[str, Any]) -> bool:
    return (case.get("extension") or {}).get("status") == "pending"


@dataclass(frozen=True)
class Rule:
    guard: Guard
    states: tuple[str, ...]
    when: Callable[[dict[str, Any]], bool] | None = None


# desk action → the lifecycle row(s) it performs
RULES: dict[str, Rule] = {
    "dispatch": Rule("center", ("reported", "returned")),        # dispatch / redispatch
    "accept": Rule("assignee", ("dispatched",)),
    "return": Rule("assignee", ("dispatched", "in_progress")),
    "extend": Rule("assignee", ("dispatched", "in_progress"), lambda c: not _pending(c)),
    "decide": Rule("center", ("dispatched", "in_progress"), _pending),  # decide_extension
    "feedback": Rule("assignee", ("in_progress",)),
    "verify": Rule("center", ("awaiting_verification",)),        # close / reopen
    "supervise": Rule("center", OPEN_STATES),
    "merge": Rule("center", OPEN_STATES),
    "rate": Rule("center", ("closed",), lambda c: c.get("rating") is None),
}


def check_role(action: str, case: dict[str, Any], actor: Actor) -> None:
    """The role and scope half of the guard, before anything else (NotYourCase → 403)."""
    if RULES[action].guard == "center":
        require_center(actor, case, action)
    else:
        require_assignee(actor, case, action)


def may(action: str, case: dict[str, Any], actor: Actor) -> bool:
    rule = RULES[action]
    try:
        if rule.guard == "center":
            require_center(actor, case, action)
        else:
            require_assignee(actor, case, action)
        require_state(case, rule.states, action)
    except (NotYourCase, TransitionNotAllowed):
        return False
    return rule.when is None or rule.when(case)


def allowed_actions(case: dict[str, Any], actor: Actor) -> list[str]:
    return [action for action in RULES if may(action, case, actor)]
