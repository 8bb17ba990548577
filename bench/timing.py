"""Latency figures printed the same way by every bench script."""

from __future__ import annotations

import statistics


def pct(samples: list[float], q: float) -> float:
    """The q-quantile (0–1, nearest rank below) of samples in seconds, in milliseconds."""
    s = sorted(samples)
    return s[min(len(s) - 1, int(len(s) * q))] * 1000 if s else float("nan")


def latency_line(name: str, samples: list[float], *, sequential: bool = False) -> str:
    """`name  p50 … ms   p99 … ms   n=…` for samples in seconds (rate too when sequential)."""
    line = (f"{name:<22} p50 {statistics.median(samples) * 1000:8.2f} ms   "
            f"p99 {pct(samples, 0.99):8.2f} ms   n={len(samples)}")
    if sequential:
        line += f"   {len(samples) / sum(samples):8.0f} /s (sequential)"
    return line
