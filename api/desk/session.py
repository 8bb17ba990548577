"""Desk sign-in state over HTTP: the session cookie, CSRF checks, role checks, locale.

The session cookie is HttpOnly, SameSite=Lax and Secure when PUBLIC_BASE_URL is https or the
request came over https (gridlink.proxy: TLS here, or a trusted proxy's X-Forwarded-Proto). Every
POST form carries a CSRF token in the hidden field `csrf`: the session's token, or before
sign-in a random token also set as a cookie (double submit). A missing or wrong token is a 403.
"""

from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiDictProxy

from api.desk.i18n import LOCALE_COOKIE
from api.keys import CLOCK, DB, SETTINGS
from api.language import request_locale
from cases.model import Actor
from gridlink import proxy
from gridlink.errors import PermissionDenied
from staff import service
from staff.errors import SessionExpired
from staff.model import Session

SESSION_COOKIE = "gl_desk"
PRESESSION_COOKIE = "gl_desk_pre"


@dataclass
class _Seen:
    """The session found for this request (None: not signed in), looked up once."""

    session: Session | None


_SESSION = web.RequestKey("desk_session", _Seen)
_LOCALE = web.RequestKey("desk_locale", str)


class CsrfFailed(PermissionDenied):
    code = "csrf_failed"


class DeskForbidden(PermissionDenied):
    code = "forbidden"


def secure_cookies(request: web.Request) -> bool:
    return proxy.secure_cookies(request, request.app[SETTINGS])


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str,
               *, max_age: int | None = None) -> None:
    # The language is the product's, not the desk's: the public pages and their exports read it too.
    path = "/" if name == LOCALE_COOKIE else "/desk"
    response.set_cookie(name, value, path=path, httponly=True, samesite="Lax",
                        secure=secure_cookies(request), max_age=max_age)


def locale(request: web.Request) -> str:
    if _LOCALE not in request:
        seen = request.get(_SESSION)
        session = seen.session if seen else None
        # The one negotiator (api.language): cookie, then the account's setting, then the header.
        account = session.account.locale if session is not None else None
        request[_LOCALE] = request_locale(request, account=account or None)
    return request[_LOCALE]


async def current(request: web.Request) -> Session | None:
    if _SESSION not in request:
        raw = request.cookies.get(SESSION_COOKIE)
        found: Session | None = None
        if raw:
            try:
                found = await service.resume(request.app[DB], raw_id=raw, now=request.app[CLOCK].now())
            except SessionExpired:
                found = None
        request[_SESSION] = _Seen(found)
    return request[_SESSION].session


async def need(request: web.Request, *roles: str) -> Session:
    """The signed-in user, who must hold one of `roles` (admin always may); else sign-in / 403."""
    session = await current(request)
    if session is None:
        target = request.path_qs if request.method == "GET" else "/desk/"
        raise web.HTTPSeeOther(location=f"/desk/signin?next={_quote(target)}")
    if roles and session.account.role not in roles and session.account.role != "admin":
        raise DeskForbidden(f"role {session.account.role} may not open this page")
    return session


def actor(session: Session) -> Actor:
    a = session.account
    return Actor(role=a.role, unit=a.unit, name=a.name or a.username)


def _quote(path: str) -> str:
    from urllib.parse import quote

    return quote(path, safe="/")


# The public pages share the desk's header and its language switch (api/desk/templates/base.html).
PUBLIC_PAGES = ("/board", "/hotspots", "/trends", "/map", "/assessment", "/portal")


def safe_next(value: str | None, default: str) -> str:
    """Only local desk paths and the public pages: never an open redirect."""
    if value and (value.startswith("/desk/") or value.split("?")[0].split("#")[0] in PUBLIC_PAGES) \
            and not value.startswith("//") and "\\" not in value:
        return value
    return default


def _same(a: str | None, b: str | None) -> bool:
    return bool(a) and bool(b) and hmac.compare_digest(str(a), str(b))


async def read_form(request: web.Request, session: Session | None) -> MultiDictProxy[Any]:
    """The POSTed form (urlencoded or multipart), after checking its CSRF token."""
    try:
        form = await request.post()
    except ValueError:
        raise CsrfFailed("the form could not be read") from None
    token = form.get("csrf")
    expected = session.csrf if session is not None else request.cookies.get(PRESESSION_COOKIE)
    if not isinstance(token, str) or not _same(token, expected):
        raise CsrfFailed("missing or wrong CSRF token")
    return form


def presession_token(request: web.Request) -> str:
    return request.cookies.get(PRESESSION_COOKIE) or secrets.token_urlsafe(24)
