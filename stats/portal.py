"""The public portal's figures (大联动公开): rating codes and the performance table."""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import date, datetime
from typing import Any

from gridlink.db import Database
from stats import repository as repo
from stats.hotspots import periods
from stats.rollups import fresh
from stats.units import directory

# 10 base32 characters: 50 bits, hopeless to guess within the portal's rate limit.
CODE_LENGTH = 10


def rating_code(case_id: str, secret: str) -> str:
    """The code the bot gives a reporter to rate their case on the portal.

    Derived (HMAC-SHA256 of the case id with the rating-code key, gridlink.appsecrets), so
    nothing is stored and only whoever received it from the bot can rate.
    """
    digest = hmac.new(secret.encode(), f"rating:{case_id}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest).decode()[:CODE_LENGTH]


def check_code(case_id: str, secret: str, code: str) -> bool:
    return hmac.compare_digest(rating_code(case_id, secret), (code or "").strip().upper())


async def performance(db: Database, *, start: date, end: date, today: date,
                      district: str, now: datetime | None = None) -> dict[str, list[dict[str, Any]]]:
    """Departments and streets: received, closed, closure rate, on-time rate, average rating."""
    d = await directory(db, district=district)
    version = (await fresh(db, now=now)).version if now is not None else None
    spans = periods(start, end, today)
    found = await repo.rollup_docs(db, ids=[f"{p}|{by}|*" for p in spans for by in ("department", "street")], version=version)
    out: dict[str, list[dict[str, Any]]] = {}
    for by, level in (("department", "department"), ("street", "street")):
        docs = {k: v for k, v in found.items() if k.split("|")[1] == by}
        acc: dict[str, dict[str, int]] = {}
        for v in docs.values():
            for unit, cell in v.items():
                a = acc.setdefault(unit, {})
                for measure, n in cell.items():
                    a[measure] = a.get(measure, 0) + n
        rows: list[dict[str, Any]] = []
        for code in d.of_level(level):
            m = acc.get(code, {})
            received, closed = m.get("n", 0), m.get("closed", 0)
            rows.append({"unit": code, "name": d.name.get(code, code), "received": received,
                         "closed": closed,
                         "closure_rate": round(closed / received, 4) if received else None,
                         "on_time_rate": round(m.get("on_time", 0) / closed, 4) if closed else None,
                         "avg_rating": round(m["rating_sum"] / m["rated"], 2) if m.get("rated") else None,
                         "ratings": m.get("rated", 0)})
        rows.sort(key=lambda r: (-(r["on_time_rate"] or 0), -r["received"], r["unit"]))
        out[by + "s"] = rows
    return out
