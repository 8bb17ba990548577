"""The OpenAPI 3.1 document of the whole HTTP API, in one place, and the routes that serve it.

GET /api/openapi.json serves the document; GET /api/docs a browsable page (ReDoc, vendored
under api/static/, so it works offline).

Request bodies are generated from the pydantic models the handlers validate with
(`model_json_schema`, their `$defs` moved into components), so the document cannot promise a
field the endpoint refuses or lose a constraint; each model carries an example, and
tests/api/test_openapi_examples.py posts every one. Response schemas without a model are
written here (`SCHEMAS`).

Adding a route: add one `op(...)` call to `_operations()` below with its path (OpenAPI
template syntax, `{name}`), method, summary, parameters, body model and response schema.
tests/open311/test_openapi.py fails when a route registered under /api/v1 or /open311 is
missing here, and validates live responses of every documented GET route against these
schemas; schemathesis then fuzzes the document.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api import cases as case_api
from api import portal as portal_api
from api import telegram as telegram_api
from cases.categories import Category
from cases.colour import COLOURS
from cases.model import STATES
from cases.workflow import ACTIONS

STATIC = Path(__file__).parent / "static"
Schema = dict[str, Any]


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: Schema) -> Schema:
    if "$ref" in schema:
        return {"anyOf": [schema, {"type": "null"}]}
    out = dict(schema)
    t = out.get("type")
    if isinstance(t, str):
        out["type"] = [t, "null"]
    elif isinstance(t, list):
        out["type"] = [*t, "null"]
    else:
        return {"anyOf": [schema, {"type": "null"}]}
    if "enum" in out:
        out["enum"] = [*out["enum"], None]
    return out


def obj(required: dict[str, Schema], optional: dict[str, Schema] | None = None,
        *, extra: bool = True) -> Schema:
    """An object schema: `required` properties must be there, `optional` ones may be."""
    props = {**required, **(optional or {})}
    schema: Schema = {"type": "object", "properties": props, "required": list(required)}
    if not extra:
        schema["additionalProperties"] = False
    return schema


STR: Schema = {"type": "string"}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
BOOL: Schema = {"type": "boolean"}
DATETIME: Schema = {"type": "string", "format": "date-time"}
LON: Schema = {"type": "number", "minimum": -180, "maximum": 180}
LAT: Schema = {"type": "number", "minimum": -90, "maximum": 90}

OPEN311_DATETIME: Schema = {
    "type": "string",
    # ISO 8601 with an explicit offset, as the spec requires (e.g. 2026-11-27T10:15:00+08:00).
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?([+-]\d{2}:\d{2}|Z)$",
}

SCHEMAS: dict[str, Schema] = {
    "Error": obj({"error": obj({"code": STR, "message": STR}, {"details": {"type": "object"},
                                                             "title": STR})}),
    "Health": obj({"status": {"const": "ok"}, "db": obj({"rtt_ms": NUM, "name": STR})}),
    # ---- staff API (/api/v1)
    # A case as the caller may see it (cases.visibility.view): the staff view, or the public
    # view of a public case outside the caller's area.
    "Case": obj({"id": STR, "serial": STR, "state": {"enum": list(STATES)},
                 "channel": STR, "kind": STR, "category": STR, "version": INT,
                 "colour": {"enum": list(COLOURS)}, "created_at": STR},
                {"description": nullable(STR), "assignee": nullable({"type": "object"}),
                 "deadline": nullable(STR), "location": nullable({"type": "object"}),
                 "placement": nullable({"type": "object"}), "history": {"type": "array"},
                 "reporter": {"type": "object"},
                 "photos": {"type": "array", "items": STR},
                 # issue 22: why it was refused or voided, its suspension (挂账) and review date
                 "refusal": nullable({"type": "object"}),
                 "suspension": nullable({"type": "object"}), "review_at": nullable(STR)}),
    "CaseView": {"anyOf": [ref("Case"), ref("PublicCase")]},
    # What intake answers a caller who may not see the case it opened (another area's).
    "CaseReceipt": obj({"id": STR, "serial": STR, "state": {"enum": list(STATES)}}, extra=False),
    "CaseAnswer": obj({"case": {"anyOf": [ref("CaseView"), ref("CaseReceipt")]},
                       "allowed_actions": {"type": "array", "items": {"enum": list(ACTIONS)},
                                           "description": "what the caller may do next"}},
                      {"main": ref("CaseView"), "created": BOOL, "duplicates": {"type": "array"}}),
    "CaseList": obj({"cases": {"type": "array", "items": ref("CaseView")},
                     "next_cursor": nullable(STR)}),
    "PublicCase": obj({"serial": STR, "status": {"enum": list(STATES)},
                       "colour": {"enum": list(COLOURS)}, "kind": STR,
                       "category": nullable(STR), "created_at": STR,
                       "timeline": {"type": "array", "items": obj({"at": STR, "action": STR,
                                                                   "status": STR})},
                       "photos": {"type": "array", "items": STR}},
                      {"handling_unit": nullable({"type": "object"}), "deadline": nullable(STR),
                       "closed_at": nullable(STR), "merged_into_serial": nullable(STR),
                       "location": nullable({"type": "object"})}),
    "Category": obj({"code": STR, "name_zh": STR, "name_en": STR,
                     "layer": {"enum": ["community", "street_surface"]},
                     "level": {"enum": ["block", "line"]}, "limit": {"type": "object"}},
                    {"department": nullable(STR), "urgency": STR, "active": BOOL,
                     "dispatch_minutes": INT, "verify_hours": NUM}),
    "CalendarYear": obj({"year": INT, "holidays": {"type": "array", "items": ref("CalendarDay")},
                         "workdays": {"type": "array", "items": ref("CalendarDay")}},
                        {"source": nullable(STR), "updated_at": nullable(STR),
                         "updated_by": nullable(STR)}),
    "Unit": obj({"code": STR, "level": STR, "name_zh": STR, "name_en": STR},
                {"parent": nullable(STR), "layer": STR, "kind": nullable(STR),
                 "geometry": {"type": "object"}}),
    "Placement": obj({"community_block": nullable(STR), "street_block": nullable(STR),
                      "workstation": nullable(STR), "street": nullable(STR),
                      "patrol_zone": nullable(STR), "district": STR, "snapped": BOOL,
                      "distance_m": NUM}),
    "Photo": obj({"id": STR, "duplicate": BOOL, "phash": STR, "width": INT, "height": INT},
                 {"gps": nullable({"type": "object"}), "taken_at": nullable(STR)}),
    "Invite": obj({"token": STR, "role": STR, "unit": STR, "expires_at": STR,
                   "link": nullable(STR)}),
    # ---- Open311 GeoReport v2
    "Open311Errors": {
        "type": "array", "minItems": 1,
        "items": obj({"code": INT, "description": STR}, extra=False),
    },
    "Open311Service": obj({
        "service_code": STR, "service_name": STR, "description": STR, "metadata": BOOL,
        "type": {"enum": ["realtime", "batch", "blackbox"]},
        "keywords": STR, "group": STR,
    }),
    "Open311Attribute": obj({
        "variable": BOOL, "code": STR,
        "datatype": {"enum": ["string", "number", "datetime", "text", "singlevaluelist",
                              "multivaluelist"]},
        "required": BOOL, "datatype_description": nullable(STR), "order": INT,
        "description": STR,
        "values": {"type": "array", "items": obj({"key": STR, "name": STR})},
    }),
    "Open311ServiceDefinition": obj({
        "service_code": STR,
        "attributes": {"type": "array", "items": ref("Open311Attribute")},
    }),
    "Open311Request": obj({
        "service_request_id": STR,
        "status": {"enum": ["open", "closed"]},
        "status_notes": nullable(STR),
        "service_name": STR,
        "service_code": STR,
        "description": nullable(STR),
        "agency_responsible": nullable(STR),
        "service_notice": nullable(STR),
        "requested_datetime": OPEN311_DATETIME,
        "updated_datetime": nullable(OPEN311_DATETIME),
        "expected_datetime": nullable(OPEN311_DATETIME),
        "address": nullable(STR),
        "address_id": nullable(STR),
        "zipcode": nullable(STR),
        "lat": nullable(LAT),
        "long": nullable(LON),
        "media_url": nullable(STR),
    }),
    "Open311PostResult": obj({"service_request_id": STR, "token": STR},
                             {"service_notice": nullable(STR), "account_id": nullable(STR)}),
    "Open311TokenResult": obj({"service_request_id": STR, "token": STR}),
    "Open311Discovery": obj({"changeset": STR, "contact": STR, "key_service": STR,
                             "endpoints": {"type": "array", "items": obj({
                                 "specification": STR, "url": STR, "changeset": STR,
                                 "type": {"enum": ["production", "test"]},
                                 "formats": {"type": "array", "items": STR}})}}),
}

BEARER: list[dict[str, list[str]]] = [{"bearerAuth": []}]


def json_content(schema: Schema) -> dict[str, Any]:
    return {"application/json": {"schema": schema}}


def op(paths: dict[str, dict[str, Any]], method: str, path: str, *, summary: str, tags: list[str],
       ok: Schema | None = None, ok_status: int = 200, ok_content: dict[str, Any] | None = None,
       params: list[dict[str, Any]] | None = None, body: dict[str, Any] | None = None,
       security: list[dict[str, list[str]]] | None = None, errors: Schema | None = None,
       error_content_type: str = "application/json", description: str | None = None) -> None:
    """Add one operation. Every operation also documents its error answers (`default`)."""
    responses: dict[str, Any] = {
        str(ok_status): {"description": "success",
                         "content": ok_content if ok_content is not None else json_content(ok or {})},
        "default": {"description": "an error",
                    "content": {error_content_type: {"schema": errors or ref("Error")}}},
    }
    operation: dict[str, Any] = {"summary": summary, "tags": tags, "responses": responses,
                                 "operationId": f"{method}_{path}".replace("/", "_")
                                 .replace("{", "").replace("}", "").replace(".", "_")}
    if description:
        operation["description"] = description
    if params:
        operation["parameters"] = params
    if body is not None:
        operation["requestBody"] = body
    operation["security"] = security if security is not None else []
    paths.setdefault(path, {})[method] = operation


def q(name: str, schema: Schema, description: str = "", *, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema,
            "description": description}


def p(name: str, schema: Schema | None = None, description: str = "") -> dict[str, Any]:
    return {"name": name, "in": "path", "required": True, "schema": schema or STR,
            "description": description}


LOCALE_PARAM = q("locale", {"type": "string", "enum": ["zh-CN", "zh", "en", "en-US"]},
                 "language of names and notes (else Accept-Language, else the server default)")


def _open311(paths: dict[str, dict[str, Any]]) -> None:
    tags = ["Open311 GeoReport v2"]
    base = "/open311/v2"
    for fmt in ("json", "xml"):
        def ok(schema: Schema, fmt: str = fmt) -> dict[str, Any]:
            if fmt == "json":
                return json_content(schema)
            return {"text/xml": {"schema": STR}}
        err = ref("Open311Errors") if fmt == "json" else STR
        ect = "application/json" if fmt == "json" else "text/xml"
        common: dict[str, Any] = {"tags": tags, "errors": err, "error_content_type": ect}
        op(paths, "get", f"{base}/services.{fmt}", summary=f"Services: the case categories ({fmt})",
           ok_content=ok({"type": "array", "items": ref("Open311Service")}),
           params=[LOCALE_PARAM], **common)
        op(paths, "get", f"{base}/services/{{service_code}}.{fmt}",
           summary=f"Service definition: the extra attributes a service asks for ({fmt})",
           ok_content=ok(ref("Open311ServiceDefinition")),
           params=[p("service_code"), LOCALE_PARAM], **common)
        op(paths, "get", f"{base}/requests.{fmt}", summary=f"Service requests, filtered ({fmt})",
           description=("Without dates: the last 90 days. At most 1000 requests (page_size), "
                        "newest first. service_request_id overrides every other filter."),
           ok_content=ok({"type": "array", "items": ref("Open311Request")}),
           params=[q("service_request_id", STR, "comma-separated serial numbers"),
                   q("service_code", STR, "comma-separated service codes"),
                   q("start_date", STR, "ISO 8601 date-time; requested at or after"),
                   q("end_date", STR, "ISO 8601 date-time; requested at or before"),
                   q("status", STR, "open, closed or both comma-separated"),
                   q("page_size", {"type": "integer", "minimum": 1, "maximum": 1000}),
                   LOCALE_PARAM], **common)
        form_schema = obj({"api_key": STR, "service_code": STR}, {
            "lat": {"type": "number"}, "long": {"type": "number"},
            "address_string": STR, "address_id": STR, "description": {"type": "string", "maxLength": 4000},
            "media_url": STR, "email": STR, "device_id": STR, "account_id": STR,
            "first_name": STR, "last_name": STR, "phone": STR, "locale": STR,
            "jurisdiction_id": STR,
        })
        multipart = copy.deepcopy(form_schema)
        multipart["properties"]["media"] = {"type": "string", "contentMediaType": "image/jpeg"}
        op(paths, "post", f"{base}/requests.{fmt}",
           summary=f"Report: create a service request, i.e. a case of channel open311 ({fmt})",
           description=("Needs lat+long or address_string. attribute[code]=value fields carry "
                        "the service's attributes. A photo may be uploaded as multipart field "
                        "`media`. Answers the serial number (service_request_id) and a token."),
           ok_content=ok({"type": "array", "items": ref("Open311PostResult")}),
           body={"required": True, "content": {
               "application/x-www-form-urlencoded": {"schema": form_schema},
               "multipart/form-data": {"schema": multipart}}},
           security=[{"open311ApiKey": []}], **common)
        op(paths, "get", f"{base}/requests/{{service_request_id}}.{fmt}",
           summary=f"One service request by its serial number ({fmt})",
           ok_content=ok({"type": "array", "items": ref("Open311Request"),
                          "minItems": 1, "maxItems": 1}),
           params=[p("service_request_id"), LOCALE_PARAM], **common)
        op(paths, "get", f"{base}/tokens/{{token}}.{fmt}",
           summary=f"The service_request_id for a token from POST requests ({fmt})",
           ok_content=ok({"type": "array", "items": ref("Open311TokenResult")}),
           params=[p("token")], **common)


# ---------------------------------------------------------------- request bodies from models

# PUT /api/v1/categories/{code} validates with cases.categories.Category, its code taken from
# the path; the document shows it without `code` and with an example of its own.
CATEGORY_EXAMPLE = {"name_zh": "人行道破损", "name_en": "Broken pavement", "layer": "street_surface",
                    "level": "line", "department": "D07", "limit": {"working_days": 5}}


def request_models() -> list[type[BaseModel]]:
    """Every model a handler validates a JSON body with, as this document shows it."""
    return [case_api.IntakeBody, *(r.model for r in case_api.TRANSITION_ROUTES),
            case_api.CalendarYearBody, Category, portal_api.RatingBody, telegram_api.InviteBody,
            case_api.RefusalReasonBody]


@functools.cache
def _model_schemas() -> tuple[dict[type[BaseModel], Schema], dict[str, Schema]]:
    """(model → its `$ref`, the schemas they and their parts define) for components."""
    models = list(dict.fromkeys(request_models()))
    refs, top = models_json_schema([(m, "validation") for m in models],
                                   ref_template="#/components/schemas/{model}")
    defs: dict[str, Schema] = top["$defs"]
    category = defs.pop("Category")
    category["properties"].pop("code")
    category["required"] = [f for f in category["required"] if f != "code"]
    category["examples"] = [CATEGORY_EXAMPLE]
    defs["CategoryBody"] = category
    out = {m: refs[(m, "validation")] for m in models}
    out[Category] = ref("CategoryBody")
    if clash := sorted(set(defs) & set(SCHEMAS)):
        raise RuntimeError(f"model schemas clash with hand-written ones: {clash}")
    return out, defs


def model_body(model: type[BaseModel]) -> dict[str, Any]:
    """The request body a handler parses with `model`; required when the model requires a field."""
    refs, defs = _model_schemas()
    schema = refs[model]
    name = schema["$ref"].rsplit("/", 1)[-1]
    return {"required": bool(defs[name].get("required")), "content": json_content(schema)}


def body(schema: Schema, *, required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": json_content(schema)}


def _staff(paths: dict[str, dict[str, Any]]) -> None:
    v1 = "/api/v1"
    cases = ["cases"]
    ref_param = p("ref", STR, "case id or serial number")
    op(paths, "post", f"{v1}/cases", summary="Intake: open a case (hotline, mailbox, web portal)",
       tags=cases, ok_status=201, ok=ref("CaseAnswer"), security=BEARER,
       params=[{"name": "Idempotency-Key", "in": "header", "required": False, "schema": STR}],
       body=model_body(case_api.IntakeBody))
    op(paths, "get", f"{v1}/cases", summary="The caller's cases, filtered, newest first (cursor pages)",
       description=("Only the cases the caller may see: a center its area (the district center "
                    "all), a handling unit what is or was assigned to it."),
       tags=cases, ok=ref("CaseList"), security=BEARER, params=[
           q("unit", STR, "assigned unit"), q("status", STR, "comma-separated states"),
           q("colour", STR, "comma-separated: green, blue, yellow, red"),
           q("category", STR), q("channel", STR), q("kind", STR),
           q("from", STR, "ISO 8601 with offset"), q("to", STR, "ISO 8601 with offset"),
           q("q", STR, "text in description or serial"),
           q("limit", {"type": "integer", "minimum": 1, "maximum": 200}), q("cursor", STR)])
    op(paths, "get", f"{v1}/cases/{{ref}}",
       summary="One case as the caller may see it, and the actions the caller may take",
       tags=cases, ok=ref("CaseAnswer"), security=BEARER, params=[ref_param])
    for route in case_api.TRANSITION_ROUTES:
        op(paths, "post", f"{v1}/cases/{{ref}}/{route.path}", summary=route.summary, tags=cases,
           ok=ref("CaseAnswer"), security=BEARER, params=[ref_param],
           body=model_body(route.model))
    op(paths, "get", f"{v1}/public/cases/{{serial}}",
       summary="Public lookup by serial number (nothing personal)", tags=["public"],
       ok=ref("PublicCase"), params=[p("serial")])
    op(paths, "get", f"{v1}/categories", summary="The category taxonomy", tags=["categories"],
       ok=obj({"categories": {"type": "array", "items": ref("Category")}}), security=BEARER)
    op(paths, "put", f"{v1}/categories/{{code}}", summary="Create or change a category (admin)",
       tags=["categories"], ok=obj({"category": ref("Category")}), security=BEARER,
       params=[p("code")], body=model_body(Category))
    reason = obj({"code": STR, "zh": STR, "en": STR, "active": {"type": "boolean"}})
    op(paths, "get", f"{v1}/refusal-reasons",
       summary="Why a report may be refused or a case voided (active and retired)",
       tags=["categories"], ok=obj({"reasons": {"type": "array", "items": reason}}),
       security=BEARER)
    op(paths, "put", f"{v1}/refusal-reasons/{{code}}",
       summary="Add a refusal reason, change its words, or retire it (admin; codes stay)",
       tags=["categories"], ok=obj({"reason": reason}), security=BEARER,
       params=[p("code")], body=model_body(case_api.RefusalReasonBody))
    year = p("year", {"type": "integer", "minimum": 2000, "maximum": 2100})
    op(paths, "get", f"{v1}/calendar", summary="Years the working-day calendar covers",
       tags=["calendar"], ok=obj({"years": {"type": "array", "items": obj({"year": INT})}}),
       security=BEARER)
    op(paths, "get", f"{v1}/calendar/{{year}}", summary="One year's holidays and adjusted workdays",
       tags=["calendar"], ok=ref("CalendarYear"), security=BEARER, params=[year])
    op(paths, "put", f"{v1}/calendar/{{year}}", summary="Replace a year's holidays and workdays (admin)",
       tags=["calendar"], ok=ref("CalendarYear"), security=BEARER, params=[year],
       body=model_body(case_api.CalendarYearBody))
    op(paths, "delete", f"{v1}/calendar/{{year}}", summary="Remove a year (admin)",
       tags=["calendar"], ok=obj({"deleted": INT}), security=BEARER, params=[year])
    # grids
    op(paths, "get", f"{v1}/grids/units", summary="Units of the active grid, paginated",
       tags=["grids"], ok=obj({"version": nullable(INT), "items": {"type": "array", "items": ref("Unit")},
                               "next": nullable(STR)}),
       params=[q("level", STR), q("parent", STR), q("after", STR),
               q("limit", {"type": "integer", "minimum": 1, "maximum": 1000})])
    op(paths, "get", f"{v1}/grids/units/{{code}}", summary="One unit with its GeoJSON geometry",
       tags=["grids"], ok=ref("Unit"), params=[p("code")])
    op(paths, "get", f"{v1}/grids/place", summary="Place a WGS-84 point in its blocks",
       tags=["grids"], ok=obj({"version": nullable(INT), "placement": ref("Placement"),
                               "names": {"type": "object"}}),
       params=[q("lon", LON, required=True), q("lat", LAT, required=True)])
    # media
    op(paths, "post", f"{v1}/media", summary="Upload a photo (multipart field `photo`)",
       tags=["media"], ok_status=201, ok=ref("Photo"), security=BEARER,
       body={"required": True, "content": {"multipart/form-data": {"schema": obj(
           {"photo": {"type": "string", "contentMediaType": "image/jpeg"}}, extra=False)}}})
    op(paths, "get", f"{v1}/media/{{photo_id}}",
       summary="A photo (public ones without a token; size=web|thumb|original)", tags=["media"],
       ok_content={"image/jpeg": {"schema": STR}, "image/png": {"schema": STR},
                   "image/webp": {"schema": STR}},
       params=[p("photo_id"), q("size", {"enum": ["web", "thumb", "original"]})],
       security=[{}, {"bearerAuth": []}])
    # stats
    stats = ["stats"]
    op(paths, "get", f"{v1}/stats/board", summary="Colour board of a unit (default: the district)",
       tags=stats, ok=obj({"unit": STR, "level": STR}), params=[q("unit", STR)])
    period = [q("from", {"type": "string", "format": "date"}), q("to", {"type": "string", "format": "date"})]
    hotspot_params = [*period, q("by", STR), q("category", STR), q("channel", STR),
                      q("street", STR), q("measure", STR),
                      q("limit", {"type": "integer", "minimum": 1, "maximum": 200})]
    op(paths, "get", f"{v1}/stats/hotspots", summary="Hotspots: counts by unit, category, …",
       tags=stats, ok=obj({"by": STR, "from": STR, "to": STR, "rows": {"type": "array"}}),
       params=hotspot_params)
    op(paths, "get", f"{v1}/stats/hotspots.png", summary="Hotspot bar chart", tags=stats,
       ok_content={"image/png": {"schema": STR}},
       params=[*hotspot_params, q("width", {"type": "integer", "minimum": 200, "maximum": 2400}),
               q("height", {"type": "integer", "minimum": 150, "maximum": 2400})])
    codes = {"type": "string", "pattern": r"^[A-Za-z0-9_\-]{1,64}(,[A-Za-z0-9_\-]{1,64})*$"}
    trend_params = [*period, q("grain", {"enum": ["day", "week", "month"]}),
                    q("by", {"enum": ["total", "street", "workstation", "block", "category", "channel",
                                      "department"]}),
                    *(q(name, codes) for name in ("street", "station", "block", "category", "channel",
                                                   "department")),
                    q("compare", STR), q("lang", {"enum": ["zh", "en"]})]
    op(paths, "get", f"{v1}/stats/trends",
       summary="Trend: counts per day, ISO week or month, any filters, with comparison periods",
       tags=stats, ok=obj({"from": STR, "to": STR, "grain": STR, "buckets": {"type": "array"},
                           "series": {"type": "array"}, "total": {"type": "array"}}),
       params=trend_params)
    op(paths, "get", f"{v1}/stats/trends.png", summary="Trend line chart (zh or en labels)", tags=stats,
       ok_content={"image/png": {"schema": STR}},
       params=[*trend_params, q("width", {"type": "integer", "minimum": 200, "maximum": 2400}),
               q("height", {"type": "integer", "minimum": 150, "maximum": 2400})])
    op(paths, "get", f"{v1}/stats/trends/options",
       summary="The trend filters' choices by name (a street's workstations and blocks)", tags=stats,
       ok=obj({"streets": {"type": "array"}, "categories": {"type": "array"}}),
       params=[q("street", STR), q("lang", {"enum": ["zh", "en"]})])
    op(paths, "get", f"{v1}/stats/alerts",
       summary="Early-warning episodes in the caller's area (docs/EARLY_WARNING.md)", tags=stats,
       ok=obj({"since": STR, "alerts": {"type": "array"}}), security=BEARER,
       params=[q("since", {"type": "string", "format": "date"}), q("open", {"enum": ["0", "1"]}),
               q("limit", {"type": "integer", "minimum": 1, "maximum": 1000}),
               q("lang", {"enum": ["zh", "en"]})])
    op(paths, "get", f"{v1}/stats/headline", summary="Headline figures for a period", tags=stats,
       ok=obj({"from": STR, "to": STR}), params=period)
    month_unit = [q("period", {"type": "string", "pattern": r"^\d{4}(-\d{2}|-Q[1-4])?$"},
                    "month 2026-11, quarter 2026-Q4 or year 2026 (or one of month, quarter, year)"),
                  q("month", {"type": "string", "pattern": r"^\d{4}-\d{2}$"}),
                  q("quarter", {"type": "string", "pattern": r"^\d{4}-Q[1-4]$"}),
                  q("year", {"type": "string", "pattern": r"^\d{4}$"}), q("unit", STR),
                  q("lang", {"enum": ["zh", "en"]})]
    op(paths, "get", f"{v1}/stats/assessment",
       summary="Assessment of a month, quarter or year (CJ/T 292 indicators with formulas, scores by "
               "configurable weights, grades; units without cases: no data)",
       tags=stats, ok=obj({"period": STR, "unit": STR, "tables": {"type": "object"},
                           "definitions": {"type": "array"}}), params=month_unit)
    weights = obj({"weights": {"type": "object"}, "defaults": {"type": "object"}})
    op(paths, "get", f"{v1}/stats/assessment/weights",
       summary="The assessment's weights per level (departments, streets, workstations, teams, "
               "coordinators) and their defaults", tags=stats, ok=weights)
    op(paths, "put", f"{v1}/stats/assessment/weights",
       summary="Set the weights of some levels (admin); each level's weights are ≥ 0 and sum to 1, "
               "null restores a level's defaults", tags=stats, ok=weights, security=BEARER,
       body=body({"type": "object", "additionalProperties": {"type": ["object", "null"]},
                  "example": {"streets": {"on_time_handling_rate": 0.4, "handling_rate": 0.2,
                                          "closure_rate": 0.2, "satisfaction_rate": 0.2}}}))
    op(paths, "get", f"{v1}/stats/assessment.csv", summary="The assessment as CSV", tags=stats,
       ok_content={"text/csv": {"schema": STR}}, params=month_unit)
    op(paths, "get", f"{v1}/stats/assessment.xlsx", summary="The assessment as a spreadsheet",
       tags=stats, params=month_unit, ok_content={
           "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {"schema": STR}})
    op(paths, "get", f"{v1}/stats/map", summary="Street or district map of open cases by colour (GeoJSON-like)",
       tags=stats, ok={"type": "object"}, params=[q("street", STR)])
    # public portal
    portal = ["public"]
    op(paths, "get", f"{v1}/portal/cases/{{serial}}", summary="Portal lookup of a case by serial number",
       tags=portal, ok=ref("PublicCase"), params=[p("serial")])
    op(paths, "post", f"{v1}/portal/cases/{{serial}}/rating",
       summary="Rate a closed case with the code the bot sent its reporter", tags=portal,
       ok=ref("PublicCase"), params=[p("serial")],
       body=model_body(portal_api.RatingBody))
    op(paths, "get", f"{v1}/portal/performance", summary="Performance table of departments and streets",
       tags=portal, ok=obj({"from": STR, "to": STR}), params=period)
    # operations
    op(paths, "get", f"{v1}/ops/outbox", summary="Notification outbox: counts by state, oldest queued age",
       tags=["ops"], ok=obj({"oldest_queued_age_s": NUM}), security=BEARER)
    op(paths, "get", f"{v1}/ops/outbox/dead", summary="Messages that failed for good (dead letters)",
       tags=["ops"], security=BEARER,
       ok=obj({"items": {"type": "array", "items": obj({"id": STR, "attempts": INT})},
               "next": nullable(STR)}),
       params=[q("limit", {"type": "integer", "minimum": 1, "maximum": 500}), q("after", STR)])
    # admin (bot roster)
    op(paths, "post", f"{v1}/admin/invites", summary="A single-use invite link binding a chat account to a role",
       tags=["admin"], ok_status=201, ok=ref("Invite"), security=BEARER,
       body=model_body(telegram_api.InviteBody))
    op(paths, "delete", f"{v1}/admin/roster/{{user_id}}", summary="Unbind a chat account from the roster",
       tags=["admin"], ok=obj({"user_id": INT, "role": STR, "unit": STR, "unit_open_cases": INT}),
       security=BEARER, params=[p("user_id", INT)])


def _inline_body(model: type[BaseModel]) -> dict[str, Any]:
    """A body generated from its model, inline and without examples (api.moderation's bodies:
    the redaction's names a stored photo, so no example could be posted as written)."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})
    schema.pop("examples", None)

    def inline(value: Any) -> Any:  # "#/$defs/X" would resolve against the document's root
        if isinstance(value, dict):
            if "$ref" in value and value["$ref"].startswith("#/$defs/"):
                return inline(defs[value["$ref"].rsplit("/", 1)[-1]])
            return {k: inline(v) for k, v in value.items()}
        return [inline(v) for v in value] if isinstance(value, list) else value

    return {"required": bool(schema.get("required")), "content": json_content(inline(schema))}


def _moderation(paths: dict[str, dict[str, Any]]) -> None:
    """Moderation (issue 22, api/moderation.py): hide/unhide/redact a case, block chat users."""
    from api import moderation as mod_api

    v1, tags = "/api/v1", ["moderation"]
    case_param = p("ref", description="case id or serial number")
    for route in mod_api.ROUTES:
        op(paths, "post", f"{v1}/cases/{{ref}}/{route.path}", summary=route.summary, tags=tags,
           ok=ref("CaseAnswer"), security=BEARER, params=[case_param],
           body=_inline_body(route.model))
    op(paths, "post", f"{v1}/cases/{{ref}}/redact",
       summary="Blur rectangles of one of the case's photos; the copy replaces it publicly",
       tags=tags, ok=ref("CaseAnswer"), security=BEARER, params=[case_param],
       body=_inline_body(mod_api.RedactBody))
    block = obj({"id": STR, "active": BOOL, "reason": STR, "until": DATETIME},
                {"case_id": nullable(STR), "serial": nullable(STR), "told_at": nullable(DATETIME),
                 "user_id": INT, "chat_id": INT})
    op(paths, "get", f"{v1}/moderation/blocks", summary="Chat users blocked from reporting now",
       tags=tags, ok=obj({"blocks": {"type": "array", "items": block}}), security=BEARER)
    op(paths, "post", f"{v1}/moderation/blocks",
       summary="Block a case's chat reporter (or, admin, a chat user id) from reporting until a date",
       tags=tags, ok_status=201, ok=obj({"block": block}), security=BEARER,
       body=_inline_body(mod_api.BlockBody))
    op(paths, "delete", f"{v1}/moderation/blocks/{{block_id}}", summary="Lift a block now",
       tags=tags, ok=obj({"block": block}), security=BEARER,
       params=[p("block_id"), q("reason", STR, "why (for the log)")])
    op(paths, "get", f"{v1}/moderation/log", summary="The last days' moderation actions",
       tags=tags, ok=obj({"entries": {"type": "array", "items": {"type": "object"}}}),
       security=BEARER)


def _operations() -> dict[str, dict[str, Any]]:
    paths: dict[str, dict[str, Any]] = {}
    op(paths, "get", "/healthz", summary="Liveness and database round trip", tags=["ops"],
       ok=ref("Health"))
    op(paths, "get", "/api/openapi.json", summary="This document", tags=["docs"],
       ok={"type": "object", "required": ["openapi", "paths"]})
    op(paths, "get", "/api/docs", summary="Browsable API documentation (HTML)", tags=["docs"],
       ok_content={"text/html": {"schema": STR}})
    _staff(paths)
    _moderation(paths)
    _open311(paths)
    for fmt, content in (("json", json_content(ref("Open311Discovery"))), ("xml", {"text/xml": {"schema": STR}})):
        op(paths, "get", f"/open311/discovery.{fmt}", summary=f"Open311 service discovery ({fmt})",
           tags=["Open311 GeoReport v2"], ok_content=content)
    return paths


@functools.cache
def _document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "gridlink API",
            "version": "1",
            "description": (
                "Grid-based urban patrol and linkage (大联动): case intake, dispatch and "
                "tracking for staff under /api/v1 (bearer tokens: `gridlink token`), the "
                "public case lookup, and Open311 GeoReport v2 under /open311/v2 (API keys: "
                "`gridlink open311-key`)."),
        },
        "servers": [{"url": "/"}],
        "paths": _operations(),
        "components": {
            "schemas": {**SCHEMAS, **_model_schemas()[1]},
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer",
                               "description": "staff token from `gridlink token`"},
                "open311ApiKey": {"type": "apiKey", "in": "query", "name": "api_key",
                                  "description": "Open311 API key (also accepted as a form field)"},
            },
        },
    }


def document() -> dict[str, Any]:
    """A fresh copy of the document (callers may add a server URL without touching the cache)."""
    return copy.deepcopy(_document())


async def openapi_json(request: web.Request) -> web.Response:
    return web.json_response(_document())


DOCS_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>gridlink API</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body { margin: 0; }</style></head>
<body><redoc spec-url="/api/openapi.json"></redoc>
<script src="/api/docs/redoc.standalone.js"></script></body></html>
"""


async def docs_page(request: web.Request) -> web.Response:
    return web.Response(text=DOCS_HTML, content_type="text/html", charset="utf-8")


async def redoc_js(request: web.Request) -> web.FileResponse:
    return web.FileResponse(STATIC / "redoc" / "redoc.standalone.js",
                            headers={"Cache-Control": "public, max-age=86400",
                                     "Content-Type": "application/javascript"})


def setup_routes(app: web.Application) -> None:
    app.router.add_get("/api/openapi.json", openapi_json)
    app.router.add_get("/api/docs", docs_page)
    app.router.add_get("/api/docs/redoc.standalone.js", redoc_js)
