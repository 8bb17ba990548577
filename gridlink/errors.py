"""Domain errors shared by every package; `api/` maps them to HTTP codes, `bot/` to replies."""

from __future__ import annotations


class DomainError(Exception):
    """Base of every error a user may be told about. `code` is a stable machine-readable word."""

    code = "error"

    def __init__(self, message: str, **details: object) -> None:
        super().__init__(message)
        self.message = message
        self.details = details


class NotFound(DomainError):
    code = "not_found"


class WrongState(DomainError):
    code = "wrong_state"


class Conflict(DomainError):
    code = "conflict"


class PermissionDenied(DomainError):
    code = "forbidden"


class NotAuthenticated(DomainError):
    code = "unauthenticated"


class InvalidInput(DomainError):
    code = "invalid_input"


class RateLimited(DomainError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after: float, **details: object) -> None:
        super().__init__(message, retry_after=retry_after, **details)
        self.retry_after = retry_after


class Unavailable(DomainError):
    """A dependency (the database) cannot be reached right now."""

    code = "unavailable"
