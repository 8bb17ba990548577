"""PNG bar charts with Chinese labels (matplotlib's object-oriented API on the Agg canvas, a
CJK font shipped by `mplfonts`).

Measured (bench/RESULTS.md "Dashboard"): nearly all of a chart's time was matplotlib building
and drawing artists — an Axes' tick machinery (each tick a Line2D marker plus a label), clip
paths and data transforms for every bar and text, and each Text laid out by libraqm/HarfBuzz
with its glyphs rendered from the 16 MB CFF font. So a chart is figure-level artists only:
one PolyCollection for the bars, a baseline, one Text per label and per value and the title,
placed in figure fractions from the label lengths (no layout pass); the figure is reused per
thread so matplotlib's text-metrics cache survives, and the RGB pixels are encoded at zlib
level 1. ~75 ms → ~27 ms of CPU for a 13-bar chart.
"""

from __future__ import annotations

import io
import threading
from functools import cache
from pathlib import Path
from typing import Any

FONT_FILE = "NotoSansCJKsc-Regular.otf"
BAR = "#c0392b"
DPI = 100
# The sizes a chart is drawn in: a few, so each picture is drawn once and then cached, and no
# one makes the server draw a new one per width × height pair.
WIDTHS = (480, 640, 800, 1200, 1600)
HEIGHTS = (300, 400, 500, 800, 1200)
DEFAULT_SIZE = (800, 500)


def cjk_font_path() -> Path:
    import mplfonts

    path = Path(mplfonts.__file__).parent / "fonts" / FONT_FILE
    if not path.exists():  # pragma: no cover - the package always ships it
        raise RuntimeError(f"CJK font missing: {path}")
    return path


@cache
def cjk_font() -> Any:
    from matplotlib.font_manager import FontProperties

    return FontProperties(fname=str(cjk_font_path()))


_local = threading.local()


def _figure(width: int, height: int) -> Any:
    """This thread's figure, cleared and sized: its renderer (and matplotlib's text-metrics
    cache, keyed by renderer) lives on, so labels seen before are not laid out twice."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = getattr(_local, "figure", None)
    if fig is None:
        fig = _local.figure = Figure(dpi=DPI)
        FigureCanvasAgg(fig)
    fig.clear()
    fig.set_size_inches(width / DPI, height / DPI)
    return fig


def _text_px(text: str, size_pt: float) -> float:
    """About how wide `text` is drawn: a CJK glyph is one em, others ~0.6 em (no layout)."""
    em = size_pt * DPI / 72
    return sum(1.0 if ord(ch) > 0x2E7F else 0.6 for ch in text) * em


def bar_chart_png(rows: list[tuple[str, int]], *, title: str, width: int = 800,
                  height: int = 500) -> bytes:
    """A horizontal bar chart, largest bar on top, exactly width × height pixels."""
    from matplotlib.collections import PolyCollection
    from matplotlib.lines import Line2D
    from PIL import Image

    font = cjk_font()
    fig = _figure(width, height)
    canvas = fig.canvas
    top, bottom = 42, 12  # px: the title above, a little air below
    pitch = (height - top - bottom) / max(len(rows), 1)
    # Labels shrink with the bars when there are many (9 pt down to 5 pt), so they never overlap.
    size = max(5.0, min(9.0, pitch * 0.75 * 72 / DPI))
    largest = max((value for _, value in rows), default=0)
    left = min(width / 2, max((_text_px(label, size) for label, _ in rows), default=0.0) + 16)
    right = width - _text_px(f" {largest}", size - 1) - 12
    per_unit = (right - left) / (largest or 1)
    # Figure-level artists in figure fractions: no Axes, so no ticks, spines, data transforms or
    # clip paths to build and draw; the bar geometry is three lines of arithmetic.
    bars = []
    for i, (label, value) in enumerate(rows):
        mid = height - top - (i + 0.5) * pitch
        lo, hi, end = (mid - 0.4 * pitch) / height, (mid + 0.4 * pitch) / height, (left + value * per_unit) / width
        bars.append([(left / width, lo), (end, lo), (end, hi), (left / width, hi)])
        fig.text((left - 6) / width, mid / height, label, ha="right", va="center",
                 fontproperties=font, fontsize=size)
        # Digits in matplotlib's default font: laid out faster than in the big CJK one.
        fig.text(end, mid / height, f" {value}", ha="left", va="center", fontsize=size - 1)
    fig.add_artist(PolyCollection(bars, facecolors=BAR, edgecolors="none"))
    fig.add_artist(Line2D([left / width] * 2, [bottom / height, 1 - top / height], color="#333333",
                          linewidth=0.8))
    fig.text(0.5, 1 - 21 / height, title, ha="center", va="center", fontproperties=font,
             fontsize=13)
    if not rows:
        fig.text(0.5, 0.5, "无数据 no data", ha="center", va="center", fontproperties=font,
                 fontsize=12)
    canvas.draw()
    buf = io.BytesIO()
    # RGB (the chart is opaque) at the fast zlib level: flat colour compresses well anyway.
    Image.frombuffer("RGBA", canvas.get_width_height(), canvas.buffer_rgba()).convert("RGB").save(
        buf, format="png", compress_level=1)
    return buf.getvalue()


LINE_COLOURS = ("#c0392b", "#2980b9", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#2c3e50",
                "#f39c12", "#7f8c8d", "#e84393", "#00a8ff", "#6ab04c", "#95a5a6")


def line_chart_png(labels: list[str], lines: list[tuple[str, list[int]]], *, title: str,
                   compare: list[tuple[str, list[int]]] | None = None, width: int = 800,
                   height: int = 500, no_data: str = "无数据 no data") -> bytes:
    """Counts over time: one line per series, comparison periods dashed grey, a legend in the
    CJK font (the trend chart; an Axes here — a few lines, not dozens of bars)."""
    from PIL import Image

    font = cjk_font()
    fig = _figure(width, height)
    ax = fig.add_axes((0.07, 0.22 if len(lines) + len(compare or []) > 4 else 0.14, 0.9, 0.68))
    xs = list(range(len(labels)))
    for i, (name, data) in enumerate(lines):
        ax.plot(xs, data, color=LINE_COLOURS[i % len(LINE_COLOURS)], linewidth=1.6, label=name)
    for j, (name, data) in enumerate(compare or []):
        ax.plot(list(range(len(data))), data, color=("#999999", "#cccccc")[j % 2], linewidth=1.2,
                linestyle="--", label=name)
    step = max(1, len(labels) // 8)
    ax.set_xticks(xs[::step])
    ax.set_xticklabels(labels[::step], fontsize=8)
    ax.tick_params(axis="y", labelsize=8)
    ax.set_ylim(bottom=0)
    ax.grid(axis="y", color="#eeeeee")
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    if lines or compare:
        small = font.copy()
        small.set_size(8)
        fig.legend(loc="lower center", ncol=min(4, len(lines) + len(compare or [])), prop=small,
                   frameon=False)
    if not any(any(d) for _, d in lines):
        ax.text(0.5, 0.5, no_data, ha="center", va="center", transform=ax.transAxes,
                fontproperties=font, fontsize=12)
    fig.text(0.5, 1 - 21 / height, title, ha="center", va="center", fontproperties=font, fontsize=13)
    fig.canvas.draw()
    buf = io.BytesIO()
    Image.frombuffer("RGBA", fig.canvas.get_width_height(), fig.canvas.buffer_rgba()).convert("RGB").save(
        buf, format="png", compress_level=1)
    return buf.getvalue()
