"""Inline buttons on chat messages: a contract between notify, which sends them, and the bot,
which answers them (docs/CONTRACTS.md). Plain reply_markup JSON, no telegram types.

`c:<button>:<case_id>:<version>` for the actions on a case (the assigned unit's, and the
center's approve/refuse of an extension), `u:<approve|refuse>:<unit>:<case_id>:<version>` for
the center's answer to an assisting unit's extension request (a joint case's part, cases.joint),
`r:<case_id>:<n>` for rating stars,
`k:<case_id>:<y|n>` for the reporter's answer to "is it fixed?". Which buttons a message
carries is the caller's question to `cases.workflow`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from gridlink.i18n import t

# The workflow action behind each assignment button, in the order they are shown. "done" is
# the table's "feedback": the name stays because buttons already in chats carry it.
# approve/refuse are both the table's "decide" (the center's answer to an extension request).
ASSIGNMENT_BUTTONS: dict[str, str] = {
    "accept": "accept", "return": "return", "extend": "extend", "done": "feedback",
    "approve": "decide", "refuse": "decide"}
BUTTON_FOR_ACTION: dict[str, str] = {action: button for button, action in ASSIGNMENT_BUTTONS.items()}
# A joint case's assisting unit (cases.joint) presses the same buttons: its unit picks its part.
PART_ACTIONS: dict[str, str] = {"accept": "part_accept", "return": "part_return",
                                "feedback": "part_feedback", "extend": "part_extend"}
LEAD_ACTION: dict[str, str] = {part: lead for lead, part in PART_ACTIONS.items()}
BUTTON_FOR_ACTION.update({part: BUTTON_FOR_ACTION[lead] for lead, part in PART_ACTIONS.items()})
FIXED_ANSWERS = ("y", "n")
STARS = (1, 2, 3, 4, 5)

Markup = dict[str, Any]


def _button(text: str, data: str) -> dict[str, str]:
    return {"text": text, "callback_data": data}


def assignment_markup(case_id: str, version: int, locale: str,
                      actions: Iterable[str] | None = None) -> Markup:
    """The assignment buttons for `actions` (workflow names; all of them when None), two a row."""
    # None: the assigned unit's four (the center's approve/refuse only when "decide" is asked for)
    wanted = ({"accept", "return", "extend", "feedback"} if actions is None
              else {LEAD_ACTION.get(a, a) for a in actions})
    row = [_button(t(f"btn.{button}", locale), f"c:{button}:{case_id}:{version}")
           for button, action in ASSIGNMENT_BUTTONS.items() if action in wanted]
    return {"inline_keyboard": [row[i:i + 2] for i in range(0, len(row), 2)]}


def parse_assignment(payload: str) -> tuple[str, str, int] | None:
    """`<button>:<case_id>:<version>` (after `c:`) → (workflow action, case id, version)."""
    parsed = parse_button(payload)
    return None if parsed is None else parsed[1:]


def parse_button(payload: str) -> tuple[str, str, str, int] | None:
    """`<button>:<case_id>:<version>` (after `c:`) → (button, workflow action, case id, version)."""
    button, _, rest = payload.partition(":")
    case_id, _, version = rest.rpartition(":")
    if button not in ASSIGNMENT_BUTTONS or not case_id or not version.isdigit():
        return None
    return button, ASSIGNMENT_BUTTONS[button], case_id, int(version)


PART_DECISIONS = ("approve", "refuse")


def part_decision_markup(case_id: str, version: int, unit: str, locale: str) -> Markup:
    """The center's approve / refuse of the extension an assisting unit asked for its part."""
    return {"inline_keyboard": [[_button(t(f"btn.{button}", locale), f"u:{button}:{unit}:{case_id}:{version}")
                                 for button in PART_DECISIONS]]}


def parse_part_decision(payload: str) -> tuple[bool, str, str, int] | None:
    """`<approve|refuse>:<unit>:<case_id>:<version>` (after `u:`) → (approve, unit, case id, version)."""
    fields = payload.split(":")
    if len(fields) != 4 or fields[0] not in PART_DECISIONS or not all(fields[1:3]) or not fields[3].isdigit():
        return None
    return fields[0] == "approve", fields[1], fields[2], int(fields[3])


def fixed_markup(case_id: str, locale: str) -> Markup:
    """The reporter's answer to "is it fixed?": yes / not yet."""
    return {"inline_keyboard": [[_button(t("btn.fixed_yes", locale), f"k:{case_id}:y"),
                                 _button(t("btn.fixed_no", locale), f"k:{case_id}:n")]]}


def rating_markup(case_id: str, locale: str) -> Markup:
    """Five stars, three then two, for the message that asks a reporter to rate."""
    stars = [_button("⭐" * n, f"r:{case_id}:{n}") for n in STARS]
    return {"inline_keyboard": [stars[:3], stars[3:]]}
