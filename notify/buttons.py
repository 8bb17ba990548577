"""Inline keyboards on notifications: the bot's own (CONTRACTS.md, bot), so buttons and handlers agree.

`c:<action>:<case_id>:<version>` for assignment actions and `r:<case_id>:<n>` for rating stars.
"""

from __future__ import annotations

from bot.keyboards import assignment_markup, rating_markup

__all__ = ["assignment_markup", "rating_markup"]
