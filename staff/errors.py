"""Errors of staff accounts and desk sessions; each maps to HTTP through its gridlink base."""

from __future__ import annotations

from gridlink.errors import Conflict, InvalidInput, NotAuthenticated


class BadCredentials(NotAuthenticated):
    """Unknown user or wrong password (never says which)."""

    code = "bad_credentials"


class AccountLocked(NotAuthenticated):
    """Too many failed sign-ins: refused until `until`, whatever the password."""

    code = "account_locked"


class AccountDisabled(NotAuthenticated):
    code = "account_disabled"


class SessionExpired(NotAuthenticated):
    code = "session_expired"


class UsernameTaken(Conflict):
    code = "username_taken"


class BadAccount(InvalidInput):
    code = "invalid_account"
