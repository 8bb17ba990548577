"""REST intake through `cases.intake`: placement with the app's grid, photos checked, linked
and hashed inside intake, the reporter's language stored."""

from __future__ import annotations

import io
from typing import Any

from aiohttp import FormData
from aiohttp.test_utils import TestClient
from PIL import Image

from gridlink.db import Database
from grids.placement import GridIndex
from tests.cases.conftest import NewCase, Tokens, bearer

Client = TestClient[Any, Any]
BODY = {"channel": "hotline_12345", "kind": "hazard", "category": "road_damage",
        "description": "a deep pothole", "reporter": {"phone": "13800138000", "locale": "en"}}


async def _upload(client: Client, token: str) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (120, 40, 200)).save(buf, "JPEG")
    buf.seek(0)
    form = FormData()
    form.add_field("photo", buf, filename="p.jpg", content_type="image/jpeg")
    resp = await client.post("/api/v1/media", data=form, headers=bearer(token))
    assert resp.status == 201, await resp.text()
    return str((await resp.json())["id"])


async def test_intake_places_links_photos_and_keeps_the_language(
        o311: Client, tokens: Tokens, db: Database, grid: GridIndex,
        inside_point: tuple[float, float]) -> None:
    lon, lat = inside_point
    photo = await _upload(o311, tokens["center"])
    resp = await o311.post("/api/v1/cases", headers=bearer(tokens["center"]), json={
        **BODY, "location": {"lon": lon, "lat": lat}, "photos": [photo]})
    assert resp.status == 201, await resp.text()
    answer = await resp.json()
    stored = await db.cases.find_one({"_id": answer["case"]["id"]})
    assert stored["placement"] == grid.place(lon, lat).to_dict()
    assert stored["photo_ids"] == [photo] and len(stored["phashes"]) == 1
    assert stored["reporter"]["locale"] == "en"
    assert answer["case"]["placement"]["community_block"] == stored["placement"]["community_block"]
    assert answer["allowed_actions"][:3] == ["dispatch", "supervise", "merge"]
    # The photo is the case's now: its area's staff see it.
    assert (await o311.get(f"/api/v1/media/{photo}", headers=bearer(tokens["center"]))).status == 200


async def test_intake_refusals_are_400(o311: Client, tokens: Tokens, db: Database,
                                       new_case: NewCase) -> None:
    center = bearer(tokens["center"])
    resp = await o311.post("/api/v1/cases", headers=center, json={**BODY, "photos": ["nope"]})
    assert resp.status == 400 and "no uploaded photo" in (await resp.json())["error"]["message"]
    # A hazard far outside the district is refused (someone must go there)...
    far = {"lon": 116.39, "lat": 39.9}
    resp = await o311.post("/api/v1/cases", headers=center, json={**BODY, "location": far})
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "outside_district"
    # ... an appeal is taken unplaced, for the center to place.
    resp = await o311.post("/api/v1/cases", headers=center,
                           json={**BODY, "kind": "complaint", "location": far})
    assert resp.status == 201 and (await resp.json())["case"]["placement"] is None
    resp = await o311.post("/api/v1/cases", headers=center,
                           json={**BODY, "reporter": {"locale": "english please"}})
    assert resp.status == 400
    # Another case's staff-only photo cannot be taken into a case by someone who cannot see it.
    photo = await _upload(o311, tokens["center"])
    await new_case(channel="transfer_110", kind="help", category="hardship_help", photos=[photo])
    resp = await o311.post("/api/v1/cases", headers=bearer(tokens["other_street"]),
                           json={**BODY, "kind": "complaint", "photos": [photo]})
    assert resp.status == 400 and "another case" in (await resp.json())["error"]["message"]
    assert await db.cases.count_documents({"photo_ids": photo}) == 1


async def test_a_report_placed_in_another_area_answers_its_receipt(
        o311: Client, tokens: Tokens, inside_point: tuple[float, float]) -> None:
    """The caller opened it but may not see it: the serial and state, nothing of the case."""
    lon, lat = inside_point
    resp = await o311.post("/api/v1/cases", headers=bearer(tokens["other_street"]),
                           json={**BODY, "channel": "transfer_110",
                                 "location": {"lon": lon, "lat": lat}})
    assert resp.status == 201, await resp.text()
    answer = await resp.json()
    assert set(answer["case"]) == {"id", "serial", "state"} and answer["allowed_actions"] == []
    got = await o311.get(f"/api/v1/cases/{answer['case']['id']}",
                         headers=bearer(tokens["center"]))
    assert (await got.json())["case"]["reporter"]["phone"] == "13800138000"
