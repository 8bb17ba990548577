"""Error middleware: domain errors and database outages become JSON with a code and a message."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError
from pymongo.errors import ConnectionFailure, ExecutionTimeout, ServerSelectionTimeoutError

from gridlink import errors, metrics

log = logging.getLogger("gridlink.http")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATUS: dict[type[errors.DomainError], int] = {
    errors.NotFound: 404,
    errors.WrongState: 409,
    errors.Conflict: 409,
    errors.PermissionDenied: 403,
    errors.NotAuthenticated: 401,
    errors.InvalidInput: 400,
    errors.RateLimited: 429,
    errors.Unavailable: 503,
}

DB_DOWN = (ConnectionFailure, ServerSelectionTimeoutError, ExecutionTimeout)


def error_response(status: int, code: str, message: str, *, locale: str | None = None,
                   **details: object) -> web.Response:
    body: dict[str, object] = {"error": {"code": code, "message": message}}
    if locale:
        # A short title in the request's language (api.language); the message stays technical.
        from api.desk.i18n import CATALOG, t

        key = f"api_error.{code}" if f"api_error.{code}" in CATALOG else "api_error.other"
        body["error"]["title"] = t(key, locale)  # type: ignore[index]
    if details:
        body["error"]["details"] = details  # type: ignore[index]
    resp = web.json_response(body, status=status, dumps=lambda o: json.dumps(o, ensure_ascii=False, default=str))
    if locale:
        resp.headers["Content-Language"] = locale
    return resp


def _locale(request: web.Request) -> str | None:
    from api.language import request_locale

    try:
        return request_locale(request)
    except Exception:  # an error answer must not fail on the language (an app without settings)
        return None


def status_for(exc: errors.DomainError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]  # type: ignore[index]
    return 400


# Sub-APIs with an error format of their own (Open311's list of {code, description}) register
# a renderer for their path prefix, so errors raised outside them (rate limits) match too.
ErrorRenderer = Callable[[web.Request, int, str], web.Response]
ERROR_RENDERERS: dict[str, ErrorRenderer] = {}


def _domain_error_response(request: web.Request, exc: errors.DomainError) -> web.Response:
    for prefix, render in ERROR_RENDERERS.items():
        if request.path.startswith(prefix):
            return render(request, status_for(exc), exc.message)
    return error_response(status_for(exc), exc.code, exc.message, locale=_locale(request), **exc.details)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except errors.DomainError as exc:
        resp = _domain_error_response(request, exc)
        if isinstance(exc, errors.RateLimited):
            resp.headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
        return resp
    except DB_DOWN as exc:
        log.warning("database unavailable", extra={"path": request.path, "error": type(exc).__name__})
        return error_response(503, "database_unavailable", "the database cannot be reached; try again shortly",
                              locale=_locale(request))
    except web.HTTPException as exc:
        if exc.status >= 400 and (request.path.startswith("/api/") or exc.content_type != "text/html"):
            if exc.text and exc.content_type == "application/json":
                raise
            return error_response(exc.status, exc.reason.lower().replace(" ", "_"),
                                  exc.text or exc.reason, locale=_locale(request))
        raise


@web.middleware
async def access_log_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        elapsed = time.perf_counter() - started
        metrics.observe_request(request, status, elapsed)
        log.info("request", extra={
            "method": request.method,
            "path": request.path,
            "status": status,
            "ms": round(elapsed * 1000, 2),
        })


async def read_json(request: web.Request) -> dict[str, object]:
    """The request body as a JSON object, or a 400 that says what is wrong: api.limits's one
    reader, within JSON_MAX_DEPTH whatever the Content-Type (a form-typed body skips the
    middleware's check, and request.json() would recurse into it)."""
    from api.limits import read_json_object  # api.limits builds on this module

    return await read_json_object(request)


BodyModel = TypeVar("BodyModel", bound=BaseModel)


async def parse(request: web.Request, model: type[BodyModel]) -> BodyModel:
    """The JSON body validated by its model (the same model the OpenAPI document shows)."""
    # body_exists, not can_read_body: the limits middleware has read (and cached) it already.
    data = await read_json(request) if request.body_exists else {}
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        errs = [{"field": ".".join(str(p) for p in e["loc"]), "message": e["msg"]} for e in exc.errors()]
        first = errs[0]
        raise errors.InvalidInput(f"{first['field'] or 'body'}: {first['message']}", errors=errs) from None
