"""The document's request bodies are the handlers' models: same schema, same constraints, and
every example it shows is accepted by its route (posted with a token of a role allowed to call
it, against a case in a state where it applies)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aiohttp.test_utils import TestClient

from api import cases as case_api
from api.openapi import document, request_models
from cases.categories import Category
from gridlink.clock import FakeClock
from gridlink.db import Database
from tests.cases.conftest import Tokens, bearer

Client = TestClient[Any, Any]
V1 = "/api/v1"


def _schema(doc: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        return doc["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]  # type: ignore[no-any-return]
    return schema


def documented_examples(doc: dict[str, Any]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """(method, path) → the example JSON bodies the document shows for it."""
    out = {}
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            content = (op.get("requestBody") or {}).get("content", {})
            if "application/json" in content:
                out[(method, path)] = _schema(doc, content["application/json"]["schema"]).get(
                    "examples", [])
    return out


def test_bodies_are_generated_from_the_models() -> None:
    doc = document()
    for model in request_models():
        if model is Category:
            continue  # shown without `code` (it comes from the path); checked below
        generated = model.model_json_schema(ref_template="#/components/schemas/{model}")
        defs = generated.pop("$defs", {})
        assert doc["components"]["schemas"][model.__name__] == generated, model.__name__
        for name, part in defs.items():
            assert doc["components"]["schemas"][name] == part, name
    category = doc["components"]["schemas"]["CategoryBody"]
    assert "code" not in category["properties"]
    assert category["properties"].keys() == Category.model_fields.keys() - {"code"}
    for route in case_api.TRANSITION_ROUTES:
        body = doc["paths"][f"{V1}/cases/{{ref}}/{route.path}"]["post"]["requestBody"]
        assert body["content"]["application/json"]["schema"]["$ref"].endswith(route.model.__name__)


def test_the_document_keeps_the_constraints_and_promises_no_refused_field() -> None:
    schemas = document()["components"]["schemas"]
    intake = schemas["IntakeBody"]
    assert "phashes" not in intake["properties"] and intake["additionalProperties"] is False
    assert set(intake["required"]) == {"kind", "category", "description"}
    ext = schemas["ExtensionBody"]["properties"]
    hours = next(s for s in ext["hours"]["anyOf"] if s["type"] == "number")
    assert hours["maximum"] == 720 and hours["exclusiveMinimum"] == 0
    days = next(s for s in ext["working_days"]["anyOf"] if s["type"] == "integer")
    assert (days["minimum"], days["maximum"]) == (1, 60)
    assert schemas["RateBody"]["properties"]["score"].items() >= {"minimum": 1, "maximum": 5}.items()
    assert schemas["ReasonBody"]["required"] == ["reason"]
    assert schemas["FeedbackBody"]["required"] == ["text"]
    # a rating code is made for one case: no example could be posted as written
    for name in {m.__name__ for m in request_models()} - {"Category", "RatingBody"}:
        assert schemas[name].get("examples"), f"{name} has no example"


async def test_phashes_is_refused_as_the_document_says(client: Client, tokens: Tokens) -> None:
    example = document()["components"]["schemas"]["IntakeBody"]["examples"][0]
    resp = await client.post(f"{V1}/cases", json={**example, "phashes": ["c3c3c3c33c3c3c3c"]},
                             headers=bearer(tokens["center"]))
    assert resp.status == 400
    assert "phashes" in (await resp.json())["error"]["message"]


async def test_every_documented_example_body_is_accepted(
        o311: Client, tokens: Tokens, db: Database, clock: FakeClock) -> None:
    doc = document()
    examples = documented_examples(doc)
    posted: set[tuple[str, str]] = set()

    async def send(method: str, path: str, who: str, **params: str) -> dict[str, Any]:
        [body] = examples[(method, path)]  # one example each, posted as written
        url = path.format(**params)
        resp = await o311.request(method.upper(), url, json=body, headers=bearer(tokens[who]))
        answer: dict[str, Any] = await resp.json()
        assert resp.status < 400, (method, url, body, resp.status, answer)
        posted.add((method, path))
        return answer

    intake, case = f"{V1}/cases", f"{V1}/cases/{{ref}}"
    # A: through the whole path; its serial is the one the merge example names.
    a = (await send("post", intake, "center"))["case"]
    assert a["serial"] == "A20261127-00001" and a["reporter"]["locale"] == "en"
    await send("post", f"{case}/dispatch", "center", ref=a["id"])
    await send("post", f"{case}/accept", "roads", ref=a["id"])  # its version is 2 by now
    await send("post", f"{case}/extension", "roads", ref=a["id"])
    await send("post", f"{case}/extension/decision", "center", ref=a["id"])
    await send("post", f"{case}/supervise", "center", ref=a["id"])
    # B: a duplicate of A, merged into it while A is open.
    b = (await send("post", intake, "center"))["case"]
    await send("post", f"{case}/merge", "center", ref=b["id"])
    await send("post", f"{case}/feedback", "roads", ref=a["id"])
    await send("post", f"{case}/verify", "center", ref=a["id"])
    await send("post", f"{case}/rate", "center", ref=a["id"])
    # C: returned by the handler.
    c = (await send("post", intake, "center"))["case"]
    await send("post", f"{case}/dispatch", "center", ref=c["id"])
    await send("post", f"{case}/return", "roads", ref=c["id"])
    # D, E: the center's toolset (issue 22): re-file, re-place, suspend, resume, void on one
    # case; not accepted on another; a consultation answered directly.
    d = (await send("post", intake, "center"))["case"]
    await send("post", f"{case}/refile", "center", ref=d["id"])
    await send("post", f"{case}/replace", "center", ref=d["id"])
    await send("post", f"{case}/suspend", "center", ref=d["id"])
    await send("post", f"{case}/resume", "center", ref=d["id"])
    await send("post", f"{case}/dispatch", "center", ref=d["id"])
    await send("post", f"{case}/void", "center", ref=d["id"])
    e = (await send("post", intake, "center"))["case"]
    await send("post", f"{case}/refuse", "center", ref=e["id"])
    f = (await o311.post(intake, json={"channel": "hotline_12345", "kind": "consultation",
                                       "category": "school_enrolment", "description": "When?"},
                         headers=bearer(tokens["center"]))).json()
    await send("post", f"{case}/direct-answer", "center", ref=(await f)["case"]["id"])
    # G: dispatched by its category's rule (cases.autodispatch), taken back by the center.
    from cases import autodispatch
    from cases import repository as cases_repo
    rule = Category.from_doc(await cases_repo.get_category(db, code="road_damage"))
    rule.auto_dispatch.enabled = True  # to the routing's proposal: the roads department
    await cases_repo.put_category(db, category=rule, now=clock.now(), by="test")
    await db.roster.insert_one({"_id": 7007, "user_id": 7007, "chat_id": 7007, "role": "department",
                                "unit": "D07", "name": "roads", "locale": "en"})
    g = (await send("post", intake, "center"))["case"]
    auto = await autodispatch.dispatch_new(db, case=await cases_repo.get_case(db, ref=g["id"]),
                                           now=clock.now(), policy=case_api.CasePolicy())
    assert auto is not None and auto["auto_dispatched"]
    await send("post", f"{case}/take-back", "center", ref=g["id"])
    # H: a joint case (cases.joint): an assisting unit added, returning its part, added again,
    # accepting and feeding back
    h = (await send("post", intake, "center"))["case"]
    await send("post", f"{case}/dispatch", "center", ref=h["id"])
    await send("post", f"{case}/assist", "center", ref=h["id"])
    await send("post", f"{case}/part-return", "chengguan", ref=h["id"])
    await send("post", f"{case}/assist", "center", ref=h["id"])
    await send("post", f"{case}/part-accept", "chengguan", ref=h["id"])
    await send("post", f"{case}/part-extension", "chengguan", ref=h["id"])
    await send("post", f"{case}/part-extension/decision", "center", ref=h["id"])
    await send("post", f"{case}/part-feedback", "chengguan", ref=h["id"])
    await send("put", f"{V1}/calendar/{{year}}", "admin", year="2027")
    await send("put", f"{V1}/categories/{{code}}", "admin", code="broken_pavement")
    await send("put", f"{V1}/refusal-reasons/{{code}}", "admin", code="property_contract")
    # an invite binds to a unit of the stored grid (the app here places with a preloaded index)
    from grids import repository as grids_repo
    from grids.demo import demo_feature_collection
    from grids.importer import parse_grid
    await grids_repo.install_grid(db, grid=parse_grid(demo_feature_collection()), source="tests",
                                  now=datetime.now(UTC))
    await send("post", f"{V1}/admin/invites", "admin")

    with_examples = {k for k, v in examples.items() if v}
    assert posted == with_examples, f"post these examples too: {sorted(with_examples - posted)}"
    assert (await db.cases.find_one({"_id": a["id"]}))["rating"]["score"] == 4
