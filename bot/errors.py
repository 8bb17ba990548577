"""Errors of the bot's own records (invites, conversations)."""

from __future__ import annotations

from gridlink.errors import Conflict, InvalidInput, NotFound


class InviteUnknown(NotFound):
    code = "invite_unknown"


class InviteExpired(InvalidInput):
    code = "invite_expired"


class InviteUsed(Conflict):
    code = "invite_used"
