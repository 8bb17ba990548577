"""Open311 GeoReport v2 at /open311/v2/: services, requests and tokens, in JSON and XML.

A sub-application, so that every answer under /open311/v2/ — including an unknown path, a
wrong method or a database outage — comes in the spec's error format (a list of
{code, description}, `<errors><error>…` in XML) rather than the staff API's JSON errors.
Intake goes through `cases.intake` with channel `open311` (placing with the app's grid index);
reads go through `cases.visibility`: only public cases, as anyone may see them.
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, Literal
from xml.etree import ElementTree as ET

from aiohttp import BodyPartReader, web
from aiohttp.http_exceptions import HttpProcessingError
from multidict import MultiDict, MultiDictProxy

from api.errors import DB_DOWN, ERROR_RENDERERS, status_for
from api.keys import CLOCK, DB, GRID_INDEX, PHOTO_WORKERS, SETTINGS
from api.language import request_locale
from api.ratelimit import per_client
from cases import repository as cases_repo
from cases import visibility
from cases.errors import CaseNotFound, CategoryNotFound
from cases.model import CasePolicy
from gridlink import errors
from grids import repository as grids_repo
from grids.live import LiveGridIndex
from media import service as media_service
from open311 import intake as open311_intake
from open311 import repository as keys_repo
from open311 import service as spec
from open311.errors import ApiKeyInvalid, ApiKeyMissing, RequestNotFound, ServiceNotFound

log = logging.getLogger("gridlink.open311")

PREFIX = "/open311/v2"
PHOTO_LIMIT = 20 * 1024 * 1024  # Telegram's download cap; media's own setting wins when present
FIELD_LIMIT = 64 * 1024
Format = Literal["json", "xml"]
Handler = Callable[[web.Request, Format], Awaitable[web.Response]]

# Element names of list items in the spec's XML forms.
XML_ITEMS = {"services": "service", "service_requests": "request", "attributes": "attribute",
             "values": "value", "errors": "error", "endpoints": "endpoint",
             "formats": "format"}


# ---------------------------------------------------------------- rendering


# Characters XML 1.0 cannot carry, escaped or not (C0 controls but tab/LF/CR, surrogates,
# U+FFFE/U+FFFF): one in a description would make every list that includes it unparseable.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _xml_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return repr(value)
    return _NOT_XML.sub("", str(value))


def _xml_fill(parent: ET.Element, key: str, value: object) -> None:
    el = ET.SubElement(parent, key)
    if value is None:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            _xml_fill(el, k, v)
    elif isinstance(value, list):
        item = XML_ITEMS.get(key) or "item"
        for v in value:
            _xml_fill(el, item, v)
    else:
        el.text = _xml_text(value)


def to_xml(root: str, body: object) -> bytes:
    """The spec's XML form: a root element, list items by their singular element name."""
    top = ET.Element(root)
    if isinstance(body, list):
        item = XML_ITEMS.get(root) or "item"
        for v in body:
            _xml_fill(top, item, v)
    elif isinstance(body, dict):
        for k, v in body.items():
            _xml_fill(top, k, v)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(top, encoding="utf-8")


def render(fmt: Format, root: str, body: object, *, status: int = 200) -> web.Response:
    if fmt == "xml":
        return web.Response(body=to_xml(root, body), status=status,
                            content_type="text/xml", charset="utf-8")
    return web.Response(text=json.dumps(body, ensure_ascii=False), status=status,
                        content_type="application/json", charset="utf-8")


def spec_errors(fmt: Format, status: int, *descriptions: str) -> web.Response:
    """Errors as the spec writes them: [{"code": 404, "description": "…"}, …]."""
    return render(fmt, "errors", [{"code": status, "description": d} for d in descriptions],
                  status=status)


def format_of(request: web.Request) -> Format:
    return "xml" if request.path.endswith(".xml") else "json"


@web.middleware
async def open311_errors(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
    fmt = format_of(request)
    try:
        return await handler(request)
    except (ApiKeyMissing, ApiKeyInvalid) as exc:
        # The spec answers a missing or invalid api_key with 403.
        return spec_errors(fmt, 403, exc.message)
    except errors.DomainError as exc:
        resp = spec_errors(fmt, status_for(exc), exc.message)
        if isinstance(exc, errors.RateLimited):
            resp.headers["Retry-After"] = str(max(1, int(exc.retry_after + 0.999)))
        return resp
    except DB_DOWN as exc:
        log.warning("database unavailable", extra={"path": request.path, "error": type(exc).__name__})
        return spec_errors(fmt, 503, "the database cannot be reached; try again shortly")
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        text = exc.reason
        if exc.status == 404:
            text = f"no such resource: {request.path}"
        elif exc.status == 405:
            text = f"method {request.method} is not allowed here"
        resp = spec_errors(fmt, exc.status, text)
        if exc.status == 405 and "Allow" in exc.headers:
            resp.headers["Allow"] = exc.headers["Allow"]
        return resp


_READER = web.RequestKey("open311_reader", keys_repo.ApiClient)


@web.middleware
async def read_limits(request: web.Request,
                      handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                      ) -> web.StreamResponse:
    """Reads with a valid api_key are the key holder's; any other read counts against its
    client address's budget (RATE_LIMIT_READ_REQUESTS per window, shared by every process)."""
    if request.method in ("GET", "HEAD"):
        db = request.config_dict[DB]
        key = request.query.get("api_key")
        try:
            request[_READER] = await keys_repo.authenticate(db, key=key)
        except (ApiKeyMissing, ApiKeyInvalid):
            settings = request.config_dict[SETTINGS]
            await per_client(request, kind="read", limit=settings.rate_limit_read_requests,
                             window_s=settings.rate_limit_read_window_s,
                             message="too many reads from this address; try again after "
                                     "Retry-After seconds (or read with an api_key)")
    return await handler(request)


# ---------------------------------------------------------------- helpers


def _locale(request: web.Request, params: Mapping[str, str] | None = None) -> str:
    return request_locale(request, params=params)


async def _categories(request: web.Request, *, active_only: bool) -> dict[str, dict[str, Any]]:
    docs = await cases_repo.list_categories(request.config_dict[DB], include_inactive=not active_only)
    return {str(d["_id"]): d for d in docs}


async def _category(request: web.Request, code: str) -> dict[str, Any]:
    try:
        doc = await cases_repo.get_category(request.config_dict[DB], code=code)
    except CategoryNotFound:
        raise ServiceNotFound(f"service_code {code!r} was not found") from None
    if not doc.get("active", True):
        raise ServiceNotFound(f"service_code {code!r} is no longer offered")
    return doc


def _media_base(request: web.Request) -> str:
    return str(request.config_dict[SETTINGS].public_base_url).rstrip("/")


def _with_format(handler: Handler, fmt: Format) -> Callable[[web.Request], Awaitable[web.Response]]:
    @functools.wraps(handler)
    async def bound(request: web.Request) -> web.Response:
        return await handler(request, fmt)
    return bound


# ---------------------------------------------------------------- handlers


async def get_services(request: web.Request, fmt: Format) -> web.Response:
    locale = _locale(request)
    cats = await _categories(request, active_only=True)
    return render(fmt, "services", [spec.service(c, locale) for c in cats.values()])


async def get_service_definition(request: web.Request, fmt: Format) -> web.Response:
    category = await _category(request, request.match_info["service_code"])
    return render(fmt, "service_definition", spec.service_definition(category, _locale(request)))


async def get_requests(request: web.Request, fmt: Format) -> web.Response:
    settings = request.config_dict[SETTINGS]
    most = spec.MAX_RESULTS if _READER in request else spec.ANONYMOUS_MAX_RESULTS
    query = spec.parse_query(request.query, now=request.config_dict[CLOCK].now(), tz=settings.tz,
                             max_results=most)
    # Open311 reads are anonymous: the public cases only (`cases.visibility`'s scope).
    scope = visibility.scope(None, district=settings.district_code)
    wanted = query.to_mongo()
    docs = await cases_repo.find_cases(request.config_dict[DB],
                                       query={"$and": [wanted, scope]} if wanted and scope else
                                       {**wanted, **scope}, limit=query.limit)
    return await _render_requests(request, fmt, docs)


async def _render_requests(request: web.Request, fmt: Format, docs: list[dict[str, Any]]
                           ) -> web.Response:
    locale = _locale(request)
    tz = request.config_dict[SETTINGS].tz
    base = _media_base(request)
    db = request.config_dict[DB]
    # Lists come without history: name the main case of each duplicate with one more read.
    mains = sorted({d["merged_into"] for d in docs if d.get("merged_into") and "history" not in d})
    # Handling units are named in Chinese on the case; English readers get the grid's name.
    codes = sorted({str(d["assignee"]["unit"]) for d in docs if d.get("assignee")}) if locale == "en" else []

    async def nothing() -> list[Any]:
        return []

    # The page's other reads are independent: sent together, one round trip's wait.
    cats, extras, found, units = await asyncio.gather(
        _categories(request, active_only=False),
        keys_repo.requests_for_cases(db, case_ids=[d["_id"] for d in docs]),
        cases_repo.find_cases(db, query={"_id": {"$in": mains}}, limit=len(mains)) if mains else nothing(),
        grids_repo.find_units(db, codes=codes) if codes else nothing())
    if mains:
        serials = {m["_id"]: m["serial"] for m in found}
        docs = [{**d, "merged_into_serial": serials.get(d.get("merged_into"))}
                if d.get("merged_into") else d for d in docs]
    if codes:
        names = {u["code"]: u.get("name_en") for u in units}
        docs = [{**d, "assignee": {**d["assignee"], "name": names[d["assignee"]["unit"]]}}
                if names.get((d.get("assignee") or {}).get("unit")) else d for d in docs]
    now = request.config_dict[CLOCK].now()
    views = [spec.request_view(d, visibility.list_item(d, now, seen_as="public"),
                               extras=extras.get(d["_id"]), categories=cats, locale=locale,
                               tz=tz, media_base=base) for d in docs]
    return render(fmt, "service_requests", views)


async def get_request(request: web.Request, fmt: Format) -> web.Response:
    ref = request.match_info["service_request_id"]
    try:
        doc = await cases_repo.get_case_by_serial(request.config_dict[DB], serial=ref)
        # A case that is not public is "not found" to anyone asking here.
        visibility.view(None, doc, request.config_dict[CLOCK].now())
    except CaseNotFound:
        raise RequestNotFound(f"service_request_id {ref!r} was not found") from None
    return await _render_requests(request, fmt, [doc])


async def get_token(request: web.Request, fmt: Format) -> web.Response:
    doc = await keys_repo.resolve_token(request.config_dict[DB], token=request.match_info["token"])
    return render(fmt, "service_requests",
                  [{"service_request_id": doc["service_request_id"], "token": doc["token"]}])


async def post_request(request: web.Request, fmt: Format) -> web.Response:
    form, upload = await _read_form(request)
    db = request.config_dict[DB]
    # api_key may come in the body (spec) or, as many clients send it, in the query string.
    client = await keys_repo.authenticate(db, key=form.get("api_key") or request.query.get("api_key"))
    settings = request.config_dict[SETTINGS]
    result = await open311_intake.submit(
        db, policy=CasePolicy.from_settings(settings), grid=await _grid(request),
        store_photo=_photo_store(request), client=client, form=form, photo=upload,
        locale=_locale(request, form), now=request.config_dict[CLOCK].now(),
        idempotency_key=request.headers.get("Idempotency-Key") or None)
    return render(fmt, "service_requests", [result])


async def _grid(request: web.Request) -> LiveGridIndex:
    live = request.config_dict[GRID_INDEX]
    # Picks up a newly imported grid version at once (cheap: rate-limited inside).
    await live.refresh(request.config_dict[DB])
    return live


def _photo_store(request: web.Request) -> open311_intake.PhotoStore:
    """Photos go through media's pipeline like every other channel's (EXIF stripped, hashed);
    intake links the stored photo to the case."""
    async def store(upload: open311_intake.Upload) -> str:
        result = await media_service.ingest(
            request.config_dict[DB], data=upload.data, content_type=upload.content_type or None,
            filename=upload.filename, uploader="open311", settings=request.config_dict[SETTINGS],
            now=request.config_dict[CLOCK].now(),
            workers=request.config_dict.get(PHOTO_WORKERS))
        return result.id
    return store


async def _read_part(part: BodyPartReader, limit: int, what: str) -> bytes:
    """A part's bytes, refused as soon as they pass `limit` (a huge upload is never buffered)."""
    chunks = bytearray()
    while chunk := await part.read_chunk(256 * 1024):
        chunks += chunk
        if len(chunks) > limit:
            raise errors.InvalidInput(f"{what} is larger than {limit // 1024} KiB")
    return bytes(chunks)


async def _read_multipart(request: web.Request) -> tuple[MultiDictProxy[str], open311_intake.Upload | None]:
    fields: MultiDict[str] = MultiDict()
    upload: open311_intake.Upload | None = None
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader) or not part.name:
            continue
        if part.filename is not None:
            if part.name != "media" or upload is not None:
                raise errors.InvalidInput("only one file, in the field 'media', is accepted")
            limit = getattr(request.config_dict[SETTINGS], "photo_max_bytes", PHOTO_LIMIT)
            data = await _read_part(part, limit, "the photo")
            upload = open311_intake.Upload(data=data, filename=part.filename,
                                           content_type=part.headers.get("Content-Type", ""))
        else:
            raw = await _read_part(part, FIELD_LIMIT, f"field {part.name!r}")
            try:
                fields.add(part.name, raw.decode(part.get_charset(default="utf-8")))
            except (UnicodeDecodeError, LookupError):
                raise errors.InvalidInput(f"field {part.name!r} is not UTF-8 text") from None
    return MultiDictProxy(fields), upload


async def _read_form(request: web.Request) -> tuple[MultiDictProxy[str], open311_intake.Upload | None]:
    """The POST fields (urlencoded or multipart) and an uploaded photo in field `media`."""
    ctype = request.content_type
    if ctype == "multipart/form-data":
        try:
            return await _read_multipart(request)
        except (ValueError, HttpProcessingError):  # no boundary, broken part headers
            raise errors.InvalidInput("the multipart/form-data body cannot be read") from None

    if ctype in ("application/x-www-form-urlencoded", "", "application/octet-stream"):
        try:
            return await request.post(), None  # type: ignore[return-value]
        except (ValueError, UnicodeDecodeError):
            raise errors.InvalidInput("the body must be application/x-www-form-urlencoded") from None
    raise errors.InvalidInput("send the request as application/x-www-form-urlencoded "
                              "or multipart/form-data")


# ---------------------------------------------------------------- wiring


def create_open311_app() -> web.Application:
    sub = web.Application(middlewares=[open311_errors, read_limits], client_max_size=25 * 1024 * 1024)
    for fmt in ("json", "xml"):
        f: Format = fmt  # type: ignore[assignment]
        sub.router.add_get(f"/services.{fmt}", _with_format(get_services, f))
        sub.router.add_get(f"/services/{{service_code}}.{fmt}", _with_format(get_service_definition, f))
        sub.router.add_get(f"/requests.{fmt}", _with_format(get_requests, f))
        sub.router.add_post(f"/requests.{fmt}", _with_format(post_request, f))
        sub.router.add_get(f"/requests/{{service_request_id}}.{fmt}", _with_format(get_request, f))
        sub.router.add_get(f"/tokens/{{token}}.{fmt}", _with_format(get_token, f))
    return sub


async def discovery(request: web.Request) -> web.Response:
    """The spec's service discovery document: where GeoReport v2 is and in which formats."""
    fmt: Format = "xml" if request.path.endswith(".xml") else "json"
    settings = request.app[SETTINGS]
    base = str(settings.public_base_url).rstrip("/")
    # The API changes with the code, not with the data: one fixed changeset per release.
    changeset = "2026-11-27T00:00:00+08:00"
    body = {
        "changeset": changeset,
        "contact": f"{base}/api/docs",
        "key_service": "gridlink open311-key --name APP (ask the district linkage center)",
        "endpoints": [{
            "specification": "http://wiki.open311.org/GeoReport_v2",
            "url": base + PREFIX,
            "changeset": changeset,
            "type": "production",
            "formats": ["text/xml", "application/json"],
        }],
    }
    return render(fmt, "discovery", body)


def _render_outer_error(request: web.Request, status: int, message: str) -> web.Response:
    return spec_errors(format_of(request), status, message)


def setup_routes(app: web.Application) -> None:
    app.add_subapp(PREFIX, create_open311_app())
    # Errors raised around the sub-app (the intake rate limit) in the spec's format too.
    ERROR_RENDERERS[PREFIX + "/"] = _render_outer_error
    app.router.add_get("/open311/discovery.json", discovery)
    app.router.add_get("/open311/discovery.xml", discovery)
