"""Access control over EVERY route the app serves × every staff role, no token, an expired token
and a token of another district. The routes are enumerated from `app.router` at test time, so a
new route without a line in EXPECTED fails here until someone decides who may call it."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from api.ratelimit import INTAKE_ROUTES
from gridlink import auth
from gridlink.clock import FakeClock
from gridlink.db import Database

PUBLIC = "public"          # anyone, no token needed
STAFF = "staff"            # any valid staff token of this district
ADMIN = ("admin",)         # admin only
DISPATCH = ("dispatcher",)  # dispatcher (admin may do anything)
SECRET = "webhook-secret"  # the Telegram secret header, not a staff token
OPEN311_KEY = "open311-key"  # an Open311 api_key, not a staff token
DESK = "desk-session"      # a desk sign-in cookie, never a bearer token
CSRF = "csrf-form"         # a desk form: refused without its CSRF field, whoever calls

EXPECTED: dict[tuple[str, str], Any] = {
    ("GET", "/healthz"): PUBLIC,
    # the grid is public geography (no people in it)
    ("GET", "/api/v1/grids/units"): PUBLIC,
    ("GET", "/api/v1/grids/units/{code}"): PUBLIC,
    ("GET", "/api/v1/grids/place"): PUBLIC,
    ("POST", "/api/v1/media"): STAFF,
    ("GET", "/api/v1/media/{photo_id}"): STAFF,  # unless the photo is public (tested below)
    ("POST", "/telegram/webhook"): SECRET,
    ("POST", "/api/v1/admin/invites"): ADMIN,
    ("DELETE", "/api/v1/admin/roster/{user_id}"): ADMIN,
    ("POST", "/api/v1/cases"): DISPATCH,
    ("GET", "/api/v1/cases"): STAFF,
    ("GET", "/api/v1/cases/{ref}"): STAFF,
    ("POST", "/api/v1/cases/{ref}/dispatch"): DISPATCH,
    ("POST", "/api/v1/cases/{ref}/accept"): STAFF,  # the case's assignee: checked by cases/
    ("POST", "/api/v1/cases/{ref}/return"): STAFF,
    ("POST", "/api/v1/cases/{ref}/extension"): STAFF,
    ("POST", "/api/v1/cases/{ref}/extension/decision"): DISPATCH,
    ("POST", "/api/v1/cases/{ref}/feedback"): STAFF,
    ("POST", "/api/v1/cases/{ref}/verify"): DISPATCH,
    ("POST", "/api/v1/cases/{ref}/rate"): STAFF,
    ("POST", "/api/v1/cases/{ref}/merge"): DISPATCH,
    ("POST", "/api/v1/cases/{ref}/supervise"): DISPATCH,
    ("GET", "/api/v1/public/cases/{serial}"): PUBLIC,
    # the center's toolset and moderation (issue 22): center staff, refused before the case is read
    ("POST", "/api/v1/cases/{ref}/refuse"): DISPATCH,
    ("POST", "/api/v1/cases/{ref}/void"): DISPATCH,
    ("POST", "/api/v1/cases/{ref}/suspend"): DISPATCH,
    ("POST", "/api/v1/cases/{ref}/resume"): DISPATCH,
    ("POST", "/api/v1/cases/{ref}/direct-answer"): DISPATCH,
    ("POST", "/api/v1/cases/{ref}/refile"): DISPATCH,
    ("POST", "/api/v1/cases/{ref}/replace"): DISPATCH,
    ("POST", "/api/v1/cases/{ref}/take-back"): DISPATCH,
    ("POST", "/api/v1/cases/{ref}/assist"): DISPATCH,  # joint cases (联勤联动)
    ("POST", "/api/v1/cases/{ref}/part-accept"): STAFF,  # an assisting unit: checked by cases/
    ("POST", "/api/v1/cases/{ref}/part-return"): STAFF,
    ("POST", "/api/v1/cases/{ref}/part-feedback"): STAFF,
    ("POST", "/api/v1/cases/{ref}/part-extension"): STAFF,
    ("POST", "/api/v1/cases/{ref}/part-extension/decision"): DISPATCH,
    ("POST", "/api/v1/cases/{ref}/hide"): DISPATCH,
    ("POST", "/api/v1/cases/{ref}/unhide"): DISPATCH,
    ("POST", "/api/v1/cases/{ref}/redact"): DISPATCH,
    ("GET", "/api/v1/moderation/blocks"): DISPATCH,
    ("POST", "/api/v1/moderation/blocks"): DISPATCH,
    ("DELETE", "/api/v1/moderation/blocks/{block_id}"): DISPATCH,
    ("GET", "/api/v1/moderation/log"): DISPATCH,
    ("GET", "/api/v1/categories"): STAFF,
    ("PUT", "/api/v1/categories/{code}"): ADMIN,
    ("GET", "/api/v1/refusal-reasons"): STAFF,
    ("PUT", "/api/v1/refusal-reasons/{code}"): ADMIN,
    ("GET", "/api/v1/calendar"): STAFF,
    ("GET", "/api/v1/calendar/{year}"): STAFF,
    ("PUT", "/api/v1/calendar/{year}"): ADMIN,
    ("DELETE", "/api/v1/calendar/{year}"): ADMIN,
    ("GET", "/open311/discovery.json"): PUBLIC,
    ("GET", "/open311/discovery.xml"): PUBLIC,
    ("GET", "/api/openapi.json"): PUBLIC,
    ("GET", "/api/docs"): PUBLIC,
    ("GET", "/api/docs/redoc.standalone.js"): PUBLIC,
    ("GET", "/api/v1/stats/board"): PUBLIC,
    ("GET", "/api/v1/stats/hotspots"): PUBLIC,
    ("GET", "/api/v1/stats/hotspots.png"): PUBLIC,
    ("GET", "/api/v1/stats/trends"): PUBLIC,
    ("GET", "/api/v1/stats/trends.png"): PUBLIC,
    ("GET", "/api/v1/stats/trends/options"): PUBLIC,
    ("GET", "/api/v1/stats/alerts"): STAFF,
    ("GET", "/api/v1/stats/headline"): PUBLIC,
    ("GET", "/api/v1/stats/assessment"): PUBLIC,
    ("GET", "/api/v1/stats/assessment.csv"): PUBLIC,
    ("GET", "/api/v1/stats/assessment.xlsx"): PUBLIC,
    ("GET", "/api/v1/stats/assessment/weights"): PUBLIC,
    ("PUT", "/api/v1/stats/assessment/weights"): ADMIN,
    ("GET", "/api/v1/stats/map"): PUBLIC,
    ("GET", "/board"): PUBLIC,
    ("GET", "/hotspots"): PUBLIC,
    ("GET", "/trends"): PUBLIC,
    ("GET", "/map"): PUBLIC,
    ("GET", "/assessment"): PUBLIC,
    ("GET", "/static/fonts/cjk.otf"): PUBLIC,
    ("GET", "/static/stats"): PUBLIC,
    ("GET", "/static/echarts"): PUBLIC,
    ("GET", "/api/v1/portal/cases/{serial}"): PUBLIC,
    ("POST", "/api/v1/portal/cases/{serial}/rating"): PUBLIC,  # needs the reporter's rating code
    ("GET", "/api/v1/portal/performance"): PUBLIC,
    ("GET", "/portal"): PUBLIC,
    ("GET", "/api/v1/ops/outbox"): STAFF,
    ("GET", "/api/v1/ops/outbox/dead"): DISPATCH,  # chat ids for admin only (tests/api)
    ("GET", "/desk"): PUBLIC,  # a redirect to /desk/
    ("GET", "/desk/"): DESK,
    ("GET", "/desk/signin"): PUBLIC,
    ("POST", "/desk/signin"): CSRF,
    ("POST", "/desk/signout"): PUBLIC,  # without a session there is nothing to end
    ("GET", "/desk/locale"): PUBLIC,
    ("GET", "/desk/intake"): DESK,
    ("POST", "/desk/intake"): DESK,
    ("GET", "/desk/place.json"): DESK,
    ("GET", "/desk/duplicates.json"): DESK,
    ("GET", "/desk/queues/{name}"): DESK,
    ("GET", "/desk/unit"): DESK,
    ("GET", "/desk/cases/{ref}"): DESK,
    ("POST", "/desk/cases/{ref}/{action}"): DESK,
    ("GET", "/desk/media/{photo_id}"): DESK,
    ("GET", "/desk/moderation"): DESK,
    ("POST", "/desk/moderation/blocks/{block_id}/end"): DESK,
    ("GET", "/desk/cases/{ref}/moderate"): DESK,
    ("POST", "/desk/cases/{ref}/hide"): DESK,
    ("POST", "/desk/cases/{ref}/unhide"): DESK,
    ("POST", "/desk/cases/{ref}/redact"): DESK,
    ("POST", "/desk/cases/{ref}/block"): DESK,
    ("GET", "/desk/static"): PUBLIC,
    ("GET", "/desk/admin/calendar"): DESK,  # admin only once signed in (tests/desk)
    ("GET", "/desk/admin/calendar/{year}"): DESK,
    ("POST", "/desk/admin/calendar/{year}"): DESK,
    # the admin's pages (issue 23): admin only once signed in (tests/desk/test_admin*.py)
    ("GET", "/desk/admin"): DESK,
    ("GET", "/desk/admin/roster"): DESK,
    ("POST", "/desk/admin/roster/import"): DESK,
    ("GET", "/desk/admin/roster/imports/{batch}"): DESK,
    ("GET", "/desk/admin/roster/imports/{batch}/errors.{fmt}"): DESK,
    ("GET", "/desk/admin/roster/sheet"): DESK,
    ("POST", "/desk/admin/roster/unbind"): DESK,
    ("POST", "/desk/admin/roster/reissue"): DESK,
    ("POST", "/desk/admin/roster/remove"): DESK,
    ("GET", "/desk/admin/staff"): DESK,
    ("POST", "/desk/admin/staff"): DESK,
    ("POST", "/desk/admin/staff/{staff_id}/{op}"): DESK,
    ("GET", "/desk/admin/keys"): DESK,
    ("POST", "/desk/admin/keys/open311"): DESK,
    ("POST", "/desk/admin/keys/open311/{key_id}/revoke"): DESK,
    ("POST", "/desk/admin/keys/tokens"): DESK,
    ("POST", "/desk/admin/keys/tokens/{token_id}/revoke"): DESK,
    ("GET", "/desk/admin/categories"): DESK,
    ("POST", "/desk/admin/categories/{code}"): DESK,
    ("GET", "/desk/admin/reasons"): DESK,
    ("POST", "/desk/admin/reasons"): DESK,
    ("POST", "/desk/admin/reasons/{code}"): DESK,
    ("GET", "/desk/admin/weights"): DESK,
    ("POST", "/desk/admin/weights"): DESK,
    ("GET", "/desk/station"): DESK,
    ("GET", "/desk/admin/audit"): DESK,
    ("GET", "/desk/admin/grids"): DESK,
    ("POST", "/desk/admin/grids/preview"): DESK,
    ("POST", "/desk/admin/grids/install"): DESK,
    # limited by network (loopback here) or a bearer token: tests/ops/test_metrics_endpoint.py
    ("GET", "/metrics"): PUBLIC,
}
for _fmt in ("json", "xml"):
    for _path in ("/services", "/services/{service_code}", "/requests", "/requests/{service_request_id}",
                  "/tokens/{token}"):
        EXPECTED[("GET", f"/open311/v2{_path}.{_fmt}")] = PUBLIC
    EXPECTED[("POST", f"/open311/v2/requests.{_fmt}")] = OPEN311_KEY

PARAMS = {"ref": "A20261127-99999", "serial": "A20261127-99999", "code": "310101", "year": "2026",
          "photo_id": "0" * 24, "user_id": "4242", "service_code": "nope", "token": "nope",
          "service_request_id": "A20261127-99999", "name": "mine", "action": "accept",
          "batch": "nope", "fmt": "csv", "staff_id": "nope", "op": "disable", "key_id": "nope",
          "token_id": "nope", "block_id": "nope"}
STATIC_FILES = {"/static/stats": "/board.js", "/static/echarts": "/echarts.min.js",
                "/desk/static": "/desk.css"}

CALLERS = ("admin", "dispatcher", "department", "leader", "none", "expired", "other_district")


def served_routes(app: web.Application) -> list[tuple[str, str]]:
    """(method, canonical path) of every route; HEAD is GET's twin."""
    routes = set()
    for route in app.router.routes():
        if route.method == "HEAD" or route.resource is None:
            continue
        routes.add((route.method, route.resource.canonical))
    return sorted(routes)


def concrete(path: str) -> str:
    if path in STATIC_FILES:
        return path + STATIC_FILES[path]
    return re.sub(r"\{(\w+)\}", lambda m: PARAMS[m.group(1)], path)


def allowed(rule: Any, caller: str) -> bool:
    if rule == PUBLIC:
        return True
    if rule in (SECRET, OPEN311_KEY, DESK, CSRF):
        return False  # no bearer token opens these
    if caller in ("none", "expired", "other_district"):
        return False
    if rule == STAFF:
        return True
    return caller == "admin" or caller in rule


@pytest.fixture
async def tokens(db: Database, clock: FakeClock) -> dict[str, str | None]:
    out: dict[str, str | None] = {"none": None}
    units = {"admin": "310101", "dispatcher": "310101", "department": "D01", "leader": "310101001001001"}
    for role, unit in units.items():
        out[role] = await auth.create_token(db, role=role, unit=unit, district="310101", name=role,
                                            now=clock.now())
    out["expired"] = await auth.create_token(db, role="admin", unit="310101", district="310101",
                                             name="old", now=clock.now() - timedelta(days=2),
                                             ttl=timedelta(days=1))
    out["other_district"] = await auth.create_token(db, role="admin", unit="310102", district="310102",
                                                    name="elsewhere", now=clock.now())
    return out


def test_every_served_route_has_an_expected_rule(client: TestClient[web.Request, web.Application]) -> None:
    served = served_routes(client.app)
    missing = [r for r in served if r not in EXPECTED]
    stale = [r for r in EXPECTED if r not in served]
    assert not missing, f"routes without an access rule in EXPECTED: {missing}"
    assert not stale, f"rules for routes no longer served: {stale}"
    # Every intake route the rate limiter watches is a served POST.
    assert all(r in served and r[0] == "POST" for r in INTAKE_ROUTES)


async def test_route_by_caller_table(client: TestClient[web.Request, web.Application],
                                     tokens: dict[str, str | None]) -> None:
    wrong: list[str] = []
    for method, path in served_routes(client.app):
        rule = EXPECTED[(method, path)]
        for caller in CALLERS:
            token = tokens[caller]
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            kwargs: dict[str, Any] = {"headers": headers, "allow_redirects": False}
            if rule == OPEN311_KEY:
                kwargs["data"] = {"service_code": "x", "lat": "31.2", "long": "121.45"}
            elif method in ("POST", "PUT", "DELETE"):
                kwargs["json"] = {}
            async with client.request(method, concrete(path), **kwargs) as resp:
                status = resp.status
                body = await resp.read()
            where = f"{method} {path} as {caller}: {status} {body[:120]!r}"
            if status >= 500:
                wrong.append("5xx " + where)
                continue
            if rule == DESK:
                # Pages send the browser to sign in; JSON helpers and posts refuse.
                ok = status in (303, 401, 403) and (status != 303 or "/desk/signin" in resp.headers["Location"])
            elif allowed(rule, caller):
                ok = status not in (401, 403)
            elif rule in (SECRET, OPEN311_KEY, CSRF):
                ok = status == 403
            elif caller in ("none", "expired", "other_district"):
                ok = status == 401
            else:
                ok = status == 403
            if not ok:
                wrong.append(where)
            elif status in (401, 403) and path.startswith("/api/"):
                assert b'"message"' in body, where  # every refusal says why
    assert not wrong, "\n".join(wrong)
