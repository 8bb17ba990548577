"""`POST /api/v1/media` and `GET /api/v1/media/{id}` on the real app and database."""

from __future__ import annotations

import functools
import io
from collections.abc import AsyncIterator

import pytest
from aiohttp import FormData
from aiohttp.test_utils import TestClient, TestServer
from PIL import Image

from cases import repository as cases_repo
from gridlink import auth
from gridlink.app import create_app
from gridlink.clock import FakeClock
from gridlink.db import Database
from gridlink.settings import Settings
from tests.media import images as I

Client = TestClient[object, object]


@pytest.fixture
async def token(db: Database, clock: FakeClock, settings: Settings) -> str:
    return await auth.create_token(db, role="dispatcher", unit="310101001",
                                   district=settings.district_code, name="Li", now=clock.now())


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def form(data: bytes, *, filename: str = "IMG_0001.jpg", content_type: str = "image/jpeg") -> FormData:
    body = FormData()
    # A file object, not raw bytes: aiohttp warns about big raw bodies (an error under pytest).
    body.add_field("photo", io.BytesIO(data), filename=filename, content_type=content_type)
    return body


@functools.cache
def gps_photo() -> bytes:
    exif = I.exif_block(orientation=8, lat=31.2313333, lon=121.4751667,
                        taken="2026:11:27 09:41:07", offset="+08:00")
    return I.encode(I.scene(2000, 1500), "JPEG", exif=exif.tobytes())


async def upload(client: Client, token: str, data: bytes, **kw: str) -> dict[str, object]:
    resp = await client.post("/api/v1/media", data=form(data, **kw), headers=bearer(token))
    assert resp.status == 201, await resp.text()
    body: dict[str, object] = await resp.json()
    return body


async def test_upload_returns_id_gps_and_time(client: Client, token: str, db: Database) -> None:
    body = await upload(client, token, gps_photo())
    assert body["gps"] == {"lon": pytest.approx(121.4751667, abs=1e-6),
                           "lat": pytest.approx(31.2313333, abs=1e-6)}
    assert body["taken_at"] == "2026-11-27T01:41:07+00:00"
    assert body["duplicate"] is False and (body["width"], body["height"]) == (1500, 2000)
    doc = await db.photos.find_one({"_id": body["id"]})
    assert doc is not None and doc["uploader"].startswith("staff:")

    again = await client.post("/api/v1/media", data=form(gps_photo()), headers=bearer(token))
    assert again.status == 200
    assert (await again.json())["id"] == body["id"]
    assert await db.photos.count_documents({}) == 1


async def test_upload_needs_a_staff_token(client: Client, db: Database) -> None:
    resp = await client.post("/api/v1/media", data=form(gps_photo()))
    assert resp.status == 401
    assert (await resp.json())["error"]["code"] == "unauthenticated"
    assert await db.photos.count_documents({}) == 0


@pytest.mark.parametrize(("data", "filename", "content_type", "code"), [
    (I.encode(I.scene(64, 48), "PNG"), "photo.jpg", "image/jpeg", "photo_type_mismatch"),
    (b"", "empty.jpg", "image/jpeg", "photo_empty"),
    (I.animated_gif(1000), "anim.gif", "image/gif", "photo_unsupported_type"),
], ids=["png-as-jpeg", "empty", "gif"])
async def test_bad_uploads_are_400_with_a_reason(
        client: Client, token: str, db: Database, data: bytes, filename: str,
        content_type: str, code: str) -> None:
    resp = await client.post("/api/v1/media", headers=bearer(token),
                             data=form(data, filename=filename, content_type=content_type))
    assert resp.status == 400
    error = (await resp.json())["error"]
    assert error["code"] == code and error["message"]
    assert await db.photos.count_documents({}) == 0
    assert await db["media.files"].count_documents({}) == 0


async def test_oversized_uploads_are_refused(client: Client, token: str, db: Database,
                                            settings: Settings) -> None:
    # Just past the photo limit: the upload reads that far and says why.
    over = b"\xff\xd8\xff\xe0" + bytes(settings.photo_max_bytes)
    resp = await client.post("/api/v1/media", headers=bearer(token), data=form(over))
    assert resp.status == 400 and (await resp.json())["error"]["code"] == "photo_too_large"
    # Far past it: the request limits refuse the body before the handler sees it.
    huge = b"\xff\xd8\xff\xe0" + bytes(40 * 1024 * 1024)
    resp = await client.post("/api/v1/media", headers=bearer(token), data=form(huge))
    assert resp.status == 413 and (await resp.json())["error"]["code"] == "body_too_large"
    assert await db.photos.count_documents({}) == 0
    assert await db["media.files"].count_documents({}) == 0


async def test_upload_form_must_have_a_photo(client: Client, token: str) -> None:
    body = FormData()
    body.add_field("case_id", "C1")
    body.add_field("note", "x")
    resp = await client.post("/api/v1/media", data=body, headers=bearer(token))
    assert resp.status == 400
    resp = await client.post("/api/v1/media", json={"photo": "x"}, headers=bearer(token))
    assert resp.status == 400


async def test_staff_photo_served_with_type_etag_and_304(client: Client, token: str) -> None:
    photo_id = (await upload(client, token, gps_photo()))["id"]
    url = f"/api/v1/media/{photo_id}"

    assert (await client.get(url)).status == 401  # not public: a token is needed
    bad = await client.get(url, headers=bearer("glk_forged"))
    assert bad.status == 401

    resp = await client.get(url, headers=bearer(token))
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "image/jpeg"
    assert resp.headers["Cache-Control"].startswith("private")
    etag = resp.headers["ETag"]
    web = await resp.read()
    with Image.open(io.BytesIO(web)) as img:
        assert img.size == (960, 1280)  # orientation 8 applied, long side 1,280
        assert len(img.getexif()) == 0
    assert b"Exif" not in web and b"http://ns.adobe.com/xap" not in web

    cached = await client.get(url, headers={**bearer(token), "If-None-Match": etag})
    assert cached.status == 304 and await cached.read() == b""
    assert cached.headers["ETag"] == etag
    # A validator alone does not let a stranger in.
    assert (await client.get(url, headers={"If-None-Match": etag})).status == 401

    thumb = await client.get(url, params={"size": "thumb"}, headers=bearer(token))
    assert thumb.status == 200 and thumb.headers["ETag"] != etag
    with Image.open(io.BytesIO(await thumb.read())) as img:
        assert img.size == (240, 320)
    other = await client.get(url, headers={**bearer(token), "If-None-Match": '"nope", W/"x"'})
    assert other.status == 200


async def test_photo_of_a_public_case_is_public(client: Client, token: str,
                                               db: Database) -> None:
    photo_id = (await upload(client, token, gps_photo()))["id"]
    url = f"/api/v1/media/{photo_id}"
    await db.cases.insert_one({"_id": "C7", "public": True, "photos": [photo_id],
                               "photo_ids": [photo_id], "public_photos": []})
    await cases_repo.mark_carriers(db, photo_ids=[photo_id], case_id="C7")  # as intake does
    assert (await client.get(url)).status == 401  # on a public case, but not a public photo
    await db.cases.update_one({"_id": "C7"}, {"$set": {"public": False,
                                                       "public_photos": [photo_id]}})
    assert (await client.get(url)).status == 401  # a public photo, but of a private case
    await db.cases.update_one({"_id": "C7"}, {"$set": {"public": True}})

    resp = await client.get(url, params={"size": "thumb"})
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "image/jpeg"
    assert resp.headers["Cache-Control"].startswith("public")
    assert (await client.get(url, headers={"If-None-Match": resp.headers["ETag"]},
                             params={"size": "thumb"})).status == 304
    # Never the original, even of a public case (and here none was kept).
    assert (await client.get(url, params={"size": "original"})).status == 401
    missing = await client.get(url, params={"size": "original"}, headers=bearer(token))
    assert missing.status == 404


async def test_unknown_photo_and_bad_size(client: Client, token: str) -> None:
    resp = await client.get("/api/v1/media/doesnotexist", headers=bearer(token))
    assert resp.status == 404
    assert (await resp.json())["error"]["code"] == "photo_not_found"
    photo_id = (await upload(client, token, I.encode(I.scene(64, 48), "JPEG")))["id"]
    bad = await client.get(f"/api/v1/media/{photo_id}", params={"size": "huge"},
                           headers=bearer(token))
    assert bad.status == 400


@pytest.fixture
async def keeping_client(settings: Settings, mongo_uri: str, clock: FakeClock,
                         db: Database) -> AsyncIterator[Client]:
    keep = settings.model_copy(update={"keep_photo_originals": True})
    async with TestClient(TestServer(create_app(keep, mongo_uri=mongo_uri, clock=clock))) as c:
        yield c


async def test_original_served_to_staff_when_kept(keeping_client: Client, token: str) -> None:
    data = I.encode(I.scene(320, 240), "HEIF", quality=80)
    photo_id = (await upload(keeping_client, token, data, filename="IMG_1.HEIC",
                             content_type="image/heic"))["id"]
    resp = await keeping_client.get(f"/api/v1/media/{photo_id}", params={"size": "original"},
                                    headers=bearer(token))
    assert resp.status == 200 and resp.headers["Content-Type"] == "image/heic"
    assert await resp.read() == data
