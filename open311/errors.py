"""Errors of the Open311 layer; the HTTP layer renders them in the spec's error format."""

from __future__ import annotations

from gridlink.errors import InvalidInput, NotAuthenticated, NotFound


class ApiKeyMissing(NotAuthenticated):
    code = "api_key_missing"


class ApiKeyInvalid(NotAuthenticated):
    code = "api_key_invalid"


class ServiceNotFound(NotFound):
    code = "service_not_found"


class RequestNotFound(NotFound):
    code = "service_request_not_found"


class TokenNotFound(NotFound):
    code = "token_not_found"


class BadRequestInput(InvalidInput):
    code = "invalid_input"


class MissingLocation(InvalidInput):
    code = "location_missing"


class BadDate(InvalidInput):
    code = "bad_date"
