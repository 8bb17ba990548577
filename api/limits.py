"""Request-size and JSON-shape limits, per route class, before any handler reads a body.

Three classes: routes that take a photo (PHOTO_MAX_BYTES + 1 MiB), routes only signed-in staff
reach (HTTP_MAX_BODY_STAFF), and everything else, anonymous (HTTP_MAX_BODY_ANONYMOUS). A body
past its class's size is a 413 JSON error; a JSON body deeper than JSON_MAX_DEPTH or not JSON
is a 400 JSON error, so nesting can never reach a recursive parser or encoder further in.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from api.errors import Handler, error_response
from api.keys import SETTINGS
from gridlink.errors import InvalidInput
from gridlink.settings import Settings

# (method, canonical route) of the routes that accept a photo upload.
PHOTO_ROUTES: frozenset[tuple[str, str]] = frozenset({
    ("POST", "/api/v1/media"),
    ("POST", "/open311/v2/requests.json"),
    ("POST", "/open311/v2/requests.xml"),
    ("POST", "/desk/intake"),
})
# Prefixes only staff reach (a bearer token or a desk session), minus the anonymous ones below.
STAFF_PREFIXES = ("/api/v1/", "/desk/")
ANONYMOUS_ROUTES: frozenset[tuple[str, str]] = frozenset({
    ("POST", "/desk/signin"),
    ("POST", "/api/v1/portal/cases/{serial}/rating"),
})
JSON_TYPES = ("application/json",)


def body_limit(request: web.Request, settings: Settings) -> int:
    """The largest body this route class accepts, in bytes."""
    resource = request.match_info.route.resource
    route = (request.method, resource.canonical if resource is not None else request.path)
    if route in PHOTO_ROUTES or route in (("POST", "/desk/admin/roster/import"),
                                          ("POST", "/desk/admin/grids/preview")):  # admin files
        return settings.photo_max_bytes + 1024 * 1024
    if route == ("POST", "/telegram/webhook"):  # Telegram's updates: small, but not tiny
        return settings.http_max_body_staff
    if route not in ANONYMOUS_ROUTES and request.path.startswith(STAFF_PREFIXES) \
            and not request.path.startswith(("/api/v1/public/", "/api/v1/portal/", "/api/v1/grids/")):
        return settings.http_max_body_staff
    return settings.http_max_body_anonymous


def json_depth(value: Any, limit: int) -> int:
    """The nesting depth of a decoded JSON value, counted without recursion; stops past `limit`."""
    depth = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            depth = max(depth, level)
            if depth > limit:
                return depth
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, level + 1) for child in children if isinstance(child, dict | list))
    return depth


class TooDeep(InvalidInput):
    code = "json_too_deep"


def parse_json(raw: bytes | str, *, max_depth: int) -> Any:
    """Decode a JSON body or raise InvalidInput (400): not JSON, or nested deeper than max_depth."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise TooDeep(f"JSON nested deeper than {max_depth} levels", max_depth=max_depth) from None
    except (ValueError, UnicodeDecodeError):  # JSONDecodeError is a ValueError
        raise InvalidInput("request body must be valid JSON") from None
    if json_depth(value, max_depth) > max_depth:
        raise TooDeep(f"JSON nested deeper than {max_depth} levels", max_depth=max_depth)
    return value


async def read_json_object(request: web.Request) -> dict[str, object]:
    """The body as a JSON object within the limits, or a 400 saying what is wrong
    (what api.errors.read_json should call)."""
    body = parse_json(await request.read(), max_depth=request.app[SETTINGS].json_max_depth)
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a JSON object")
    return body


def _too_large(limit: int) -> web.Response:
    return error_response(413, "body_too_large", f"the request body is larger than {limit} bytes",
                          limit=limit)


@web.middleware
async def request_limits(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Give the request its class's size limit; refuse oversized bodies (413) and JSON bodies
    that are too deep or not JSON (400) before the handler sees them."""
    if not request.can_read_body:
        return await handler(request)
    settings = request.app[SETTINGS]
    limit = body_limit(request, settings)
    if request.content_length is not None and request.content_length > limit:
        return _too_large(limit)
    if request.content_type == "multipart/form-data":
        # Not cloned: aiohttp closes a form's temporary files on the request it dispatched, not
        # on a clone. Content-Length above bounds the body; a chunked one gets the app's limit.
        if request.content_length is None and limit < request.client_max_size:
            return error_response(411, "length_required", "send a Content-Length with this form")
        return await handler(request)
    limited = request.clone(client_max_size=limit)
    if request.content_type != "application/x-www-form-urlencoded":
        try:
            raw = await limited.read()  # cached on the request: the handler reads it again free
        except web.HTTPRequestEntityTooLarge:
            return _too_large(limit)
        # request.json() ignores Content-Type, so anything that may be JSON is checked
        if request.content_type not in JSON_TYPES and raw.lstrip()[:1] not in (b"[", b"{"):
            return await handler(limited)
        try:
            parse_json(raw, max_depth=settings.json_max_depth)
        except TooDeep:
            raise  # 400 through the error middleware, in the route's own error format
        except InvalidInput:
            pass  # not JSON at all: the handler says so in its own words
    return await handler(limited)
