"""The OpenAPI 3.1 document of the whole HTTP API, in one place, and the routes that serve it.

GET /api/openapi.json serves the document; GET /api/docs a browsable page (ReDoc, vendored
under api/static/, so it works offline).

Adding a route: add one `op(...)` call to `_operations()` below with its path (OpenAPI
template syntax, `{name}`), method, summary, parameters and response schema. Reuse the
schemas in `SCHEMAS` or add one there. tests/open311/test_openapi.py fails when a route
registered under /api/v1 or /open311 is missing here, and validates live responses of every
documented GET route against these schemas; schemathesis then fuzzes the document.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

from aiohttp import web

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
    "Error": obj({"error": obj({"code": STR, "message": STR}, {"details": {"type": "object"}})}),
    "Health": obj({"status": {"const": "ok"}, "db": obj({"rtt_ms": NUM, "name": STR})}),
    # ---- Open311 GeoReport v2
    "Open311Errors": {
        "type": "array", "minItems": 1,
        "items": obj({"code": INT, "description": STR}, extra=False),
    },
    "Open311Service": obj({
        "service_code": STR, "service_name": STR, "description": STR, "metadata": BOOL,
        "type": {"enum": ["realtime", "batch", "blackbox"]},
        "keywords": {"type": "array", "items": STR}, "group": STR,
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


def _operations() -> dict[str, dict[str, Any]]:
    paths: dict[str, dict[str, Any]] = {}
    op(paths, "get", "/healthz", summary="Liveness and database round trip", tags=["ops"],
       ok=ref("Health"))
    op(paths, "get", "/api/openapi.json", summary="This document", tags=["docs"],
       ok={"type": "object", "required": ["openapi", "paths"]})
    op(paths, "get", "/api/docs", summary="Browsable API documentation (HTML)", tags=["docs"],
       ok_content={"text/html": {"schema": STR}})
    _open311(paths)
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
            "schemas": SCHEMAS,
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
