"""Cheap abuse of public reads and of the one JSON reader: the hotspot PNG comes in a few
sizes only (so its cache holds), and a deep JSON body is a 400 whatever Content-Type it claims
(a form-typed body skips the request-limits middleware's check; the handlers' reader checks)."""

from __future__ import annotations

from aiohttp import web
from aiohttp.test_utils import TestClient

from api import stats as stats_api
from gridlink import auth
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.settings import Settings
from stats.charts import HEIGHTS, WIDTHS

Client = TestClient[web.Request, web.Application]
PNG = "/api/v1/stats/hotspots.png?by=street"


async def test_hotspot_png_sizes_come_from_a_small_set(client: Client) -> None:
    stats_api.PNG_CACHE.clear()
    for query in ("&width=801", "&width=2400&height=2400", "&height=151", "&width=640.0",
                  "&width=-640", "&width=%EF%BC%96%EF%BC%94%EF%BC%90"):  # fullwidth ６４０
        async with client.get(PNG + query) as resp:
            assert resp.status == 400, query
            err = (await resp.json())["error"]
            field = "height" if "height=151" in query else "width"
            allowed = HEIGHTS if field == "height" else WIDTHS
            assert err["details"]["field"] == field and err["details"]["allowed"] == list(allowed)
            assert ", ".join(map(str, allowed)) in err["message"]
    assert len(stats_api.PNG_CACHE) == 0  # nothing was drawn for a refused size
    async with client.get(PNG + "&width=640&height=400") as resp:
        assert resp.status == 200 and resp.content_type == "image/png"
    async with client.get(PNG) as resp:  # the default size is one of the allowed ones
        assert resp.status == 200
    assert len(stats_api.PNG_CACHE) == 2
    # every allowed pair, twice: each drawn once, then served from the cache
    for _ in range(2):
        for w in WIDTHS[:2]:
            for h in HEIGHTS[:2]:
                async with client.get(PNG + f"&width={w}&height={h}") as resp:
                    assert resp.status == 200
    assert len(stats_api.PNG_CACHE) == 2 + 3  # 640x400 was there already


async def test_deep_json_labelled_as_a_form_is_a_400_not_a_500(
        client: Client, db: Database, settings: Settings, clock: FakeClock) -> None:
    token = await auth.create_token(db, role="admin", unit=settings.district_code,
                                    district=settings.district_code, name="admin", now=clock.now())
    deep = "[" * 20_000 + "]" * 20_000
    for ctype in ("application/x-www-form-urlencoded", "multipart/form-data; boundary=x"):
        async with client.post("/api/v1/cases", data=deep, headers={
                "Content-Type": ctype, "Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 400, (ctype, resp.status)
            assert (await resp.json())["error"]["code"] == "json_too_deep"
    shallow_but_past_the_limit = "[" * (settings.json_max_depth + 1) + "]" * (settings.json_max_depth + 1)
    async with client.post("/api/v1/cases", data=shallow_but_past_the_limit, headers={
            "Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]["code"] == "json_too_deep"
    # not JSON at all, and JSON that is not an object: 400s that say so
    for body, words in (("service_code=x&lat=1", "valid JSON"), ("[1, 2]", "JSON object")):
        async with client.post("/api/v1/cases", data=body, headers={
                "Content-Type": "application/x-www-form-urlencoded", "Authorization": f"Bearer {token}"}) as resp:
            assert resp.status == 400
            assert words in (await resp.json())["error"]["message"]
