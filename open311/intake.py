"""POST requests: a GeoReport service request becomes a case of channel `open311`.

Validation follows the spec (service_code, a location, the service's attributes); the case
itself — placement, the photo's hash and link, the reporter with their language — is opened
by `cases.intake.intake` (with the grid index the caller holds). An uploaded photo is stored
by `media` first (the `PhotoStore`), like any channel's upload.

An address without coordinates is accepted (the spec allows address_string alone) and the
case stays unplaced: gridlink has no geocoder, so the district center places it by hand; the
address is written into the case's description so dispatchers see it. A point outside the
district is taken unplaced too (Open311 requests are citizens' appeals: intake's rule).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from multidict import MultiMapping

from cases import intake as cases_intake
from cases import repository as cases_repo
from cases.errors import CategoryNotFound
from cases.model import CasePolicy
from gridlink.db import Database
from open311 import attributes, service
from open311 import repository as repo
from open311.errors import BadRequestInput, MissingLocation, ServiceNotFound

# Open311 carries no "kind": the service decides which kind of citizen appeal it is.
CONSULTATION = ("policy_consultation", "school_enrolment", "social_security", "population")
HELP = ("hardship_help",)
TEXT_LIMIT = 4000


@dataclass(frozen=True)
class Upload:
    data: bytes
    filename: str
    content_type: str


# Stores an uploaded photo through media; returns its media id.
PhotoStore = Callable[[Upload], Awaitable[str]]


def kind_for(service_code: str) -> str:
    if service_code in CONSULTATION:
        return "consultation"
    if service_code in HELP:
        return "help"
    return "complaint"


def _text(form: MultiMapping[str], name: str, limit: int = 200) -> str | None:
    value = (form.get(name) or "").strip()
    if not value:
        return None
    if len(value) > limit:
        raise BadRequestInput(f"{name} is longer than {limit} characters")
    return value


def _coordinate(form: MultiMapping[str], name: str, low: float, high: float) -> float:
    try:
        value = float(form.get(name, ""))
    except ValueError:
        raise BadRequestInput(f"{name} must be a number (WGS-84 degrees)") from None
    if not math.isfinite(value) or not low <= value <= high:
        raise BadRequestInput(f"{name} must be between {low:g} and {high:g}")
    return value


def _media_url(form: MultiMapping[str]) -> str | None:
    url = _text(form, "media_url", 2000)
    if url is None:
        return None
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise BadRequestInput("media_url must be an http(s) URL")
    return url


async def submit(db: Database, *, policy: CasePolicy, grid: cases_intake.Placer | None,
                 store_photo: PhotoStore,
                 client: repo.ApiClient, form: MultiMapping[str], photo: Upload | None,
                 locale: str, now: datetime, idempotency_key: str | None = None) -> dict[str, Any]:
    """Open the case; the spec's POST answer: service_request_id, token, service_notice."""
    code = _text(form, "service_code", 60)
    if code is None:
        raise BadRequestInput("service_code was not provided")
    try:
        category = await cases_repo.get_category(db, code=code)
    except CategoryNotFound:
        raise ServiceNotFound(f"service_code {code!r} was not found") from None
    if not category.get("active", True):
        raise ServiceNotFound(f"service_code {code!r} is no longer offered")
    values = attributes.validate(code, service.attribute_fields(form.items()))

    has_lat, has_long = bool(form.get("lat", "").strip()), bool(form.get("long", "").strip())
    if has_lat != has_long:
        raise BadRequestInput("lat and long must be given together")
    address = _text(form, "address_string", 500)
    address_id = _text(form, "address_id", 100)
    location: dict[str, float] | None = None
    if has_lat:
        lat = _coordinate(form, "lat", -90, 90)
        location = {"lon": _coordinate(form, "long", -180, 180), "lat": lat}
    elif address is None and address_id is None:
        raise MissingLocation("a location is required: lat and long, or address_string")

    description = _text(form, "description", TEXT_LIMIT)
    media_url = _media_url(form)
    photos = [await store_photo(photo)] if photo is not None else []

    defs = {a.code: a for a in attributes.for_category(code)}
    lines = [description or str(category.get("name_zh") or code)]
    if address or address_id:
        lines.append(f"地址 address: {address or address_id}")
    for attr_code, value in values.items():
        attr = defs[attr_code]
        shown = ", ".join(value) if isinstance(value, list) else (
            f"{value:g}" if isinstance(value, float) else value)
        lines.append(f"{attr.description_zh} {attr.description_en}: {shown}")
    text = "\n".join(lines)[:TEXT_LIMIT]

    first, last = _text(form, "first_name", 100), _text(form, "last_name", 100)
    reporter = {"name": " ".join(n for n in (first, last) if n) or None,
                "phone": _text(form, "phone", 40), "email": _text(form, "email", 200),
                "locale": locale}
    result = await cases_intake.intake(
        db, policy=policy, now=now, channel="open311", kind=kind_for(code), category=code,
        description=text, actor={"role": "citizen", "name": f"open311:{client.name}", "locale": locale},
        reporter={k: v for k, v in reporter.items() if v}, location=location, grid=grid,
        photos=photos,
        idempotency_key=f"open311:{client.key_id}:{idempotency_key}" if idempotency_key else None)
    case = result.case
    account_id = _text(form, "account_id", 100)
    token = await repo.record_request(db, case_id=case["_id"], service_request_id=case["serial"],
                                      client=client, now=now, data={
                                          "description": description, "address_string": address,
                                          "address_id": address_id, "media_url": media_url,
                                          "attributes": values, "account_id": account_id,
                                          "device_id": _text(form, "device_id", 200)})
    return {"service_request_id": case["serial"], "token": token,
            "service_notice": service.notice(case.get("limit") or {}, locale) or None,
            "account_id": account_id}

