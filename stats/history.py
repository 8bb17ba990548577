"""Synthetic historical cases (`gridlink demo --history N`) with the seed's mix and spread.

Default mix (2009–2013 in the seed): 31,943 hazards (31,712 investigated, 31,468 closed),
132,790 citizen appeals (130,136 closed, 98%) and 703,053 cases handled on the spot. Cases
spread over the last `years` years, weighted towards streets and blocks unevenly (a few
hotspots), over the taxonomy's categories and the intake channels; recent cases are more
often still open, so the boards show live colours.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import accumulate
from typing import Any
from zoneinfo import ZoneInfo

from cases.categories import DEFAULT_CATEGORIES
from cases.intake import is_public
from cases.schema import complete
from cases.visibility import access_fields
from grids.demo import demo_feature_collection

DEFAULT_TZ = ZoneInfo("Asia/Shanghai")
SEED_MIX = {"hazard": 31_943, "appeal": 132_790, "spot": 703_053}
APPEAL_KINDS = (("complaint", 0.45), ("consultation", 0.3), ("help", 0.15), ("suggestion", 0.1))
APPEAL_CHANNELS = (("hotline_12345", 0.42), ("hotline_962000", 0.25), ("citizen_bot", 0.15),
                   ("transfer_110", 0.06), ("mayor_mailbox", 0.05), ("web_portal", 0.04),
                   ("party_mailbox", 0.02), ("open311", 0.01))


@dataclass(frozen=True)
class Block:
    code: str
    level: str  # community_block | street_block
    parent: str  # workstation or patrol zone
    street: str
    lon: float
    lat: float


def demo_blocks(district: str) -> list[Block]:
    out = []
    for feat in demo_feature_collection(district=district)["features"]:
        p = feat["properties"]
        if p["level"] not in ("community_block", "street_block"):
            continue
        ring = feat["geometry"]["coordinates"][0]
        lon = sum(c[0] for c in ring[:-1]) / (len(ring) - 1)
        lat = sum(c[1] for c in ring[:-1]) / (len(ring) - 1)
        out.append(Block(p["code"], p["level"], p["parent"], p["code"][:len(district) + 3], lon, lat))
    return out


SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ("伟", "芳", "娜", "敏", "静", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛", "明", "超", "霞")


def person(unit: str, k: int) -> str:
    """A stable synthetic name for the k-th person of a unit."""
    h = zlib.crc32(f"{unit}:{k}".encode())
    return SURNAMES[h % len(SURNAMES)] + GIVEN[(h // 97) % len(GIVEN)] + GIVEN[(h // 7919) % len(GIVEN)]


def _pick(rng: random.Random, pairs: tuple[tuple[str, float], ...]) -> str:
    return rng.choices([p[0] for p in pairs], weights=[p[1] for p in pairs])[0]


def _mix(n: int) -> dict[str, int]:
    total = sum(SEED_MIX.values())
    hazards = round(n * SEED_MIX["hazard"] / total)
    appeals = round(n * SEED_MIX["appeal"] / total)
    return {"hazard": hazards, "appeal": appeals, "spot": n - hazards - appeals}


@dataclass(frozen=True)
class Outbreak:
    """A place × category × period whose rate is multiplied by `factor` (for measuring early
    warning): `gridlink history N --outbreak BLOCK:CATEGORY:YYYY-MM-DD:DAYS:FACTOR`."""

    block: str
    category: str
    start: date
    days: int
    factor: float

    @classmethod
    def parse(cls, text: str) -> Outbreak:
        try:
            block, category, start, days, factor = text.split(":")
            found = cls(block, category, date.fromisoformat(start), int(days), float(factor))
        except ValueError:
            raise ValueError(f"outbreak {text!r}: BLOCK:CATEGORY:YYYY-MM-DD:DAYS:FACTOR") from None
        if found.days < 1 or found.factor <= 1:
            raise ValueError(f"outbreak {text!r}: DAYS ≥ 1 and FACTOR > 1")
        return found


def generate(n: int, *, now: datetime, district: str = "310101", prefix: str = "A",
             years: float = 5.0, seed: int = 8, tz: ZoneInfo = DEFAULT_TZ,
             blocks: list[Block] | None = None, outbreaks: Sequence[Outbreak] = (),
             tag: str = "h", settled_days: float = 30.0) -> Iterator[dict[str, Any]]:
    """Yield `n` case documents in the shape `cases/` stores, oldest first; then each
    outbreak's extra cases ((factor − 1) × the block × category's own rate over its days).
    `tag` starts their ids and serials (`gridlink demo`'s month uses its own, apart from
    `gridlink history`'s); cases younger than `settled_days` are more often still open."""
    rng = random.Random(seed)
    blocks = blocks or demo_blocks(district)
    community = [b for b in blocks if b.level == "community_block"]
    surface = [b for b in blocks if b.level == "street_block"]
    # Hotspots: a Pareto weight per block, so a few blocks draw many cases.
    weights = {b.code: rng.paretovariate(1.6) for b in blocks}
    # Cumulative weights, so each draw is a bisection rather than a pass over every block.
    cw = list(accumulate(weights[b.code] for b in community))
    sw = list(accumulate(weights[b.code] for b in surface))
    cats = list(DEFAULT_CATEGORIES)
    cat_w = list(accumulate(rng.paretovariate(1.3) for _ in cats))
    mix = _mix(n)
    kinds = ["hazard"] * mix["hazard"] + ["appeal"] * mix["appeal"] + ["spot"] * mix["spot"]
    span = timedelta(days=365 * years).total_seconds()
    # Oldest first, evenly spread with jitter; a per-day sequence gives the serial numbers.
    moments = sorted(now - timedelta(seconds=rng.random() * span) for _ in range(n))
    rng.shuffle(kinds)
    seq: dict[str, int] = {}
    for i, (created, what) in enumerate(zip(moments, kinds, strict=True)):
        cat = rng.choices(cats, cum_weights=cat_w)[0]
        block = rng.choices(community if cat.layer == "community" else surface,
                            cum_weights=cw if cat.layer == "community" else sw)[0]
        if what == "appeal":
            kind, channel = _pick(rng, APPEAL_KINDS), _pick(rng, APPEAL_CHANNELS)
        else:
            kind, channel = "hazard", "patrol_bot"
        day = created.astimezone(tz).strftime("%Y%m%d")
        seq[day] = seq.get(day, 0) + 1
        case_id = f"{tag}{i:09d}"
        doc = _case(rng, case_id=case_id, serial=f"{prefix}{tag.upper()}{day}-{seq[day]:05d}", created=created,
                    now=now, what=what, kind=kind, channel=channel, cat=cat, block=block,
                    district=district, settled_days=settled_days)
        # the fields intake and the lifecycle keep, so lists and scopes find generated cases
        doc.update(public=is_public(channel, cat.code), **access_fields(doc))
        yield complete(doc)  # the schema's shape: every field, the list fields, the version
    by_code = {b.code: b for b in blocks}
    cat_total, block_total = cat_w[-1], {"community": cw[-1] if cw else 0.0, "surface": sw[-1] if sw else 0.0}
    cat_share = {c.code: (w - (cat_w[i - 1] if i else 0.0)) / cat_total for i, (c, w) in enumerate(zip(cats, cat_w, strict=True))}
    for k, ob in enumerate(outbreaks):
        ob_block, ob_cat = by_code.get(ob.block), next((c for c in cats if c.code == ob.category), None)
        if ob_block is None or ob_cat is None:
            raise ValueError(f"outbreak: unknown block {ob.block!r} or category {ob.category!r}")
        layer = "community" if ob_block.level == "community_block" else "surface"
        per_day = n / (365 * years) * cat_share[ob_cat.code] * weights[ob_block.code] / block_total[layer]
        expected = (ob.factor - 1) * per_day * ob.days
        extra = int(expected) + (rng.random() < expected - int(expected))
        first = datetime.combine(ob.start, datetime.min.time(), tzinfo=tz)
        for j in range(extra):
            created = min(first + timedelta(seconds=rng.random() * ob.days * 86400), now)
            what = rng.choices(("hazard", "appeal", "spot"), weights=list(SEED_MIX.values()))[0]
            kind, channel = ((_pick(rng, APPEAL_KINDS), _pick(rng, APPEAL_CHANNELS)) if what == "appeal"
                             else ("hazard", "patrol_bot"))
            case_id = f"o{k:03d}{j:06d}"
            doc = _case(rng, case_id=case_id, serial=f"{prefix}O{k:03d}-{j:05d}", created=created,
                        now=now, what=what, kind=kind, channel=channel, cat=ob_cat, block=ob_block,
                        district=district)
            doc.update(public=is_public(channel, ob_cat.code), **access_fields(doc))
            yield complete(doc)


def _case(rng: random.Random, *, case_id: str, serial: str, created: datetime, now: datetime,
          what: str, kind: str, channel: str, cat: Any, block: Block, district: str,
          settled_days: float = 30.0) -> dict[str, Any]:
    limit_h = cat.limit.hours or cat.limit.working_days * 24 * 7 / 5
    placement: dict[str, Any] = {
        "district": district, "street": block.street, "snapped": False, "distance_m": 0.0,
        "community_block": block.code if block.level == "community_block" else None,
        "workstation": block.parent if block.level == "community_block" else None,
        "street_block": block.code if block.level == "street_block" else None,
        "patrol_zone": block.parent if block.level == "street_block" else None,
    }
    if cat.level == "line" and cat.department:
        assignee = {"unit": cat.department, "kind": "department", "name": cat.department}
    elif block.level == "community_block":
        assignee = {"unit": block.code, "kind": "block", "name": block.code}
    else:
        assignee = {"unit": block.street, "kind": "street", "name": block.street}
    if channel == "patrol_bot":  # one of the block's two patrol coordinators, by roster name
        actor = {"role": "coordinator", "unit": block.code, "name": person(block.code, rng.randrange(2))}
    else:
        actor = {"role": "dispatcher", "unit": block.street, "name": "受理员"}
    # Who takes it up: one of the department's teams (中队), or the block's leader.
    if assignee["kind"] == "department":
        handler = {"role": "department", "unit": assignee["unit"],
                   "name": f"{assignee['unit']}第{'一二三四'[rng.randrange(4)]}中队"}
    else:
        handler = {"role": "leader", "unit": assignee["unit"], "name": person(assignee["unit"], 9)}
    doc: dict[str, Any] = {
        "_id": case_id, "serial": serial, "district": district, "channel": channel, "kind": kind,
        "category": cat.code, "category_name": {"zh": cat.name_zh, "en": cat.name_en},
        "layer": cat.layer, "level": cat.level, "urgency": cat.urgency,
        "limit": cat.limit.to_dict(), "dispatch_minutes": cat.dispatch_minutes,
        "verify_hours": cat.verify_hours,
        "description": f"{cat.name_zh}（历史数据）",
        "location": {"lon": round(block.lon + rng.uniform(-2e-4, 2e-4), 6),
                     "lat": round(block.lat + rng.uniform(-2e-4, 2e-4), 6)},
        "placement": placement, "photos": [], "result_photos": [], "reporter": {},
        "followers": [], "version": 1, "assignee": None, "proposed_assignee": dict(assignee), "deadline": None,
        "dispatched_at": None, "first_dispatched_at": None, "created_at": created,
        "updated_at": created, "closed_at": None, "rating": None, "supervised": False,
        "returns": 0, "extensions": 0, "reworks": 0, "supervisions": 0,
        "merged_into": None, "merged_cases": [], "intake_key": f"history:{case_id}",
        "synthetic": True, "due_at": None, "warn_at": None,
    }
    history = [{"seq": 1, "at": created, "actor": actor, "action": "report", "from": None,
                "to": "reported"}]

    def step(at: datetime, action: str, to: str, **data: Any) -> None:
        who = handler if action in ("accept", "feedback") else actor
        history.append({"seq": len(history) + 1, "at": at, "actor": who, "action": action,
                        "from": history[-1]["to"], "to": to, **({"data": data} if data else {})})

    if what == "spot":
        step(created, "close_on_spot", "closed", on_the_spot=True)
        doc.update(state="closed", closed_at=created, closed_on_time=True, handled_on_the_spot=True)
        doc.update(history=history, version=len(history))
        return doc

    age_days = (now - created).total_seconds() / 86400
    closed_p = ((0.985 if kind == "hazard" else 0.98) if age_days > settled_days
                else min(0.97, age_days / settled_days))
    dispatched = created + timedelta(minutes=rng.uniform(3, cat.dispatch_minutes * 1.5))
    if dispatched > now:  # reported moments ago, waiting for dispatch
        due = created + timedelta(minutes=cat.dispatch_minutes)
        doc.update(state="reported", due_at=due, warn_at=due - (due - created) * 0.25,
                   history=history, version=1)
        return doc
    deadline = dispatched + timedelta(hours=limit_h)
    doc.update(assignee=assignee, deadline=deadline, dispatched_at=dispatched,
               first_dispatched_at=dispatched)
    step(dispatched, "dispatch", "dispatched", deadline=deadline)
    if rng.random() < 0.05:
        doc["returns"] = 1
    if rng.random() < 0.04:
        deadline += timedelta(hours=limit_h / 2)
        doc.update(extensions=1, deadline=deadline)
    if rng.random() >= closed_p:
        # Still open: on its way, or forgotten (red on the boards).
        state = rng.choice(("dispatched", "in_progress", "in_progress", "awaiting_verification"))
        if state != "dispatched":
            step(dispatched + timedelta(hours=1), "accept", "in_progress")
        if state == "awaiting_verification":
            step(dispatched + timedelta(hours=2), "feedback", "awaiting_verification")
            doc["result"] = _result(handler, dispatched + timedelta(hours=2), None)
        doc.update(state=state, due_at=deadline,
                   warn_at=deadline - (deadline - dispatched) * 0.25,
                   history=history, version=len(history))
        return doc
    took = timedelta(hours=limit_h * rng.betavariate(2.2, 2.0) * 1.25)
    closed = min(dispatched + took, now)
    on_time = closed <= deadline
    step(dispatched + took * 0.1, "accept", "in_progress")
    if rng.random() < 0.03:
        doc["reworks"] = 1
        step(dispatched + took * 0.6, "feedback", "awaiting_verification")
        step(dispatched + took * 0.7, "reopen", "in_progress")
    step(closed - took * 0.05, "feedback", "awaiting_verification", on_time=on_time)
    doc["result"] = _result(handler, closed - took * 0.05, on_time)
    step(closed, "close", "closed", on_time=on_time)
    doc.update(state="closed", closed_at=closed, closed_on_time=on_time)
    if kind != "hazard" and rng.random() < 0.6:
        score = rng.choices((5, 4, 3, 2, 1), weights=(62, 22, 9, 4, 3))[0]
        doc["rating"] = {"score": score, "at": closed + timedelta(hours=5)}
        step(closed + timedelta(hours=5), "rate", "closed", score=score)
    doc.update(updated_at=history[-1]["at"], history=history, version=len(history))
    return doc


def _result(handler: dict[str, Any], at: datetime, on_time: bool | None) -> dict[str, Any]:
    """The handler's feedback, as the lifecycle stores it (the desk's verification reads it)."""
    return {"text": "已处理（历史数据）", "photos": [], "at": at, "by": handler, "on_time": on_time}


async def insert_history(db: Any, n: int, *, now: datetime, district: str, prefix: str,
                         tz: ZoneInfo, batch: int = 5000, outbreaks: Sequence[Outbreak] = (),
                         progress: Callable[[str], None] | None = None, years: float = 5.0,
                         tag: str = "h", settled_days: float = 30.0) -> dict[str, Any]:
    """Insert `n` synthetic cases with `insert_many` in batches, then rebuild the rollups."""
    import time

    from cases import lists
    from cases.repository import OLDEST_HOUR
    from stats.rollups import rebuild

    started = time.perf_counter()
    docs: list[dict[str, Any]] = []
    done = 0
    for doc in generate(n, now=now, district=district, prefix=prefix, tz=tz, outbreaks=outbreaks,
                        years=years, tag=tag, settled_days=settled_days):
        if not docs and not done:  # the oldest: where the lists' walk back stops
            await db.counters.update_one({"_id": OLDEST_HOUR}, {"$min": {"hour": doc["created_hour"]}},
                                         upsert=True)
        docs.append(doc)
        if len(docs) >= batch:
            await db.cases.insert_many(docs, ordered=False)
            await lists.add_keys(db, docs, now)
            done += len(docs)
            docs = []
            if progress:
                rate = done / max(time.perf_counter() - started, 1e-9)
                progress(f"inserted {done:,}/{n:,} cases ({rate:,.0f}/s)")
    if docs:
        await db.cases.insert_many(docs, ordered=False)
        await lists.add_keys(db, docs, now)
        done += len(docs)
    inserted_s = time.perf_counter() - started
    if progress:
        progress(f"inserted {done:,} cases in {inserted_s:.1f} s; building rollups")
    summary = await rebuild(db, tz=tz, progress=progress, now=now)
    return {**summary, "inserted": done, "insert_s": round(inserted_s, 1),
            "total_s": round(time.perf_counter() - started, 1)}
