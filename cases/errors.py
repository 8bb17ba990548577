"""Errors of the case lifecycle; each maps to an HTTP status through its gridlink base class."""

from __future__ import annotations

from gridlink.errors import Conflict, InvalidInput, NotFound, PermissionDenied, WrongState


class CaseNotFound(NotFound):
    code = "case_not_found"


class CategoryNotFound(NotFound):
    code = "category_not_found"


class TransitionNotAllowed(WrongState):
    """The case is not in a state that allows this action (409, with the current state)."""

    code = "wrong_state"


class StaleCase(Conflict):
    """Someone else changed the case first (optimistic concurrency); 409 with the current state."""

    code = "stale_case"


class NotYourCase(PermissionDenied):
    code = "forbidden"


class CalendarNotCovered(Conflict):
    """A deadline needs a year the working-day calendar does not cover (holidays not yet entered)."""

    code = "calendar_not_covered"


class BadCaseInput(InvalidInput):
    code = "invalid_input"
