"""The language of an HTTP request, for every web surface (desk, stats pages and their JSON,
exports, Open311, API errors): the one negotiator `gridlink.i18n.negotiate` fed with the
request's explicit choice and its Accept-Language header."""

from __future__ import annotations

from collections.abc import Mapping

from aiohttp import web

from api.desk.i18n import LOCALE_COOKIE
from api.keys import SETTINGS
from gridlink.i18n import negotiate


def request_locale(request: web.Request, *, params: Mapping[str, str] | None = None,
                   account: str | None = None) -> str:
    """`zh-CN` or `en`. Explicit choices first — the `locale` (or `lang`) parameter of the query
    or of `params` (a form), then the locale cookie, then the signed-in account's setting —
    then Accept-Language by q-value, then the DEFAULT_LOCALE setting."""
    chosen = None
    for source in (params, request.query):
        if source is not None:
            chosen = chosen or source.get("locale") or source.get("lang")
    chosen = chosen or request.cookies.get(LOCALE_COOKIE) or account
    return negotiate(chosen=chosen, accept=request.headers.get("Accept-Language"),
                     default=request.config_dict[SETTINGS].default_locale)


def lang_of(locale: str) -> str:
    """The pages' short form: `zh` or `en`."""
    return "en" if locale == "en" else "zh"
