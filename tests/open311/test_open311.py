"""Open311 GeoReport v2 through the real app: services, POST/GET requests, tokens, errors,
JSON and XML forms, and the mapping from the case lifecycle to open/closed."""

from __future__ import annotations

import io
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree import ElementTree as ET

import aiohttp
import pytest
from aiohttp.test_utils import TestClient
from PIL import Image

from cases import lifecycle
from cases.model import CasePolicy
from cases.repository import get_case_by_serial
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.settings import Settings
from grids import repository as grids_repo
from open311 import repository as open311_repo

Client = TestClient[Any, Any]
ISO_OFFSET = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+08:00$")
ADMIN = {"role": "admin", "name": "center"}


def xml_items(body: str, root: str, item: str) -> list[dict[str, str | None]]:
    tree = ET.fromstring(body.encode())
    assert tree.tag == root
    out = []
    for el in tree.findall(item):
        out.append({child.tag: child.text for child in el})
    return out


async def post(client: Client, data: dict[str, Any] | list[tuple[str, str]], fmt: str = "json",
               headers: dict[str, str] | None = None) -> tuple[int, Any]:
    resp = await client.post(f"/open311/v2/requests.{fmt}", data=data, headers=headers or {})
    body = await resp.json() if fmt == "json" else await resp.text()
    return resp.status, body


def report(api_key: str, point: tuple[float, float], **extra: Any) -> dict[str, Any]:
    lon, lat = point
    return {"api_key": api_key, "service_code": "exposed_garbage", "lat": str(lat),
            "long": str(lon), "description": "垃圾堆在路口", **extra}


# ---------------------------------------------------------------- services


async def test_services_in_both_languages_and_both_forms(o311: Client) -> None:
    resp = await o311.get("/open311/v2/services.json")
    assert resp.status == 200 and resp.content_type == "application/json"
    services = await resp.json()
    by_code = {s["service_code"]: s for s in services}
    assert len(services) >= 25
    assert by_code["manhole_cover"]["service_name"] == "窨井盖缺失"
    assert by_code["manhole_cover"]["metadata"] is True
    assert by_code["exposed_garbage"]["metadata"] is False
    assert by_code["exposed_garbage"]["type"] == "realtime"
    assert by_code["exposed_garbage"]["keywords"] == "exposed_garbage, 暴露垃圾, Exposed garbage"

    en = await (await o311.get("/open311/v2/services.json?locale=en")).json()
    assert {s["service_code"]: s for s in en}["manhole_cover"]["service_name"] == \
        "Missing or broken manhole cover"
    by_header = await (await o311.get("/open311/v2/services.json",
                                      headers={"Accept-Language": "en-GB,en;q=0.9,zh;q=0.5"})).json()
    assert by_header == en
    zh_first = await (await o311.get("/open311/v2/services.json",
                                     headers={"Accept-Language": "fr, zh-CN;q=0.8, en;q=0.7"})).json()
    assert zh_first == services

    resp = await o311.get("/open311/v2/services.xml?locale=en")
    assert resp.status == 200 and resp.content_type == "text/xml"
    text = await resp.text()
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>')
    items = xml_items(text, "services", "service")
    assert [i["service_code"] for i in items] == [s["service_code"] for s in en]
    manhole = next(i for i in items if i["service_code"] == "manhole_cover")
    assert manhole["metadata"] == "true" and manhole["type"] == "realtime"
    assert manhole["keywords"] == "manhole_cover, 窨井盖缺失, Missing or broken manhole cover"


async def test_service_definition_with_attributes(o311: Client) -> None:
    resp = await o311.get("/open311/v2/services/manhole_cover.json?locale=en")
    assert resp.status == 200
    body = await resp.json()
    assert body["service_code"] == "manhole_cover"
    state = body["attributes"][0]
    assert state["code"] == "cover_state" and state["datatype"] == "singlevaluelist"
    assert state["required"] is True and state["variable"] is True
    assert {"key": "missing", "name": "missing"} in state["values"]

    resp = await o311.get("/open311/v2/services/manhole_cover.xml")
    tree = ET.fromstring((await resp.text()).encode())
    assert tree.tag == "service_definition"
    assert tree.findtext("service_code") == "manhole_cover"
    attr = tree.find("attributes/attribute")
    assert attr is not None and attr.findtext("code") == "cover_state"
    assert attr.findtext("required") == "true"
    assert [v.findtext("key") for v in attr.findall("values/value")] == ["missing", "broken", "sunken"]
    assert next(v.findtext("name") for v in attr.findall("values/value")) == "缺失"

    plain = await (await o311.get("/open311/v2/services/exposed_garbage.json")).json()
    assert plain == {"service_code": "exposed_garbage", "attributes": []}


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_unknown_service_is_404_in_the_spec_error_format(o311: Client, fmt: str) -> None:
    resp = await o311.get(f"/open311/v2/services/no_such_thing.{fmt}")
    assert resp.status == 404
    if fmt == "json":
        assert await resp.json() == [{"code": 404,
                                      "description": "service_code 'no_such_thing' was not found"}]
    else:
        errors = xml_items(await resp.text(), "errors", "error")
        assert errors == [{"code": "404", "description": "service_code 'no_such_thing' was not found"}]


async def test_unknown_path_and_wrong_method_answer_in_spec_format(o311: Client) -> None:
    resp = await o311.get("/open311/v2/nothing.xml")
    assert resp.status == 404
    assert xml_items(await resp.text(), "errors", "error")[0]["code"] == "404"
    resp = await o311.delete("/open311/v2/requests.json")
    assert resp.status == 405
    assert (await resp.json())[0]["code"] == 405


# ---------------------------------------------------------------- POST requests


async def test_post_opens_a_placed_open311_case_and_reads_back(
        o311: Client, db: Database, api_key: str, inside_point: tuple[float, float],
        grid: Any) -> None:
    status, body = await post(o311, report(api_key, inside_point, first_name="Li", last_name="Lei",
                                           phone="13800000000", email="li@example.org"))
    assert status == 200, body
    [answer] = body
    serial = answer["service_request_id"]
    assert re.fullmatch(r"A\d{8}-\d{5}", serial)
    assert answer["token"] and answer["service_notice"] == "处置时限：1个工作日"

    case = await get_case_by_serial(db, serial=serial)
    assert case["channel"] == "open311" and case["category"] == "exposed_garbage"
    assert case["placement"]["community_block"] == grid.place(*inside_point).community_block
    assert case["reporter"]["phone"] == "13800000000"
    assert case["description"].startswith("垃圾堆在路口")

    tok = await (await o311.get(f"/open311/v2/tokens/{answer['token']}.json")).json()
    assert tok == [{"service_request_id": serial, "token": answer["token"]}]

    [req] = await (await o311.get(f"/open311/v2/requests/{serial}.json")).json()
    assert req["service_request_id"] == serial and req["status"] == "open"
    assert req["service_code"] == "exposed_garbage" and req["service_name"] == "暴露垃圾"
    assert req["description"] == "垃圾堆在路口"
    assert req["lat"] == pytest.approx(inside_point[1]) and req["long"] == pytest.approx(inside_point[0])
    assert req["status_notes"] == "已受理，等待派遣"
    assert ISO_OFFSET.match(req["requested_datetime"]) and req["expected_datetime"] is None
    assert req["address_id"] == case["placement"]["community_block"]
    # Anonymous reads never show who reported.
    text = await (await o311.get(f"/open311/v2/requests/{serial}.xml")).text()
    for secret in ("13800000000", "li@example.org", "Lei"):
        assert secret not in text and secret not in str(req)


async def test_post_in_xml_with_attributes_and_read_as_xml(
        o311: Client, db: Database, api_key: str, inside_point: tuple[float, float]) -> None:
    lon, lat = inside_point
    form = [("api_key", api_key), ("service_code", "illegal_parking"), ("lat", str(lat)),
            ("long", str(lon)), ("attribute[plate]", "沪A12345"),
            ("attribute[blocking]", "fire_lane"), ("attribute[blocking]", "sidewalk"),
            ("media_url", "https://photos.example.org/p/1.jpg")]
    status, text = await post(o311, form, fmt="xml")
    assert status == 200, text
    [answer] = xml_items(text, "service_requests", "request")
    serial = answer["service_request_id"]
    assert serial and answer["token"]
    case = await get_case_by_serial(db, serial=str(serial))
    assert "沪A12345" in case["description"] and "fire_lane, sidewalk" in case["description"]
    extra = await open311_repo.request_for_case(db, case_id=case["_id"])
    assert extra is not None
    assert extra["attributes"] == {"plate": "沪A12345", "blocking": ["fire_lane", "sidewalk"]}

    [req] = xml_items(await (await o311.get(f"/open311/v2/requests/{serial}.xml")).text(),
                      "service_requests", "request")
    assert req["service_code"] == "illegal_parking" and req["status"] == "open"
    assert req["media_url"] == "https://photos.example.org/p/1.jpg"
    assert req["description"] is None  # none was given
    assert req["zipcode"] is None
    [tok] = xml_items(await (await o311.get(f"/open311/v2/tokens/{answer['token']}.xml")).text(),
                      "service_requests", "request")
    assert tok == {"service_request_id": serial, "token": answer["token"]}


async def test_address_without_coordinates_is_taken_unplaced(
        o311: Client, db: Database, api_key: str) -> None:
    status, body = await post(o311, {"api_key": api_key, "service_code": "street_light",
                                     "address_string": "中山路100号门口", "description": "路灯不亮"})
    assert status == 200, body
    serial = body[0]["service_request_id"]
    case = await get_case_by_serial(db, serial=serial)
    assert case["location"] is None and case["placement"] is None
    assert "中山路100号门口" in case["description"]
    [req] = await (await o311.get(f"/open311/v2/requests/{serial}.json")).json()
    assert req["address"] == "中山路100号门口" and req["lat"] is None and req["long"] is None


async def test_repeated_post_with_idempotency_key_opens_one_case(
        o311: Client, db: Database, api_key: str, inside_point: tuple[float, float]) -> None:
    headers = {"Idempotency-Key": "app-req-1"}
    _, first = await post(o311, report(api_key, inside_point), headers=headers)
    _, again = await post(o311, report(api_key, inside_point), headers=headers)
    assert first == again
    assert await db.cases.count_documents({"channel": "open311"}) == 1


@pytest.mark.parametrize(("fields", "status", "message"), [
    ({"api_key": None}, 403, "api_key was not provided"),
    ({"api_key": "o311_wrong"}, 403, "api_key is not valid"),
    ({"service_code": None}, 400, "service_code was not provided"),
    ({"service_code": "flying_saucer"}, 404, "service_code 'flying_saucer' was not found"),
    ({"lat": None, "long": None}, 400, "a location is required: lat and long, or address_string"),
    ({"long": None}, 400, "lat and long must be given together"),
    ({"lat": "north"}, 400, "lat must be a number (WGS-84 degrees)"),
    ({"lat": "91"}, 400, "lat must be between -90 and 90"),
    ({"service_code": "manhole_cover"}, 400, "attribute[cover_state] is required for service manhole_cover"),
    ({"service_code": "manhole_cover", "attribute[cover_state]": "stolen"}, 400,
     "attribute[cover_state]: 'stolen' is not one of ['broken', 'missing', 'sunken']"),
    ({"attribute[colour]": "red"}, 400, "attribute[colour] is not an attribute of service exposed_garbage"),
    ({"media_url": "file:///etc/passwd"}, 400, "media_url must be an http(s) URL"),
])
async def test_post_errors(o311: Client, db: Database, api_key: str,
                           inside_point: tuple[float, float], fields: dict[str, Any],
                           status: int, message: str) -> None:
    data = {k: v for k, v in {**report(api_key, inside_point), **fields}.items() if v is not None}
    for fmt in ("json", "xml"):
        got_status, body = await post(o311, data, fmt=fmt)
        assert got_status == status, body
        if fmt == "json":
            assert len(body) == 1 and body[0]["code"] == status
            assert message in body[0]["description"]
        else:
            [err] = xml_items(body, "errors", "error")
            assert err["code"] == str(status) and message in str(err["description"])
    assert await db.cases.count_documents({}) == 0


async def test_revoked_key_is_refused(o311: Client, db: Database, api_key: str,
                                      clock: FakeClock, inside_point: tuple[float, float]) -> None:
    doc = await db.open311_keys.find_one({})
    assert doc is not None and doc["hash"] != api_key  # stored hashed
    assert await open311_repo.revoke_key(db, key_id=doc["_id"], now=clock.now())
    status, body = await post(o311, report(api_key, inside_point))
    assert status == 403 and body[0]["description"] == "api_key is not valid"


async def test_api_key_in_query_string_is_accepted(o311: Client, api_key: str,
                                                   inside_point: tuple[float, float]) -> None:
    data = report(api_key, inside_point)
    del data["api_key"]
    resp = await o311.post(f"/open311/v2/requests.json?api_key={api_key}", data=data)
    assert resp.status == 200


async def test_unknown_token_and_request_are_404(o311: Client) -> None:
    resp = await o311.get("/open311/v2/tokens/nope.json")
    assert resp.status == 404 and (await resp.json())[0]["code"] == 404
    resp = await o311.get("/open311/v2/requests/A20990101-00001.xml")
    assert resp.status == 404
    assert xml_items(await resp.text(), "errors", "error")[0]["description"] == \
        "service_request_id 'A20990101-00001' was not found"


# ---------------------------------------------------------------- GET requests filters


async def _make(o311: Client, api_key: str, point: tuple[float, float], code: str = "exposed_garbage",
                **extra: Any) -> str:
    status, body = await post(o311, {**report(api_key, point), "service_code": code, **extra})
    assert status == 200, body
    return str(body[0]["service_request_id"])


async def test_get_requests_filters(o311: Client, db: Database, api_key: str, clock: FakeClock,
                                    settings: Settings, inside_point: tuple[float, float]) -> None:
    policy = CasePolicy.from_settings(settings)
    # Within one year the working-day calendar covers (deadlines are computed on dispatch).
    clock.set(datetime(2026, 3, 2, 2, 0, tzinfo=UTC))
    old = await _make(o311, api_key, inside_point)                       # day 0
    clock.advance(days=100)
    garbage = await _make(o311, api_key, inside_point)                   # day 100
    clock.advance(days=1)
    light = await _make(o311, api_key, inside_point, "street_light")     # day 101
    clock.advance(hours=1)
    vending = await _make(o311, api_key, inside_point, "street_vending")  # day 101 + 1h
    await lifecycle.dispatch(db, case_ref=vending, actor=ADMIN, now=clock.now(), policy=policy)
    merged_into = await lifecycle.merge(db, duplicate_ref=light, into_ref=garbage, actor=ADMIN,
                                        now=clock.now())
    assert merged_into[0]["state"] == "merged"
    clock.advance(minutes=5)

    async def ids(query: str, fmt: str = "json") -> list[str]:
        resp = await o311.get(f"/open311/v2/requests.{fmt}{query}")
        assert resp.status == 200, await resp.text()
        if fmt == "xml":
            return [str(r["service_request_id"])
                    for r in xml_items(await resp.text(), "service_requests", "request")]
        return [r["service_request_id"] for r in await resp.json()]

    # The default window is the last 90 days: the day-0 request is not in it. Newest first.
    assert await ids("") == [vending, light, garbage]
    assert await ids("", fmt="xml") == [vending, light, garbage]
    assert await ids("?service_code=street_light,street_vending") == [vending, light]
    assert await ids("?status=open") == [vending, garbage]
    assert await ids("?status=closed") == [light]
    [merged] = await (await o311.get("/open311/v2/requests.json?status=closed&locale=en")).json()
    assert merged["status_notes"] == f"Duplicate report; handled as {garbage}"
    assert await ids("?status=open,closed") == [vending, light, garbage]
    assert await ids("?page_size=2") == [vending, light]
    # service_request_id overrides every other filter, the window included.
    assert sorted(await ids(f"?service_request_id={old},{vending}&status=closed")) == sorted([old, vending])
    start = clock.now() - timedelta(days=110)  # day -9: its 90 days hold day 0 only
    assert await ids(f"?start_date={start:%Y-%m-%dT%H:%M:%SZ}") == [old]  # 90 days from the start
    day100 = (clock.now() - timedelta(days=1, minutes=60)).strftime("%Y-%m-%dT%H:%M:%S%z")
    day100 = day100[:-2] + ":" + day100[-2:]
    assert await ids(f"?end_date={day100.replace('+', '%2B')}") == [garbage]
    assert await ids(f"?start_date={day100.replace('+', '%2B')}&end_date={clock.now():%Y-%m-%dT%H:%M:%SZ}") == \
        [vending, light]
    # A date alone is local midnight (+08:00).
    local_day = (clock.now() + timedelta(hours=8)).date()
    assert await ids(f"?start_date={local_day}&service_code=street_vending") == [vending]


@pytest.mark.parametrize(("query", "message"), [
    ("start_date=yesterday", "start_date 'yesterday' is not an ISO 8601 date-time"),
    ("end_date=2026-13-01T00:00:00Z", "end_date '2026-13-01T00:00:00Z' is not an ISO 8601 date-time"),
    ("start_date=2026-11-02T00:00:00Z&end_date=2026-11-01T00:00:00Z", "start_date is after end_date"),
    ("status=pending", "status 'pending' is not open or closed"),
    ("page_size=0", "page_size must be between 1 and 100 (up to 1000 with a valid api_key)"),
    ("page_size=many", "page_size must be a whole number"),
])
async def test_get_requests_errors(o311: Client, query: str, message: str) -> None:
    resp = await o311.get(f"/open311/v2/requests.json?{query}")
    assert resp.status == 400
    [err] = await resp.json()
    assert err["code"] == 400 and err["description"].startswith(message)
    resp = await o311.get(f"/open311/v2/requests.xml?{query}")
    assert resp.status == 400
    [xml_err] = xml_items(await resp.text(), "errors", "error")
    assert xml_err["code"] == "400" and str(xml_err["description"]).startswith(message)


# ---------------------------------------------------------------- lifecycle → status


async def test_lifecycle_maps_to_status_and_notes(
        o311: Client, db: Database, api_key: str, clock: FakeClock, settings: Settings,
        inside_point: tuple[float, float], grid: Any, demo_grid: Any) -> None:
    policy = CasePolicy.from_settings(settings)
    # Unit names come from the grid in the database (cases names the assignee, English from grids).
    await grids_repo.install_grid(db, grid=demo_grid, source="names", now=clock.now())
    serial = await _make(o311, api_key, inside_point)

    async def view(locale: str = "zh-CN") -> dict[str, Any]:
        [req] = await (await o311.get(f"/open311/v2/requests/{serial}.json?locale={locale}")).json()
        return dict(req)

    clock.advance(minutes=10)
    case = await lifecycle.dispatch(db, case_ref=serial, actor=ADMIN, now=clock.now(), policy=policy)
    # exposed garbage is a street-surface 块 matter: the street center of the placed street
    street = next(u for u in demo_grid.units if u["code"] == grid.place(*inside_point).street)
    assert case["assignee"]["unit"] == street["code"]
    block_name = case["assignee"]["name"]
    assert block_name == street["name_zh"]
    req = await view()
    assert (req["status"], req["status_notes"]) == ("open", f"已派遣至{block_name}")
    assert req["agency_responsible"] == block_name
    assert ISO_OFFSET.match(req["expected_datetime"])
    assert req["expected_datetime"] == case["deadline"].astimezone(settings.tz).isoformat(timespec="seconds")
    assert req["updated_datetime"] != req["requested_datetime"]
    en = await view("en")
    assert en["agency_responsible"] == street["name_en"]
    assert en["status_notes"] == f"Dispatched to {en['agency_responsible']}"

    clock.advance(minutes=10)
    await lifecycle.return_case(db, case_ref=serial, actor=ADMIN, now=clock.now(), policy=policy,
                                reason="不属于本块，联系人王五 13700000000")
    req = await view()
    # A fixed note per state: the handler's own words stay with the staff.
    assert (req["status"], req["status_notes"]) == ("open", "已退回，等待重新派遣")
    assert req["agency_responsible"] is None and req["expected_datetime"] is None
    for fmt in ("json", "xml"):
        for path in (f"/open311/v2/requests/{serial}.{fmt}", f"/open311/v2/requests.{fmt}"):
            text = await (await o311.get(path)).text()
            assert serial in text and "王五" not in text and "13700000000" not in text, path

    await lifecycle.dispatch(db, case_ref=serial, actor=ADMIN, now=clock.now(), policy=policy)
    await lifecycle.accept(db, case_ref=serial, actor=ADMIN, now=clock.now())
    assert (await view())["status_notes"] == f"{block_name}正在处置"
    await lifecycle.request_extension(db, case_ref=serial, actor=ADMIN, now=clock.now(),
                                      policy=policy, reason="需要协调", hours=24)
    assert (await view("en"))["status_notes"] == f"{en['agency_responsible']} asked for more time"
    await lifecycle.decide_extension(db, case_ref=serial, actor=ADMIN, now=clock.now(),
                                     policy=policy, approve=True)
    await lifecycle.feedback(db, case_ref=serial, actor=ADMIN, now=clock.now(), policy=policy,
                             text="已清运")
    req = await view()
    assert (req["status"], req["status_notes"]) == ("open", "已处置，等待核查")
    await lifecycle.verify(db, case_ref=serial, actor=ADMIN, now=clock.now(), policy=policy,
                           ok=False, note="仍有垃圾")
    req = await view("en")
    assert req["status"] == "open"
    assert req["status_notes"] == \
        f"Verification failed; {en['agency_responsible']} is reworking it under supervision"
    await lifecycle.feedback(db, case_ref=serial, actor=ADMIN, now=clock.now(), policy=policy,
                             text="已彻底清运")
    clock.advance(hours=1)
    await lifecycle.verify(db, case_ref=serial, actor=ADMIN, now=clock.now(), policy=policy, ok=True)
    req = await view()
    assert (req["status"], req["status_notes"]) == ("closed", "已结案")
    assert ISO_OFFSET.match(req["updated_datetime"])
    [xml_req] = xml_items(await (await o311.get(f"/open311/v2/requests/{serial}.xml")).text(),
                          "service_requests", "request")
    assert xml_req["status"] == "closed" and xml_req["agency_responsible"] == block_name


async def test_other_channels_show_no_personal_words_or_places(
        o311: Client, db: Database, settings: Settings, clock: FakeClock, grid: Any,
        inside_point: tuple[float, float]) -> None:
    """A hotline complaint is listed, but its words and place stay with the staff."""
    from cases.intake import intake

    lon, lat = inside_point
    result = await intake(db, policy=CasePolicy.from_settings(settings), now=clock.now(),
                          channel="hotline_12345", kind="complaint", category="neighbour_dispute",
                          description="住在302的王先生天天吵闹", location={"lon": lon, "lat": lat},
                          reporter={"phone": "13900000000", "name": "张女士"},
                          actor={"role": "dispatcher", "unit": "310101", "name": "受理员"},
                          grid=grid)
    serial = result.case["serial"]
    [req] = await (await o311.get(f"/open311/v2/requests/{serial}.json")).json()
    assert req["service_code"] == "neighbour_dispute" and req["status"] == "open"
    assert req["description"] is None and req["lat"] is None and req["address_id"] is None
    assert "王先生" not in str(req) and "13900000000" not in str(req)


def _jpeg() -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (120, 90), (30, 120, 200)).save(buf, "JPEG")
    return buf.getvalue()


async def test_post_with_an_uploaded_photo(o311: Client, db: Database, api_key: str,
                                           inside_point: tuple[float, float]) -> None:
    form = aiohttp.FormData()
    for key, value in report(api_key, inside_point).items():
        form.add_field(key, value)
    form.add_field("media", _jpeg(), filename="p.jpg", content_type="image/jpeg")
    resp = await o311.post("/open311/v2/requests.json", data=form)
    assert resp.status == 200, await resp.text()
    [answer] = await resp.json()
    case = await get_case_by_serial(db, serial=answer["service_request_id"])
    assert len(case["photos"]) == 1
    assert await db["media.files"].count_documents({}) >= 1  # stored by media (GridFS)
    # Linked by intake: the case carries the photo and its perceptual hash.
    assert case["photo_ids"] == case["photos"] and len(case["phashes"]) == 1
    [req] = await (await o311.get(f"/open311/v2/requests/{case['serial']}.json")).json()
    # A citizen's upload stays staff-only (cases' public photo rule); the text is public.
    assert req["media_url"] is None and req["description"] == "垃圾堆在路口"

    form = aiohttp.FormData()
    for key, value in report(api_key, inside_point).items():
        form.add_field(key, value)
    form.add_field("media", b"not an image at all", filename="p.jpg", content_type="image/jpeg")
    resp = await o311.post("/open311/v2/requests.json", data=form)
    assert resp.status == 400
    [err] = await resp.json()
    assert err["code"] == 400 and err["description"]
    assert await db.cases.count_documents({}) == 1


async def test_patrol_photo_is_the_public_media_url(o311: Client, db: Database,
                                                    settings: Settings, clock: FakeClock) -> None:
    from cases.intake import intake
    from media import service as media_service

    photo = (await media_service.ingest(db, data=_jpeg(), content_type="image/jpeg",
                                        uploader="bot", settings=settings, now=clock.now())).id
    result = await intake(db, policy=CasePolicy.from_settings(settings), now=clock.now(),
                          channel="patrol_bot", kind="hazard", category="road_damage",
                          description="路面塌陷", actor={"role": "coordinator", "user_id": 7},
                          photos=[photo])
    [req] = await (await o311.get(f"/open311/v2/requests/{result.case['serial']}.json")).json()
    assert req["media_url"] == f"{settings.public_base_url}/api/v1/media/{photo}?size=web"
    assert req["description"] == "路面塌陷"


async def test_service_discovery(o311: Client, settings: Settings) -> None:
    body = await (await o311.get("/open311/discovery.json")).json()
    [endpoint] = body["endpoints"]
    assert endpoint["url"] == f"{settings.public_base_url}/open311/v2"
    assert endpoint["specification"] == "http://wiki.open311.org/GeoReport_v2"
    assert endpoint["formats"] == ["text/xml", "application/json"]
    tree = ET.fromstring((await (await o311.get("/open311/discovery.xml")).text()).encode())
    assert tree.tag == "discovery"
    assert [f.text for f in tree.findall("endpoints/endpoint/formats/format")] == \
        ["text/xml", "application/json"]


async def test_rate_limited_post_answers_in_spec_format(
        settings: Settings, mongo_uri: str, clock: FakeClock, db: Database, grid: Any,
        api_key: str, inside_point: tuple[float, float]) -> None:
    from aiohttp.test_utils import TestServer

    from gridlink.app import create_app
    from tests.open311.conftest import PreloadedGrid

    app = create_app(settings.model_copy(update={"rate_limit_ip_requests": 1}),
                     mongo_uri=mongo_uri, clock=clock)

    async def preloaded(app_: Any) -> Any:
        from api.keys import GRID_INDEX
        app_[GRID_INDEX] = PreloadedGrid(grid)
        yield
    app.cleanup_ctx.append(preloaded)
    async with TestClient(TestServer(app)) as client:
        status, _ = await post(client, report(api_key, inside_point))
        assert status == 200
        status, text = await post(client, report(api_key, inside_point), fmt="xml")
        assert status == 429
        [err] = xml_items(text, "errors", "error")
        assert err["code"] == "429" and err["description"]


# ---------------------------------------------------------------- visibility and intake


async def test_police_transfers_are_neither_listed_nor_found(
        o311: Client, db: Database, api_key: str, settings: Settings, clock: FakeClock,
        inside_point: tuple[float, float], grid: Any) -> None:
    """110 transfers are never public: not in any list, "not found" by serial, reasons unseen."""
    from cases.intake import intake

    policy = CasePolicy.from_settings(settings)
    lon, lat = inside_point
    transfer = await intake(db, policy=policy, now=clock.now(), channel="transfer_110",
                            kind="complaint", category="neighbour_dispute",
                            description="110转来：302室家暴报警", location={"lon": lon, "lat": lat},
                            reporter={"phone": "13611112222", "name": "报警人"},
                            actor={"role": "dispatcher", "unit": "310101", "name": "受理员"}, grid=grid)
    police = transfer.case["serial"]
    await lifecycle.dispatch(db, case_ref=police, actor=ADMIN, now=clock.now(), policy=policy)
    await lifecycle.return_case(db, case_ref=police, actor=ADMIN, now=clock.now(), policy=policy,
                                reason="涉警事项，移交派出所民警李四")
    clock.advance(minutes=1)
    mine = await _make(o311, api_key, inside_point)
    for fmt in ("json", "xml"):
        for query in ("", "?status=open", f"?service_request_id={police},{mine}"):
            resp = await o311.get(f"/open311/v2/requests.{fmt}{query}")
            text = await resp.text()
            assert resp.status == 200 and mine in text, (fmt, query, text)
            for secret in (police, transfer.case["_id"], "李四", "派出所", "13611112222", "家暴"):
                assert secret not in text, (fmt, query, secret)
        resp = await o311.get(f"/open311/v2/requests/{police}.{fmt}")
        assert resp.status == 404
        assert police in await resp.text()  # the spec's error names what was asked, nothing more
        assert "李四" not in await resp.text()


async def test_the_reporters_language_is_stored(o311: Client, db: Database, api_key: str,
                                                inside_point: tuple[float, float]) -> None:
    """Follow-ups speak the reporter's language: the Open311 locale, Accept-Language, or the
    jurisdiction's default."""
    cases = []
    for extra, headers in (({"locale": "en"}, {}), ({}, {"Accept-Language": "en-GB,en;q=0.9"}),
                           ({"locale": "zh_CN"}, {"Accept-Language": "en"}), ({}, {})):
        status, body = await post(o311, report(api_key, inside_point, **extra), headers=headers)
        assert status == 200, body
        cases.append(await get_case_by_serial(db, serial=body[0]["service_request_id"]))
    assert [c["reporter"]["locale"] for c in cases] == ["en", "en", "zh-CN", "zh-CN"]


async def test_a_point_outside_the_district_is_taken_unplaced(
        o311: Client, db: Database, api_key: str) -> None:
    """Open311 requests are citizens' appeals: intake leaves one outside the district unplaced
    for the center, as for every other door."""
    status, body = await post(o311, report(api_key, (116.4, 39.9)))
    assert status == 200, body
    case = await get_case_by_serial(db, serial=body[0]["service_request_id"])
    assert case["placement"] is None and case["location"] == {"lon": 116.4, "lat": 39.9}


# ---------------------------------------------------------------- limits on anonymous reads


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_anonymous_pages_are_at_most_100_requests(o311: Client, api_key: str, fmt: str) -> None:
    """Without an api_key a page holds at most 100 requests (past it a clear 400 in the
    spec's format); a valid key may ask for the spec's 1000."""
    def message(body: str) -> str:
        if fmt == "json":
            [err] = __import__("json").loads(body)
            return str(err["description"])
        [err] = xml_items(body, "errors", "error")
        return str(err["description"])

    for query in ("page_size=101", "page_size=1000", "page_size=1000&api_key=o311_not_a_key",
                  "service_request_id=" + ",".join(f"A20261127-{i:05d}" for i in range(101))):
        resp = await o311.get(f"/open311/v2/requests.{fmt}?{query}")
        assert resp.status == 400, query
        text = message(await resp.text())
        assert "100" in text and "api_key" in text, text
    for query in ("page_size=100", f"page_size=1000&api_key={api_key}",
                  f"api_key={api_key}&service_request_id=" + ",".join(f"A20261127-{i:05d}" for i in range(101))):
        resp = await o311.get(f"/open311/v2/requests.{fmt}?{query}")
        assert resp.status == 200, (query, await resp.text())


async def test_anonymous_reads_are_limited_per_client_address(
        settings: Settings, mongo_uri: str, clock: FakeClock, db: Database, api_key: str) -> None:
    """Reads without a valid api_key share one budget per client address (429 with
    Retry-After in the spec's format past it); a key holder's reads are not counted."""
    from aiohttp.test_utils import TestServer

    from gridlink.app import create_app

    app = create_app(settings.model_copy(update={"rate_limit_read_requests": 3,
                                                 "rate_limit_read_window_s": 60.0}),
                     mongo_uri=mongo_uri, clock=clock)
    async with TestClient(TestServer(app)) as client:
        paths = ["/open311/v2/requests.json", "/open311/v2/services.xml",
                 "/open311/v2/requests.json?api_key=o311_wrong"]
        for path in paths:
            assert (await client.get(path)).status == 200, path
        for fmt in ("json", "xml"):
            resp = await client.get(f"/open311/v2/requests.{fmt}")
            assert resp.status == 429
            assert 1 <= int(resp.headers["Retry-After"]) <= 60
            if fmt == "json":
                [err] = await resp.json()
            else:
                [err] = xml_items(await resp.text(), "errors", "error")
            assert str(err["code"]) == "429" and "api_key" in str(err["description"])
        for _ in range(5):  # a valid key is the key holder's budget, not the address's
            assert (await client.get(f"/open311/v2/requests.json?api_key={api_key}")).status == 200
        clock.advance(seconds=61)
        assert (await client.get("/open311/v2/requests.json")).status == 200


# ---------------------------------------------------------------- output the formats can carry


async def test_a_control_character_in_a_description_leaves_every_xml_list_parseable(
        o311: Client, api_key: str, inside_point: tuple[float, float]) -> None:
    text = "垃圾\x01堆在\x0b路口\x1f\x7f"
    status, body = await post(o311, report(api_key, inside_point, description=text,
                                           address_string="路口\x08 12号"))
    assert status == 200, body
    serial = body[0]["service_request_id"]
    status, body = await post(o311, report(api_key, inside_point))
    assert status == 200, body
    for path in ("/open311/v2/requests.xml", f"/open311/v2/requests/{serial}.xml",
                 f"/open311/v2/requests.xml?service_request_id={serial}",
                 "/open311/v2/requests.xml?status=open&service_code=exposed_garbage"):
        resp = await o311.get(path)
        assert resp.status == 200, path
        items = xml_items(await resp.text(), "service_requests", "request")  # parses
        mine = next(i for i in items if i["service_request_id"] == serial)
        assert mine["description"] == "垃圾堆在路口\x7f" and mine["address"] == "路口 12号"
    # JSON carries any character: the words are kept there as they came.
    [req] = await (await o311.get(f"/open311/v2/requests/{serial}.json")).json()
    assert req["description"] == text
    # Errors that echo the caller's input parse too.
    resp = await o311.get("/open311/v2/no%01such%0Bthing.xml")
    assert resp.status == 404
    [err] = xml_items(await resp.text(), "errors", "error")
    assert "/open311/v2/nosuchthing.xml" in str(err["description"])
