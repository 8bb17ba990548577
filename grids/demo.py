"""The synthetic "A district": the seed's counts, deterministic from a seed, tiled exactly.

How the tiling is made: every unit starts as an axis-aligned rectangle on a 10 m integer
lattice (district → streets → workstations → community blocks; street → patrol zones →
street blocks), so each layer tiles the district rectangle exactly. Each rectangle edge then
gets every lattice corner (of either layer) that lies on it, so neighbours share identical
vertices, and one smooth bijective warp bends the whole lattice before it is turned into
lon/lat. Neighbours keep identical vertices, so both layers still tile with no gap and no
overlap, but borders are no longer straight. The street-surface layer covers the whole
district in the demo (a real one may cover only streets and public spaces).
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from grids.units import (
    COMMUNITY_BLOCK,
    DISTRICT,
    PATROL_ZONE,
    STREET,
    STREET_BLOCK,
    WORKSTATION,
)

DEFAULT_SEED = 20090101
WIDTH_M = 10_000  # west → east
HEIGHT_M = 9_600  # south → north
STEP_M = 10  # lattice step: every split lands on it
ORIGIN = (121.40, 31.16)  # south-west corner (lon, lat), WGS-84
M_PER_DEG_LAT = 110_574.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(ORIGIN[1] + HEIGHT_M / 2 / M_PER_DEG_LAT))

N_STREETS = 13
N_WORKSTATIONS = 516
N_RESIDENTIAL = 350
N_COMMUNITY_BLOCKS = 1_299
N_PATROL_ZONES = 75
N_STREET_BLOCKS = 189

# (zh, en, is_town): towns (镇) hold most of the village workstations.
STREETS: tuple[tuple[str, str, bool], ...] = (
    ("枫林路街道", "Fenglin Road Subdistrict", False),
    ("天平路街道", "Tianping Road Subdistrict", False),
    ("湖滨街道", "Hubin Subdistrict", False),
    ("斜桥街道", "Xieqiao Subdistrict", False),
    ("田林街道", "Tianlin Subdistrict", False),
    ("漕溪街道", "Caoxi Subdistrict", False),
    ("康健街道", "Kangjian Subdistrict", False),
    ("凌云路街道", "Lingyun Road Subdistrict", False),
    ("长桥街道", "Changqiao Subdistrict", False),
    ("梅陇镇", "Meilong Town", True),
    ("华泾镇", "Huajing Town", True),
    ("龙吴镇", "Longwu Town", True),
    ("春申镇", "Chunshen Town", True),
)
STREET_ROWS = (4, 4, 5)  # streets per row, north → south

PLACES: tuple[tuple[str, str], ...] = (
    ("枫林", "Fenglin"), ("天平", "Tianping"), ("湖滨", "Hubin"), ("斜桥", "Xieqiao"),
    ("田林", "Tianlin"), ("漕溪", "Caoxi"), ("康健", "Kangjian"), ("凌云", "Lingyun"),
    ("长桥", "Changqiao"), ("梅陇", "Meilong"), ("华泾", "Huajing"), ("龙吴", "Longwu"),
    ("春申", "Chunshen"), ("桂林", "Guilin"), ("宜山", "Yishan"), ("钦州", "Qinzhou"),
    ("虹梅", "Hongmei"), ("百色", "Baise"), ("罗秀", "Luoxiu"), ("华富", "Huafu"),
    ("石龙", "Shilong"), ("柳州", "Liuzhou"), ("龙华", "Longhua"), ("景谷", "Jinggu"),
    ("东兰", "Donglan"), ("南丹", "Nandan"), ("零陵", "Lingling"), ("建国", "Jianguo"),
    ("高安", "Gao'an"), ("永嘉", "Yongjia"), ("嘉善", "Jiashan"), ("乌鲁木齐", "Urumqi"),
    ("华亭", "Huating"), ("安福", "Anfu"), ("复兴", "Fuxing"), ("康平", "Kangping"),
)
RESIDENTIAL_SUFFIXES: tuple[tuple[str, str], ...] = (
    ("一村", "No.1 Estate"), ("二村", "No.2 Estate"), ("三村", "No.3 Estate"),
    ("新村", "New Estate"), ("苑", "Gardens"), ("小区", "Residential Estate"),
    ("花园", "Garden"), ("公寓", "Apartments"), ("坊", "Lane"), ("东区", "East"),
    ("西区", "West"), ("南区", "South"), ("北区", "North"),
)
ROADS: tuple[tuple[str, str], ...] = (
    ("漕宝路", "Caobao Road"), ("钦州路", "Qinzhou Road"), ("桂平路", "Guiping Road"),
    ("宜山路", "Yishan Road"), ("中山西路", "West Zhongshan Road"), ("龙华西路", "West Longhua Road"),
    ("沪闵路", "Humin Road"), ("虹梅路", "Hongmei Road"), ("田林路", "Tianlin Road"),
    ("天钥桥路", "Tianyaoqiao Road"), ("零陵路", "Lingling Road"), ("百色路", "Baise Road"),
    ("罗秀路", "Luoxiu Road"), ("华泾路", "Huajing Road"), ("龙吴路", "Longwu Road"),
    ("老沪闵路", "Old Humin Road"), ("凯旋路", "Kaixuan Road"), ("东安路", "Dong'an Road"),
)
CN_DIGITS = "〇一二三四五六七八九"

Rect = tuple[int, int, int, int]  # x0, y0, x1, y1 on the lattice, metres


@dataclass
class _Node:
    code: str
    level: str
    name_zh: str
    name_en: str
    parent: str
    kind: str | None = None
    rect: Rect | None = None
    props: dict[str, Any] = field(default_factory=dict)


def _split(total: int, weights: list[float], rng: random.Random, min_size: int) -> list[int]:
    """Cut a length into parts ∝ weights (jittered), on the lattice, each ≥ min_size."""
    jittered = [w * rng.uniform(0.85, 1.15) for w in weights]
    s = sum(jittered)
    cuts = [0]
    acc = 0.0
    for w in jittered[:-1]:
        acc += w
        cuts.append(round(total * acc / s / STEP_M) * STEP_M)
    cuts.append(total)
    sizes = [b - a for a, b in itertools.pairwise(cuts)]
    if min(sizes) < min_size:
        raise AssertionError(f"lattice too coarse: {sizes} (min {min_size})")
    return sizes


def _grid(rect: Rect, n: int, rng: random.Random, min_size: int) -> list[Rect]:
    """Split a rectangle into n cells in rows (north → south), each row west → east."""
    x0, y0, x1, y1 = rect
    w, h = x1 - x0, y1 - y0
    rows = max(1, min(n, round(math.sqrt(n * h / w))))
    per_row = [n // rows + (1 if i < n % rows else 0) for i in range(rows)]
    rng.shuffle(per_row)
    heights = _split(h, [float(k) for k in per_row], rng, min_size)
    cells: list[Rect] = []
    top = y1
    for k, rh in zip(per_row, heights, strict=True):
        widths = _split(w, [1.0] * k, rng, min_size)
        left = x0
        for cw in widths:
            cells.append((left, top - rh, left + cw, top))
            left += cw
        top -= rh
    return cells


def _strips(rect: Rect, n: int, rng: random.Random, min_size: int) -> list[Rect]:
    """Split a rectangle across its longer side: west → east, or north → south."""
    x0, y0, x1, y1 = rect
    if x1 - x0 >= y1 - y0:
        out, left = [], x0
        for cw in _split(x1 - x0, [1.0] * n, rng, min_size):
            out.append((left, y0, left + cw, y1))
            left += cw
        return out
    out, top = [], y1
    for rh in _split(y1 - y0, [1.0] * n, rng, min_size):
        out.append((x0, top - rh, x1, top))
        top -= rh
    return out


def _spread(total: int, parts: int, rng: random.Random) -> list[int]:
    """`total` shared over `parts` as evenly as possible, the remainder at random places."""
    base = [total // parts] * parts
    for i in rng.sample(range(parts), total % parts):
        base[i] += 1
    return base


def _cn_number(n: int) -> str:
    if n < 10:
        return CN_DIGITS[n]
    tens, ones = divmod(n, 10)
    return ("" if tens == 1 else CN_DIGITS[tens]) + "十" + (CN_DIGITS[ones] if ones else "")


class _Warp:
    """A smooth bijection of the plane (identity plus a perturbation with slope < 0.3)."""

    def __init__(self, rng: random.Random) -> None:
        self.phase = [rng.uniform(0, 2 * math.pi) for _ in range(4)]

    def __call__(self, x: float, y: float) -> tuple[float, float]:
        p = self.phase
        dx = 60 * math.sin(2 * math.pi * y / 3100 + p[0]) + 25 * math.sin(2 * math.pi * (x + y) / 1700 + p[1])
        dy = 50 * math.sin(2 * math.pi * x / 2700 + p[2]) + 20 * math.sin(2 * math.pi * (x - y) / 1900 + p[3])
        return x + dx, y + dy


def _lonlat(x: float, y: float) -> tuple[float, float]:
    return (round(ORIGIN[0] + x / M_PER_DEG_LON, 7), round(ORIGIN[1] + y / M_PER_DEG_LAT, 7))


def demo_feature_collection(*, district: str = "310101", seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """The demo district as an importable GeoJSON FeatureCollection (WGS-84)."""
    rng = random.Random(seed)
    nodes: list[_Node] = [_Node(district, DISTRICT, "A区", "A District", "")]

    ws_per_street = _spread(N_WORKSTATIONS, N_STREETS, rng)
    blocks_per_ws = [2] * N_WORKSTATIONS
    for i in rng.sample(range(N_WORKSTATIONS), N_COMMUNITY_BLOCKS - 2 * N_WORKSTATIONS):
        blocks_per_ws[i] = 3
    zones_per_street = _spread(N_PATROL_ZONES, N_STREETS, rng)
    blocks_per_zone = [2] * N_PATROL_ZONES
    for i in rng.sample(range(N_PATROL_ZONES), N_STREET_BLOCKS - 2 * N_PATROL_ZONES):
        blocks_per_zone[i] = 3

    # Streets: rows north → south, each row west → east, areas ∝ workstation counts.
    street_rects: list[Rect] = []
    row_counts, i = [], 0
    for k in STREET_ROWS:
        row_counts.append(ws_per_street[i:i + k])
        i += k
    heights = _split(HEIGHT_M, [float(sum(r)) for r in row_counts], rng, 1500)
    top = HEIGHT_M
    for counts, rh in zip(row_counts, heights, strict=True):
        left = 0
        for cw in _split(WIDTH_M, [float(c) for c in counts], rng, 1200):
            street_rects.append((left, top - rh, left + cw, top))
            left += cw
        top -= rh

    # Which workstations are village/enterprise: weighted draw, towns far more likely.
    ws_street = [s for s, n in enumerate(ws_per_street) for _ in range(n)]
    keys = sorted(range(N_WORKSTATIONS), key=lambda w: rng.random() ** (
        1 / (30.0 if STREETS[ws_street[w]][2] else 1.0)), reverse=True)
    rural = set(keys[:N_WORKSTATIONS - N_RESIDENTIAL])

    ws_index = zone_index = 0
    for s, (zh, en, _town) in enumerate(STREETS):
        street_code = f"{district}{s + 1:03d}"
        nodes.append(_Node(street_code, STREET, zh, en, district))
        places = rng.sample(PLACES, k=min(len(PLACES), 12))
        for w, rect in enumerate(_grid(street_rects[s], ws_per_street[s], rng, 240)):
            code = f"{street_code}{w + 1:03d}"
            p_zh, p_en = places[w % len(places)]
            if ws_index in rural:
                kind = "enterprise" if rng.random() < 0.25 else "village"
                if kind == "village":
                    name = (f"{p_zh}{_cn_number(w // len(places) + 1)}村",
                            f"{p_en} Village No.{w // len(places) + 1}")
                else:
                    name = (f"{p_zh}{'工业园区' if w < len(places) else '科技园'}",
                            f"{p_en} {'Industrial Park' if w < len(places) else 'Science Park'}")
            else:
                kind = "residential"
                suf_zh, suf_en = RESIDENTIAL_SUFFIXES[w // len(places) % len(RESIDENTIAL_SUFFIXES)]
                name = (f"{p_zh}{suf_zh}居民区", f"{p_en} {suf_en} Neighbourhood")
            nodes.append(_Node(code, WORKSTATION, f"{name[0]}工作站", f"{name[1]} Workstation",
                               street_code, kind=kind))
            for b, brect in enumerate(_strips(rect, blocks_per_ws[ws_index], rng, 60)):
                nodes.append(_Node(f"{code}{b + 1:03d}", COMMUNITY_BLOCK,
                                   f"{name[0]}第{_cn_number(b + 1)}网格",
                                   f"{name[1]} Block {b + 1}", code, rect=brect))
            ws_index += 1
        for z, rect in enumerate(_grid(street_rects[s], zones_per_street[s], rng, 400)):
            zcode = f"{street_code}P{z + 1:02d}"
            nodes.append(_Node(zcode, PATROL_ZONE, f"{zh}第{_cn_number(z + 1)}巡区",
                               f"{en} Patrol Zone {z + 1}", street_code))
            road_zh, road_en = ROADS[(s * 7 + z * 3) % len(ROADS)]
            for b, brect in enumerate(_strips(rect, blocks_per_zone[zone_index], rng, 100)):
                nodes.append(_Node(f"{zcode}{b + 1:03d}", STREET_BLOCK,
                                   f"{road_zh}{_cn_number(b + 1)}号街面责任块",
                                   f"{road_en} Street Block {b + 1}", zcode, rect=brect))
            zone_index += 1

    # Every lattice corner of either layer, indexed by the line it lies on.
    on_row: dict[int, list[int]] = defaultdict(list)  # y → xs
    on_col: dict[int, list[int]] = defaultdict(list)  # x → ys
    for node in nodes:
        if node.rect:
            x0, y0, x1, y1 = node.rect
            for x, y in ((x0, y0), (x1, y0), (x1, y1), (x0, y1)):
                on_row[y].append(x)
                on_col[x].append(y)
    rows = {y: sorted(set(xs)) for y, xs in on_row.items()}
    cols = {x: sorted(set(ys)) for x, ys in on_col.items()}

    def between(line: list[int], a: int, b: int) -> list[int]:
        return line[bisect.bisect_left(line, a):bisect.bisect_right(line, b)]

    warp = _Warp(rng)
    features: list[dict[str, Any]] = []
    for node in nodes:
        geometry = None
        if node.rect:
            x0, y0, x1, y1 = node.rect
            # Counter-clockwise from the south-west corner (RFC 7946 exterior ring order).
            ring = [(x, y0) for x in between(rows[y0], x0, x1)]
            ring += [(x1, y) for y in between(cols[x1], y0, y1)[1:]]
            ring += [(x, y1) for x in reversed(between(rows[y1], x0, x1)[:-1])]
            ring += [(x0, y) for y in reversed(between(cols[x0], y0, y1)[:-1])]
            geometry = {"type": "Polygon",
                        "coordinates": [[list(_lonlat(*warp(x, y))) for x, y in ring]]}
        props: dict[str, Any] = {"code": node.code, "level": node.level, "name": node.name_zh,
                                 "name_en": node.name_en, "parent": node.parent or None}
        if node.kind:
            props["kind"] = node.kind
        features.append({"type": "Feature", "properties": props, "geometry": geometry})
    return {"type": "FeatureCollection", "name": "A district (synthetic)", "seed": seed,
            "features": features}
