"""Latency figures printed the same way by every bench script."""

from __future__ import annotations

import statistics


def latency_line(name: str, samples: list[float], *, sequential: bool = False) -> str:
    """`name  p50 … ms   p99 … ms   n=…` for samples in seconds (rate too when sequential)."""
    ms = sorted(s * 1000 for s in samples)
    p99 = ms[min(len(ms) - 1, int(len(ms) * 0.99))]
    line = f"{name:<22} p50 {statistics.median(ms):8.2f} ms   p99 {p99:8.2f} ms   n={len(ms)}"
    if sequential:
        line += f"   {len(ms) / sum(samples):8.0f} /s (sequential)"
    return line
