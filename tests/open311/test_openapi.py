"""The OpenAPI document stays true: valid OpenAPI 3.1, complete (every route under /api/v1 and
/open311 is in it, nothing documented that is not served), and every documented GET answers
live with a body its schema accepts. The docs page works offline."""

from __future__ import annotations

import io
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_openapi
from PIL import Image

from api.openapi import document
from gridlink.app import create_app
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.settings import Settings
from grids import repository as grids_repo
from grids.importer import ImportedGrid

Client = TestClient[Any, Any]
DOCUMENTED_PREFIXES = ("/api/v1/", "/open311/", "/healthz", "/api/openapi.json", "/api/docs")
NOT_IN_DOC = {"/api/docs/redoc.standalone.js"}  # the viewer's script, not an API


def served_routes(app: web.Application) -> Iterator[tuple[str, str]]:
    """(METHOD, OpenAPI path) of every route of the app and its sub-apps."""
    for resource in app.router.resources():
        sub = getattr(resource, "_app", None)
        if isinstance(sub, web.Application):
            yield from served_routes(sub)
            continue
        path = re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", resource.canonical)
        for route in resource:
            if route.method not in ("HEAD", "*"):
                yield route.method, path


def test_document_is_valid_openapi_31() -> None:
    doc = document()
    assert doc["openapi"] == "3.1.0"
    validate_openapi(doc)


def test_every_route_is_documented_and_nothing_else(settings: Settings, mongo_uri: str) -> None:
    app = create_app(settings, mongo_uri=mongo_uri)
    served = {(m.lower(), p) for m, p in served_routes(app)
              if p.startswith(DOCUMENTED_PREFIXES) and p not in NOT_IN_DOC}
    documented = {(m, p) for p, ops in document()["paths"].items() for m in ops}
    missing = sorted(served - documented)
    assert not missing, f"add these routes to api/openapi.py: {missing}"
    stale = sorted(documented - served)
    assert not stale, f"documented but not served: {stale}"


async def test_document_and_docs_page_are_served_offline(client: Client) -> None:
    resp = await client.get("/api/openapi.json")
    assert resp.status == 200
    assert await resp.json() == document()
    page = await client.get("/api/docs")
    assert page.status == 200 and page.content_type == "text/html"
    html = await page.text()
    scripts = re.findall(r'<script src="([^"]+)"', html)
    assert scripts == ["/api/docs/redoc.standalone.js"]  # bundled: no CDN
    assert 'spec-url="/api/openapi.json"' in html
    js = await client.get(scripts[0])
    assert js.status == 200 and js.content_type == "application/javascript"
    assert len(await js.read()) > 500_000
    assert "http://" not in html and "https://" not in html


# ---------------------------------------------------------------- live responses


def jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, "JPEG")
    return buf.getvalue()


@pytest.fixture
async def live(settings: Settings, mongo_uri: str, clock: FakeClock, db: Database,
               demo_grid: ImportedGrid) -> AsyncIterator[Client]:
    """The real app over a database holding the demo grid (installed as grids installs it)."""
    await grids_repo.install_grid(db, grid=demo_grid, source="openapi test", now=clock.now())
    app = create_app(settings, mongo_uri=mongo_uri, clock=clock)
    async with TestClient(TestServer(app)) as client:
        yield client


def response_schema(doc: dict[str, Any], op: dict[str, Any], status: int,
                    content_type: str) -> dict[str, Any] | None:
    response = op["responses"].get(str(status)) or op["responses"]["default"]
    content = response["content"]
    assert content_type in content, f"{content_type} is not documented ({sorted(content)})"
    schema = content[content_type]["schema"]
    # Refs point into the document's components: validate against the schema in that context.
    return {**schema, "components": doc["components"]}


async def test_every_documented_get_answers_as_documented(
        live: Client, db: Database, settings: Settings, admin_token: str, api_key: str,
        inside_point: tuple[float, float], demo_grid: ImportedGrid) -> None:
    auth = {"Authorization": f"Bearer {admin_token}"}
    lon, lat = inside_point
    resp = await live.post("/api/v1/media", headers=auth, data={"photo": io.BytesIO(jpeg())})
    assert resp.status == 201, await resp.text()
    photo_id = (await resp.json())["id"]
    resp = await live.post("/open311/v2/requests.json", data={
        "api_key": api_key, "service_code": "manhole_cover", "attribute[cover_state]": "missing",
        "lat": str(lat), "long": str(lon), "description": "井盖没了"})
    assert resp.status == 200, await resp.text()
    [posted] = await resp.json()
    serial, token = posted["service_request_id"], posted["token"]
    case_id = (await db.cases.find_one({"serial": serial}))["_id"]
    calendar = await (await live.get("/api/v1/calendar", headers=auth)).json()
    block = next(u["code"] for u in demo_grid.units if u["level"] == "community_block")
    examples = {"ref": case_id, "serial": serial, "code": block, "photo_id": photo_id,
                "year": str(calendar["years"][0]["year"]), "service_code": "manhole_cover",
                "service_request_id": serial, "token": token, "lon": str(lon), "lat": str(lat)}

    doc = document()
    checked = 0
    problems: list[str] = []  # all of them at once, so one broken route hides no other
    for path, ops in doc["paths"].items():
        if "get" not in ops:
            continue
        op = ops["get"]
        url = path
        query = {}
        for param in op.get("parameters", []):
            if param["in"] == "path":
                assert param["name"] in examples, f"add an example value for {param['name']} ({path})"
                url = url.replace("{" + param["name"] + "}", examples[param["name"]])
            elif param["in"] == "query" and param.get("required"):
                query[param["name"]] = examples[param["name"]]
        resp = await live.get(url, params=query, headers=auth)
        checked += 1
        if resp.status != 200:
            problems.append(f"GET {url}: {resp.status} {(await resp.text())[:200]}")
            continue
        schema = response_schema(doc, op, resp.status, resp.content_type)
        if resp.content_type == "application/json":
            body = await resp.json()
            errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message[:200]}"
                      for e in Draft202012Validator(schema).iter_errors(body)]
            if errors:
                problems.append(f"GET {url} does not match its schema: {errors[:3]}")
    assert not problems, "\n".join(problems)
    assert checked >= 25


async def test_error_answers_match_the_error_schemas(live: Client) -> None:
    doc = document()
    for url, path in (("/api/v1/public/cases/A20990101-00009", "/api/v1/public/cases/{serial}"),
                      ("/open311/v2/requests/A20990101-00009.json",
                       "/open311/v2/requests/{service_request_id}.json")):
        resp = await live.get(url)
        assert resp.status == 404
        schema = response_schema(doc, doc["paths"][path]["get"], 404, resp.content_type)
        assert Draft202012Validator(schema).is_valid(await resp.json())
