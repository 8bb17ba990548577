"""Early warning (预警): which place × category is getting worse, by a quasi-Poisson /
negative-binomial baseline threshold in the manner of Farrington et al. (1996) and Noufaily et
al. (2013), over daily counts and 7-day moving sums. Method and reference: docs/EARLY_WARNING.md.

For a series of daily counts y and a window w (1: daily, 7: weekly), on day t:
- observed x = y[t-w+1] + … + y[t];
- baseline: the w-day sums of the `recent_days` before a guard band of `guard_days` (so a rise
  under way does not raise its own baseline) and, with a year of history, the same weeks a year
  earlier (± `season_windows` windows: seasonality, as Farrington's reference weeks);
- expected μ = their mean (at least `min_expected`), dispersion φ = max(1, variance / μ);
- upper bound U = the (1 − α) quantile of a negative binomial with mean μ and variance φμ
  (Poisson when φ = 1), from scipy.stats;
- alarm when x > U and x ≥ `min_count` (small counts: 0 → 1, or 1 → 2, never alarm).
An alarm opens an episode per (level, place, category); further alarms extend it; it closes
after `quiet_days` without one. Only an episode's opening is an alert.
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from gridlink.db import Database, Document
from gridlink.errors import InvalidInput
from gridlink.settings import Settings, load_settings
from stats import trends as tr
from stats.units import Directory

ALERTS = "stats_alerts"
LEVELS = ("block", "street")


@dataclass(frozen=True)
class Window:
    days: int           # 1 daily, 7 weekly
    alpha: float        # one-sided false-alarm probability per test
    min_count: int      # fewer cases in the window never alarm
    recent_days: int    # baseline: this many days before the guard band
    guard_days: int     # days just before the window left out of the baseline


@dataclass(frozen=True)
class Config:
    """Thresholds; `from_settings` takes them from `EARLY_WARNING_<FIELD>` (e.g.
    EARLY_WARNING_WEEKLY_ALPHA); these defaults are the settings' (a test keeps them equal)."""

    daily_alpha: float = 0.0005
    daily_min_count: int = 4
    weekly_alpha: float = 0.001
    weekly_min_count: int = 6
    recent_days: int = 84
    guard_days: int = 7
    season_windows: int = 3
    min_expected: float = 0.2   # per 7 days: an empty baseline is not "expect nothing"
    quiet_days: int = 7
    # Localising a street × category alarm to its blocks (`localise`)
    localise_alpha: float = 0.01
    localise_min_count: int = 3
    localise_prior: float = 0.5

    def windows(self) -> tuple[Window, Window]:
        return (Window(1, self.daily_alpha, self.daily_min_count, self.recent_days, self.guard_days),
                Window(7, self.weekly_alpha, self.weekly_min_count, self.recent_days, self.guard_days))

    @classmethod
    def from_settings(cls, settings: Settings) -> Config:
        """The thresholds set by `EARLY_WARNING_<FIELD>` (validated with every other setting
        in `gridlink.settings.Settings`, so a bad value stops the process at start)."""
        return cls(**{f.name: getattr(settings, "early_warning_" + f.name) for f in fields(cls)})


def history_days(cfg: Config) -> int:
    """Days of counts a scan reads: a year plus the seasonal windows and the window itself."""
    return 364 + (cfg.season_windows + 1) * 7 + 7


def detect(counts: Any, cfg: Config, window: Window, *, start: int = 0) -> dict[str, Any]:
    """Evaluate every series (rows of `counts`, daily, oldest first) on every day from `start`:
    arrays (series × days) `observed`, `expected`, `upper` (inf where no alarm is possible:
    fewer than min_count cases, or too short a baseline) and `alarm`. Vectorised over series and days (numpy; quantiles from scipy)."""
    import numpy as np
    from scipy import stats as st

    y = np.asarray(counts, dtype=np.float64)
    if y.ndim == 1:
        y = y[None, :]
    n_series, n_days = y.shape
    w = window.days
    csum = np.concatenate([np.zeros((n_series, 1)), np.cumsum(y, axis=1)], axis=1)
    idx = np.arange(n_days)
    valid = (idx >= w - 1).astype(np.float64)
    wsums = (csum[:, idx + 1] - csum[:, np.maximum(idx - w + 1, 0)]) * valid

    def strided(a: Any) -> Any:
        """Cumulative sums along each residue class mod w: C[d] = a[d] + a[d-w] + …"""
        out = np.array(a, dtype=np.float64, copy=True)
        for r in range(w):
            out[..., r::w] = np.cumsum(out[..., r::w], axis=-1)
        return out

    c_s, c_q, c_v = strided(wsums), strided(wsums * wsums), strided(valid)

    def over(c: Any, end: Any, k: int) -> Any:
        """Σ a[end - j·w] for j < k (terms before day 0 are zero)."""
        lo = end - k * w
        top = np.where(end >= 0, c[..., np.clip(end, 0, n_days - 1)], 0.0)
        return top - np.where(lo >= 0, c[..., np.clip(lo, 0, n_days - 1)], 0.0)

    days = np.arange(start, n_days)
    observed = wsums[:, days] if len(days) else np.zeros((n_series, 0))
    # Recent baseline: non-overlapping windows ending guard_days (at least w) before the window;
    # seasonal: the same windows 52 weeks earlier, ± season_windows.
    gap = max(window.guard_days, w)
    k_recent = max(1, window.recent_days // w)
    m = cfg.season_windows
    parts = [(days - gap, k_recent), (days - 364 + m * w, 2 * m + 1)]
    s1 = sum(over(c_s, e, k) for e, k in parts)
    s2 = sum(over(c_q, e, k) for e, k in parts)
    have = sum(over(c_v, e, k) for e, k in parts)
    with np.errstate(divide="ignore", invalid="ignore"):
        mu = np.where(have > 0, s1 / np.maximum(have, 1), 0.0)
        var = np.where(have > 1, (s2 - have * mu * mu) / np.maximum(have - 1, 1), mu)
    mu = np.maximum(mu, cfg.min_expected * w / 7)
    phi = np.maximum(1.0, var / mu)
    enough = np.broadcast_to(have >= max(4, k_recent // 2), observed.shape)
    # Only where an alarm is possible (enough history, at least min_count): the quantiles are
    # most of the cost, and nearly every block × category window holds fewer cases.
    candidate = enough & (observed >= window.min_count)
    upper = np.full(observed.shape, np.inf)
    mu_c, phi_c = mu[candidate], phi[candidate]
    bound = st.poisson.ppf(1 - window.alpha, mu_c)
    dispersed = phi_c > 1.0 + 1e-9
    if dispersed.any():
        # NB with mean mu, variance phi*mu: n = mu / (phi - 1), p = 1 / phi.
        bound[dispersed] = st.nbinom.ppf(1 - window.alpha, mu_c[dispersed] / (phi_c[dispersed] - 1.0),
                                         1.0 / phi_c[dispersed])
    upper[candidate] = bound
    alarm = candidate & (observed > upper)
    return {"observed": observed, "expected": mu, "upper": upper, "alarm": alarm, "days": days}


def localise(blocks: Any, *, day: int, cfg: Config, window: int = 7, prior: Any = None
             ) -> list[tuple[int, int, float, float]]:
    """Which blocks drive a street × category rise: `blocks` holds the street's block ×
    category series of that category (rows, daily, oldest first); returns (row, observed,
    expected, p) of the blocks whose count in the `window` days ending on `day` is improbably
    high given the street's count in that window — strongest first.

    Kulldorff's conditional Poisson model (as in the space-time scan statistic): given the
    street's N cases in the window, a block's count is binomial(N, share), its share of the
    street's baseline (the same reference windows as `detect`: recent weeks before the guard
    band, and a year earlier ± `season_windows` weeks), shrunk towards `prior` (e.g. the block's
    share of all categories; uniform without one) by `localise_prior` pseudo-cases per block
    (0.5: Jeffreys' prior), so a block without history is not "expected to have nothing". A block is named when its p-value,
    Bonferroni-corrected over the street's blocks, is below `localise_alpha` and it holds at
    least `localise_min_count` of the window's cases. Ranked by the likelihood ratio."""
    import numpy as np
    from scipy import stats as st

    y = np.asarray(blocks, dtype=np.float64)
    n_blocks = y.shape[0]
    if n_blocks == 0 or day < window - 1:
        return []
    x = y[:, day - window + 1: day + 1].sum(axis=1)
    total = float(x.sum())
    gap = max(cfg.guard_days, window)
    lo = max(0, day - gap - cfg.recent_days + 1)
    base = y[:, lo: max(lo, day - gap + 1)].sum(axis=1)
    season = day - 364
    if season - cfg.season_windows * 7 >= 0:
        base = base + y[:, season - cfg.season_windows * 7: season + (cfg.season_windows + 1) * 7].sum(axis=1)
    prior_share = (np.full(n_blocks, 1.0 / n_blocks) if prior is None
                   else np.asarray(prior, dtype=np.float64) / max(float(np.sum(prior)), 1e-12))
    pseudo = cfg.localise_prior * n_blocks
    share = (base + pseudo * prior_share) / (base.sum() + pseudo)
    expected = total * share
    p = st.binom.sf(x - 1, int(total), np.clip(share, 1e-12, 1.0))
    named = np.nonzero((p * n_blocks < cfg.localise_alpha) & (x >= cfg.localise_min_count) & (x > expected))[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        rest, rest_mu = total - x, total - expected
        llr = x * np.log(x / expected) + np.where(rest > 0, rest * np.log(rest / rest_mu), 0.0)
    order = sorted(named.tolist(), key=lambda i: -float(llr[i]))
    return [(int(i), int(x[i]), round(float(expected[i]), 2), float(p[i])) for i in order]


# ------------------------------------------------------------------ series from the rollups

async def series_of(db: Database, *, level: str, end: date, days: int, directory: Directory,
                    streets: list[str] | None = None, version: str | None = None
                    ) -> tuple[list[tuple[str, str, str]], Any, date]:
    """Daily counts per (street, place, category) for the `days` days up to `end`: places are
    blocks (`level` block, from the streets' trend documents) or streets (the district's)."""
    import numpy as np

    start = end - timedelta(days=days - 1)
    if level not in LEVELS:
        raise InvalidInput(f"level must be one of {', '.join(LEVELS)}", field="level")
    street_docs = (streets or directory.of_level("street")) if level == "block" else None
    ids = tr.doc_ids(start, end, street_docs, place_category=True)
    docs = await tr.current_docs(db, ids)
    rows: dict[tuple[str, str, str], Any] = {}
    for doc_id in ids:
        doc = docs.get(doc_id)
        if doc is None:
            continue
        period, _, flt = doc_id.split("|", 2)
        p = tr.parse(doc_id, doc)
        if not len(p.counts):
            continue
        first = date(int(period[1:5]), int(period[6:8]), 1)
        offset = (first - start).days
        street_doc = flt[3:] if flt.startswith("st=") else None
        # Rows summed per (place, category) (channels and departments folded together).
        n_cat = max(1, len(p.dims[tr.CATEGORY]))
        pair = p.codes[tr.PLACE].astype(np.int64) * n_cat + p.codes[tr.CATEGORY]
        uniq, inverse = np.unique(pair, return_inverse=True)
        summed = np.zeros((len(uniq), p.counts.shape[1]), dtype=np.int64)
        np.add.at(summed, inverse, p.counts)
        # Day of month dd lands at offset + dd - 1 of the series, when within it.
        lo, hi = max(1, 1 - offset), min(p.counts.shape[1] - 1, days - offset)
        if lo > hi:
            continue
        for code, by_day in zip(uniq.tolist(), summed, strict=True):
            place = p.place[code // n_cat]
            if place == "-":
                continue
            key = (street_doc or place, place, p.dims[tr.CATEGORY][code % n_cat])
            series = rows.get(key)
            if series is None:
                series = rows[key] = np.zeros(days, dtype=np.int64)
            series[offset + lo - 1: offset + hi] += by_day[lo:hi + 1]
    keys = sorted(rows)
    matrix = np.stack([rows[k] for k in keys]) if keys else np.zeros((0, days), dtype=np.int64)
    return keys, matrix, start


@dataclass(frozen=True)
class Signal:
    level: str
    street: str
    place: str
    category: str
    window: int
    day: date
    observed: int
    expected: float
    upper: int
    # A street alarm's blocks driving it (`localise`): (block, observed, expected), strongest first
    blocks: tuple[tuple[str, int, float], ...] = ()

    @property
    def episode_key(self) -> str:
        return f"{self.level}|{self.place}|{self.category}"


async def signals(db: Database, *, today: date, cfg: Config, directory: Directory,
                  version: str | None = None) -> list[Signal]:
    """Today's alarms (the window ending today), block and street level, daily and weekly; a
    street alarm names the blocks driving it (`localise`), from the street's block series."""
    out: list[Signal] = []
    days = history_days(cfg)
    keys, matrix, _ = await series_of(db, level="street", end=today, days=days, directory=directory,
                                      version=version)
    street_alarms = _alarms("street", keys, matrix, cfg, days, today)
    # Block series a street at a time (~3,500 series × 400 days at most).
    for street in directory.of_level("street"):
        keys, matrix, _ = await series_of(db, level="block", end=today, days=days, streets=[street],
                                          directory=directory, version=version)
        if not keys:
            continue
        out += _alarms("block", keys, matrix, cfg, days, today)
        # A block's prior share (`localise`): its cases of every category over the span read.
        totals: dict[str, int] = {}
        for key, n in zip(keys, matrix.sum(axis=1).tolist(), strict=True):
            totals[key[1]] = totals.get(key[1], 0) + int(n)
        for i, sig in enumerate(street_alarms):
            if sig.street != street:
                continue
            rows = [k for k, key in enumerate(keys) if key[2] == sig.category]
            named = localise(matrix[rows], day=days - 1, cfg=cfg, window=sig.window,
                             prior=[totals[keys[k][1]] + 1 for k in rows])
            street_alarms[i] = replace(sig, blocks=tuple((keys[rows[r]][1], x, mu) for r, x, mu, _ in named[:3]))
    return street_alarms + out


def _alarms(level: str, keys: list[tuple[str, str, str]], matrix: Any, cfg: Config, days: int,
            today: date) -> list[Signal]:
    out: list[Signal] = []
    if not keys:
        return out
    for window in cfg.windows():
        found = detect(matrix, cfg, window, start=days - 1)
        for i in found["alarm"][:, -1].nonzero()[0]:
            street, place, category = keys[int(i)]
            out.append(Signal(level, street, place, category, window.days, today,
                              int(found["observed"][i, -1]), round(float(found["expected"][i, -1]), 2),
                              int(found["upper"][i, -1])))
    return out


# ------------------------------------------------------------------ episodes (one alert each)

_indexed: set[str] = set()


async def ensure_indexes(db: Database) -> None:
    await db[ALERTS].create_index([("open", 1), ("street", 1)])
    await db[ALERTS].create_index([("opened_day", -1)])


async def record(db: Database, found: list[Signal], *, today: date, cfg: Config,
                 now: datetime) -> list[Document]:
    """Open an episode for each new (level, place, category) alarm, extend the open ones, close
    those quiet for `quiet_days`; returns the episodes opened now (the alerts to send).
    Idempotent per day: an episode's id is its key and opening day, inserted once."""
    from gridlink.db import insert_new

    latest: dict[str, Signal] = {}
    for s in found:  # the daily and weekly alarm of one place × category: one episode
        held = latest.get(s.episode_key)
        if held is None or (s.observed - s.upper) > (held.observed - held.upper):
            latest[s.episode_key] = s
    opened: list[Document] = []
    open_now = {d["key"]: d async for d in db[ALERTS].find({"open": True, "key": {"$in": list(latest)}})}
    for key, s in latest.items():
        if key in open_now:
            await db[ALERTS].update_one({"_id": open_now[key]["_id"]},
                                        {"$set": {"last_day": today.isoformat(),
                                                  "peak": max(int(open_now[key].get("peak", 0)), s.observed)}})
            continue
        doc = {"_id": f"{key}|{today.isoformat()}", "key": key, "open": True, "level": s.level,
               "street": s.street, "place": s.place, "category": s.category, "window": s.window,
               "opened_day": today.isoformat(), "last_day": today.isoformat(),
               "observed": s.observed, "expected": s.expected, "upper": s.upper, "peak": s.observed,
               "blocks": [{"block": b, "observed": x, "expected": mu} for b, x, mu in s.blocks],
               "opened_at": now}
        if not await insert_new(db[ALERTS], [doc]):
            opened.append(doc)
    cutoff = (today - timedelta(days=cfg.quiet_days)).isoformat()
    await db[ALERTS].update_many({"open": True, "last_day": {"$lt": cutoff}}, {"$set": {"open": False}})
    return opened


async def scan(db: Database, *, now: datetime, tz: ZoneInfo, directory: Directory,
               cfg: Config | None = None, version: str | None = None) -> list[Document]:
    """One early-warning round (the worker's job, or on demand): the episodes opened now."""
    cfg = cfg or Config.from_settings(load_settings())
    if db.name not in _indexed:
        await ensure_indexes(db)
        _indexed.add(db.name)
    today = now.astimezone(tz).date()
    found = await signals(db, today=today, cfg=cfg, directory=directory, version=version)
    return await record(db, found, today=today, cfg=cfg, now=now)


async def alerts(db: Database, *, since: date, open_only: bool = False,
                 streets: list[str] | None = None, limit: int = 200) -> list[Document]:
    """Episodes opened since `since` (newest first), within these streets if given."""
    q: dict[str, Any] = {"opened_day": {"$gte": since.isoformat()}}
    if open_only:
        q["open"] = True
    if streets is not None:
        q["street"] = {"$in": streets}
    return await db[ALERTS].find(q).sort([("opened_day", -1), ("_id", 1)]).limit(limit).to_list(None)
