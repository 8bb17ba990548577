"""Inline keyboards on notifications, in the callback_data formats the bot owns (CONTRACTS.md, bot).

`c:<action>:<case_id>:<version>` for assignment actions and `r:<case_id>:<n>` for rating stars.
"""

from __future__ import annotations

from typing import Any

from notify.texts import t

ASSIGNMENT_ACTIONS = ("accept", "return", "extend", "done")


def assignment_markup(case_id: str, version: int, locale: str) -> dict[str, Any]:
    row = [{"text": t(f"btn.{action}", locale), "callback_data": f"c:{action}:{case_id}:{version}"}
           for action in ASSIGNMENT_ACTIONS]
    return {"inline_keyboard": [row[:2], row[2:]]}


def rating_markup(case_id: str) -> dict[str, Any]:
    return {"inline_keyboard": [[{"text": "★" * n, "callback_data": f"r:{case_id}:{n}"}
                                 for n in range(5, 0, -1)]]}
