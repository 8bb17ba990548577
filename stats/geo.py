"""The map: a street's blocks as GeoJSON, shaded by open or red cases (all of them counted),
with the public open cases whose place is published as points (the district's own polygons;
no online tiles)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from gridlink.db import Database
from gridlink.errors import InvalidInput, NotFound
from stats import repository as repo
from stats.facts import colour_at, published_point
from stats.rollups import fresh
from stats.units import directory


async def street_map(db: Database, *, street: str | None, now: datetime,
                     district: str) -> dict[str, Any]:
    d = await directory(db, district=district)
    if not street:
        streets = d.of_level("street")
        if not streets:
            raise NotFound("no streets loaded")
        street = streets[0]
    if d.level.get(street) != "street":
        raise InvalidInput(f"{street!r} is not a street", field="street")
    view = await fresh(db, now=now)
    version = view.version
    entries = (await repo.open_docs(db, ids=[f"st:{street}"], version=version))[f"st:{street}"]
    ts = now.timestamp()
    per_block: dict[str, dict[str, int]] = {}
    points = []
    for e in entries.values():
        colour = colour_at(e, ts)
        for block in {e[4], e[6]}:
            if block:
                c = per_block.setdefault(block, {"open": 0, "red": 0})
                c["open"] += 1
                c["red"] += colour == "red"
        # Public page: a point only for a public case whose place is published with it
        # (patrol reports, street matters, Open311); never a citizen's own location.
        point = published_point(e)
        if point is not None:
            points.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": list(point)},
                           "properties": {"serial": e[0], "colour": colour, "block": e[4] or e[6]}})
    blocks = []
    for code, geom in d.geometry.items():
        if d.street_of(code) != street:
            continue
        counts = per_block.get(code, {"open": 0, "red": 0})
        blocks.append({"type": "Feature", "geometry": geom,
                       "properties": {"code": code, "name": d.name.get(code, code),
                                      "level": d.level[code], **counts}})
    return {"street": street, "name": d.name.get(street, street), **view.stamp(),
            "streets": [{"code": c, "name": d.name.get(c, c)} for c in d.of_level("street")],
            "blocks": {"type": "FeatureCollection", "features": blocks},
            "cases": {"type": "FeatureCollection", "features": points}}
