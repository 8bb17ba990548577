"""Early warning measured: five years of synthetic daily counts per block × category (the
history generator's spread: Pareto block and category weights over the demo district's 1,488
blocks and 31 categories, the seed's 867,786 cases, with a yearly and a weekly rhythm), 50
injected outbreaks (×2 to ×6 for 1–4 weeks, half in large blocks, half in small) and 50 quiet
controls; the chosen method (stats.early_warning) against a naive fixed threshold on the ISO
week's count, in the same run.

    .venv/bin/python bench/early_warning.py [--seed 1] [--place block|street] [--naive 5 20 40]
        [--oracle 1e-3 1e-4] [--set weekly_min_count=4 ...]

Prints detection rate (within 7 days of onset), false alarms per street per month (alarm
episodes outside outbreaks, block and street series together) and median detection delay.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from stats import early_warning as ew
from stats.history import SEED_MIX, demo_blocks

YEARS = 5
DAYS = 364 * YEARS + 6
EVAL_FROM = 400  # the first year and a bit build the baseline
WITHIN = 7


def rates(rng: np.random.Generator) -> tuple[np.ndarray, list[str], list[str]]:
    """Expected cases per day of each (block, category) series, and each series' street."""
    blocks = demo_blocks("310101")
    w_block = rng.pareto(1.6, len(blocks)) + 1
    w_cat = rng.pareto(1.3, 31) + 1
    per_day = sum(SEED_MIX.values()) / (5 * 365)
    share = np.outer(w_block / w_block.sum(), w_cat / w_cat.sum())
    streets = [b.street for b in blocks for _ in range(31)]
    places = [f"{b.code}/{c}" for b in blocks for c in range(31)]
    return (share * per_day).reshape(-1), streets, places


def rhythm(days: int) -> np.ndarray:
    d = np.arange(days)
    return (1 + 0.25 * np.sin(2 * np.pi * d / 365.25)) * np.where(d % 7 >= 5, 0.8, 1.08)


def episodes(alarm: np.ndarray, quiet: int) -> list[tuple[int, int]]:
    """(series, day) of each alarm that opens an episode (none in the `quiet` days before)."""
    out: list[tuple[int, int]] = []
    for i in np.nonzero(alarm.any(axis=1))[0]:
        last = -10_000
        for d in np.nonzero(alarm[i])[0]:
            if d - last > quiet:
                out.append((int(i), int(d)))
            last = d
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--naive", type=int, nargs="+", default=[5],
                    help="naive rule: alarm when a week has ≥ this many (several: each measured)")
    ap.add_argument("--place", choices=("block", "street"), default="block",
                    help="inject outbreaks into block × category (default) or street × category series")
    ap.add_argument("--oracle", type=float, nargs="*", default=[1e-5, 1e-6],
                    help="block mode: also the oracle rule at these per-test α")
    ap.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                    help="thresholds other than the defaults (stats.early_warning.Config fields)")
    args = ap.parse_args()
    rng = np.random.default_rng(args.seed)
    lam, streets, _ = rates(rng)
    lam_t = lam[:, None] * rhythm(DAYS)[None, :]
    counts = rng.poisson(lam_t).astype(np.int32)
    n_series = len(lam)
    def inject(counts: np.ndarray, lam: np.ndarray, lam_t: np.ndarray) -> tuple[list[dict], list[tuple[int, int]]]:
        """25 outbreaks in large places (top 2% of series by volume), 25 in small ones (the
        rest with at least one case a month); 50 quiet controls elsewhere."""
        n_series = len(lam)
        order = np.argsort(-lam)
        top = max(25, n_series // 50)
        large = order[:top]
        small = order[top:][lam[order[top:]] * 30 >= 1]
        picks = list(rng.choice(large, 25, replace=False)) + list(rng.choice(small, 25, replace=False))
        outbreaks = []
        for i in picks:
            mult = float(rng.choice([2, 3, 4, 5, 6]))
            length = int(rng.integers(1, 5)) * 7
            start = int(rng.integers(EVAL_FROM, DAYS - length - WITHIN))
            extra = rng.poisson((mult - 1) * lam_t[i, start:start + length])
            counts[i, start:start + length] += extra.astype(counts.dtype)
            outbreaks.append({"series": int(i), "start": start, "end": start + length, "mult": mult,
                              "large": bool(i in large), "added": int(extra.sum()),
                              "weekly_base": float(lam[i] * 7)})
        hit = {o["series"] for o in outbreaks}
        controls = [(int(i), int(rng.integers(EVAL_FROM, DAYS - 35))) for i in rng.choice(
            [j for j in range(n_series) if j not in hit and lam[j] * 30 >= 1], 50, replace=False)]
        return outbreaks, controls

    # Street-level series: the sum of their blocks, by category.
    street_codes = sorted(set(streets))
    s_index = np.array([street_codes.index(s) for s in streets])
    cat_index = np.arange(n_series) % 31
    street_counts = np.zeros((len(street_codes) * 31, DAYS), dtype=np.int64)
    np.add.at(street_counts, s_index * 31 + cat_index, counts)

    lam_street = np.zeros(len(street_counts))
    np.add.at(lam_street, s_index * 31 + cat_index, lam)
    if args.place == "block":
        outbreaks, controls = inject(counts, lam, lam_t)
        street_counts[:] = 0  # the street's series carries its blocks' outbreaks too
        np.add.at(street_counts, s_index * 31 + cat_index, counts)
    else:
        outbreaks, controls = inject(street_counts, lam_street,
                                     lam_street[:, None] * rhythm(DAYS)[None, :])

    cfg = ew.Config(**{k: type(getattr(ew.Config(), k))(v) for k, v in (a.split("=", 1) for a in args.set)})
    t0 = time.perf_counter()
    alarm_block = np.zeros((n_series, DAYS - EVAL_FROM), dtype=bool)
    chunk = 2000
    for lo in range(0, n_series, chunk):
        for w in cfg.windows():
            alarm_block[lo:lo + chunk] |= ew.detect(counts[lo:lo + chunk], cfg, w, start=EVAL_FROM)["alarm"]
    alarm_street = np.zeros((len(street_counts), DAYS - EVAL_FROM), dtype=bool)
    for w in cfg.windows():
        alarm_street |= ew.detect(street_counts, cfg, w, start=EVAL_FROM)["alarm"]
    took = time.perf_counter() - t0

    # Hierarchical: each street × category alarm day is localised to the blocks driving it
    # (ew.localise); a block outbreak counts as found when a block alarm or a localised street
    # alarm names its block within the week. The street alarms are already counted as false
    # alarms (when outside outbreaks): localising adds no alarm of its own.
    t1 = time.perf_counter()
    rows_of: dict[int, np.ndarray] = {}
    for r in range(len(street_counts)):
        rows_of[r] = np.nonzero((s_index * 31 + cat_index) == r)[0]
    prior_of = {}
    for si in range(len(street_codes)):
        mine = np.nonzero(s_index == si)[0]
        per_block = counts[mine, :EVAL_FROM].sum(axis=1).reshape(-1, 31).sum(axis=1)  # block order
        prior_of[si] = per_block
    localised = np.zeros_like(alarm_block)
    named_total = 0
    # Street alarm days within a block outbreak of that street × category (onset .. end + 7):
    # did the naming point at the outbreak's block (right), elsewhere only (wrong), or nowhere?
    during = {}
    if args.place == "block":
        for o in outbreaks:
            r = int(s_index[o["series"]] * 31 + cat_index[o["series"]])
            for d in range(o["start"] - EVAL_FROM, o["end"] - EVAL_FROM + WITHIN):
                during[(r, d)] = o["series"]
    naming = {"right": 0, "wrong": 0, "none": 0}
    for r, d in zip(*np.nonzero(alarm_street), strict=True):
        rows = rows_of[int(r)]
        prior = prior_of[int(r) // 31]
        named = [int(rows[i]) for i, _, _, _ in
                 ew.localise(counts[rows], day=int(d) + EVAL_FROM, cfg=cfg, prior=prior + 1)[:3]]
        for i in named:
            localised[i, d] = True
            named_total += 1
        if (int(r), int(d)) in during:
            naming["right" if during[(int(r), int(d))] in named else "wrong" if named else "none"] += 1
    took_loc = time.perf_counter() - t1

    # Naive: the ISO week's count (weeks end on day index 6 mod 7) at or above a fixed number.
    weeks = counts[:, : DAYS // 7 * 7].reshape(n_series, -1, 7).sum(axis=2)

    def naive_of(weekly: np.ndarray, at_least: int) -> np.ndarray:
        out = np.zeros((weekly.shape[0], DAYS), dtype=bool)
        out[:, 6: DAYS // 7 * 7: 7] = weekly >= at_least
        return out[:, EVAL_FROM:]

    months = (DAYS - EVAL_FROM) / 30.44

    def measure(block_alarm: np.ndarray, street_alarm: np.ndarray | None, extra_fa: int = 0,
                fa_alarm: np.ndarray | None = None) -> dict[str, Any]:
        """Detection from `block_alarm`; false alarms from `fa_alarm` (default the same) and the
        street alarms."""
        found, delays, by_size = 0, [], {"large": [0, 0], "small": [0, 0]}
        big_found, big_n = 0, 0
        for o in outbreaks:
            a = block_alarm[o["series"], o["start"] - EVAL_FROM: o["start"] - EVAL_FROM + WITHIN + 1]
            first = int(np.argmax(a)) if a.any() else None
            ok = first is not None
            found += ok
            by_size["large" if o["large"] else "small"][0] += ok
            by_size["large" if o["large"] else "small"][1] += 1
            if o["mult"] >= 3:
                big_n += 1
                big_found += ok
            if ok:
                delays.append(first)
        masked = (block_alarm if fa_alarm is None else fa_alarm).copy()
        for o in outbreaks:  # alarms during an outbreak (and a week after) are not false
            masked[o["series"], max(0, o["start"] - EVAL_FROM): o["end"] - EVAL_FROM + WITHIN] = False
        fa = len(episodes(masked, cfg.quiet_days)) + extra_fa
        if street_alarm is not None:
            s_masked = street_alarm.copy()
            for o in outbreaks:
                row = s_index[o["series"]] * 31 + cat_index[o["series"]]
                s_masked[row, max(0, o["start"] - EVAL_FROM): o["end"] - EVAL_FROM + WITHIN] = False
            fa += len(episodes(s_masked, cfg.quiet_days))
        strata: dict[str, list[int]] = {}
        for o in outbreaks:
            first_week = o["weekly_base"] * (o["mult"] - 1)
            band = "<3" if first_week < 3 else "3-10" if first_week < 10 else ">=10"
            a = block_alarm[o["series"], o["start"] - EVAL_FROM: o["start"] - EVAL_FROM + WITHIN + 1]
            strata.setdefault(band, [0, 0])
            strata[band][0] += bool(a.any())
            strata[band][1] += 1
        ctrl = sum(bool(block_alarm[i, d - EVAL_FROM: d - EVAL_FROM + 28].any()) for i, d in controls)
        return {"detected": found / len(outbreaks), "detected_x3": big_found / max(big_n, 1),
                "large": by_size["large"][0] / max(by_size["large"][1], 1),
                "small": by_size["small"][0] / max(by_size["small"][1], 1),
                "fa_per_street_month": fa / (len(street_codes) * months),
                "controls_alarmed": ctrl / len(controls),
                "median_delay_days": statistics.median(delays) if delays else float("nan"),
                "by_excess": {k: f"{v[0]}/{v[1]}" for k, v in sorted(strata.items())}}

    rows_out: list[tuple[str, dict[str, Any]]] = []
    if args.place == "block":
        rows_out.append((f"NB (α {cfg.daily_alpha}/{cfg.weekly_alpha})", measure(alarm_block, alarm_street)))
        rows_out.append(("NB + street alarm localised", measure(alarm_block | localised, alarm_street,
                                                                 fa_alarm=alarm_block)))
        for at_least in args.naive:
            rows_out.append((f"naive: week ≥ {at_least}", measure(naive_of(weeks, at_least), None)))
        # Oracle: each series' true rate known; alarm when the 7-day count reaches the smallest c
        # with P(Poisson(the week's highest true mean) ≥ c) ≤ α. What no method can beat.
        from scipy import stats as st

        peak = lam * 7 * float(rhythm(DAYS)[:371].reshape(-1, 7).sum(axis=1).max() / 7)
        for a_o in args.oracle:
            c = st.poisson.isf(a_o, peak) + 1
            oracle = np.zeros_like(alarm_block)
            for lo in range(0, n_series, 2000):
                cs = np.cumsum(counts[lo:lo + 2000], axis=1, dtype=np.int64)
                week = cs[:, 6:] - np.concatenate([np.zeros((cs.shape[0], 1), np.int64), cs[:, :-7]], axis=1)
                oracle[lo:lo + 2000] = week[:, EVAL_FROM - 6:] >= c[lo:lo + 2000, None]
            rows_out.append((f"oracle (true rates, α {a_o:g})", measure(oracle, None)))
    else:
        s_weeks = street_counts[:, : DAYS // 7 * 7].reshape(len(street_counts), -1, 7).sum(axis=2)
        rows_out.append((f"NB (α {cfg.daily_alpha}/{cfg.weekly_alpha})",
                         measure(alarm_street, None, extra_fa=len(episodes(alarm_block, cfg.quiet_days)))))
        # The naive rule on street series, with its block series' alarms at the same threshold.
        for at_least in args.naive:
            rows_out.append((f"naive: week ≥ {at_least}",
                             measure(naive_of(s_weeks, at_least), None,
                                     extra_fa=len(episodes(naive_of(weeks, at_least), cfg.quiet_days)))))
    print(f"outbreaks in {args.place} × category series")
    print(f"series: {n_series:,} block × category + {len(street_counts)} street × category, "
          f"{DAYS} days; outbreaks {len(outbreaks)} (x3+: {sum(o['mult'] >= 3 for o in outbreaks)}), "
          f"controls {len(controls)}; detection {took:.1f} s, localisation {took_loc:.1f} s "
          f"({named_total} block namings on {int(alarm_street.sum())} street alarm days; on those within "
          f"a block outbreak of theirs, the outbreak's block named {naming['right']}, only others "
          f"{naming['wrong']}, none {naming['none']})")
    print(f"median weekly baseline of outbreak series: large {statistics.median(o['weekly_base'] for o in outbreaks if o['large']):.2f}, "
          f"small {statistics.median(o['weekly_base'] for o in outbreaks if not o['large']):.2f} cases")
    head = f"{'':32}{'detected':>9}{'x3+':>7}{'large':>7}{'small':>7}{'FA/street/mo':>14}{'controls':>10}{'delay d':>9}"
    print(head)
    for name, r in rows_out:
        print(f"{name:32}{r['detected']:>9.0%}{r['detected_x3']:>7.0%}{r['large']:>7.0%}{r['small']:>7.0%}"
              f"{r['fa_per_street_month']:>14.2f}{r['controls_alarmed']:>10.0%}{r['median_delay_days']:>9.1f}"
              f"   detected by expected excess cases/week: {r['by_excess']}")


if __name__ == "__main__":
    main()
