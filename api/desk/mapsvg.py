"""The district map as SVG: community blocks drawn from the active grid's GeoJSON (no tiles,
works offline). A plain equirectangular projection scaled by cos(latitude) is exact enough at
district size; the page's script inverts it to turn a click into lon/lat."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from markupsafe import Markup, escape

WIDTH = 1000.0


@dataclass
class DistrictMap:
    version: int | None
    min_lon: float
    max_lat: float
    kx: float  # SVG units per degree of longitude
    ky: float  # SVG units per degree of latitude
    width: float
    height: float
    paths: str = ""
    blocks: dict[str, tuple[str, tuple[float, float, float, float]]] = field(default_factory=dict)

    def xy(self, lon: float, lat: float) -> tuple[float, float]:
        return (lon - self.min_lon) * self.kx, (self.max_lat - lat) * self.ky

    def svg(self, *, block: str | None = None, point: tuple[float, float] | None = None,
            svg_id: str = "district-map", label: str = "") -> Markup:
        """The map; with `block`, zoomed to that block and highlighted, with `point` marked."""
        view = f"0 0 {self.width:.0f} {self.height:.0f}"
        extra = ""
        if block and block in self.blocks:
            d, (x0, y0, x1, y1) = self.blocks[block]
            pad = max(x1 - x0, y1 - y0) * 1.5 + 10
            view = f"{x0 - pad:.1f} {y0 - pad:.1f} {x1 - x0 + 2 * pad:.1f} {y1 - y0 + 2 * pad:.1f}"
            extra += f'<path class="sel" d="{d}"/>'
        if point is not None:
            x, y = self.xy(*point)
            extra += f'<circle class="pin" cx="{x:.1f}" cy="{y:.1f}" r="3"/>'
        return Markup(
            f'<svg id="{escape(svg_id)}" class="map" role="img" aria-label="{escape(label)}" '
            f'viewBox="{view}" data-full="0 0 {self.width:.0f} {self.height:.0f}" '
            f'data-min-lon="{self.min_lon!r}" data-max-lat="{self.max_lat!r}" '
            f'data-kx="{self.kx!r}" data-ky="{self.ky!r}" preserveAspectRatio="xMidYMid meet">'
            f'<g class="blocks">{self.paths}</g><g class="marks">{extra}</g></svg>')


def _rings(geometry: dict[str, Any]) -> list[list[list[float]]]:
    if geometry["type"] == "Polygon":
        return list(geometry["coordinates"])
    if geometry["type"] == "MultiPolygon":
        return [ring for poly in geometry["coordinates"] for ring in poly]
    return []


def build_map(units: list[dict[str, Any]], *, version: int | None) -> DistrictMap:
    blocks = [u for u in units if u.get("level") == "community_block" and u.get("geometry")]
    xs = [p[0] for u in blocks for r in _rings(u["geometry"]) for p in r]
    ys = [p[1] for u in blocks for r in _rings(u["geometry"]) for p in r]
    if not xs:
        return DistrictMap(version, 0.0, 0.0, 1.0, 1.0, WIDTH, WIDTH * 0.6)
    min_lon, max_lon, min_lat, max_lat = min(xs), max(xs), min(ys), max(ys)
    kx = WIDTH / max(max_lon - min_lon, 1e-9)
    ky = kx / math.cos(math.radians((min_lat + max_lat) / 2))
    out = DistrictMap(version, min_lon, max_lat, kx, ky, WIDTH, (max_lat - min_lat) * ky)
    streets: dict[str, int] = {}
    parts = []
    for unit in blocks:
        segs = []
        bx: list[float] = []
        by: list[float] = []
        for ring in _rings(unit["geometry"]):
            pts = [out.xy(lon, lat) for lon, lat, *_ in ring]
            bx += [p[0] for p in pts]
            by += [p[1] for p in pts]
            segs.append("M" + "L".join(f"{x:.1f},{y:.1f}" for x, y in pts) + "Z")
        d = "".join(segs)
        street = unit["code"][:9]
        shade = streets.setdefault(street, len(streets) % 6)
        out.blocks[unit["code"]] = (d, (min(bx), min(by), max(bx), max(by)))
        parts.append(f'<path class="b s{shade}" data-code="{unit["code"]}" d="{d}"/>')
    out.paths = "".join(parts)
    return out
