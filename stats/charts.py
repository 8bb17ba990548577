"""PNG bar charts with Chinese labels (matplotlib's object-oriented API on the Agg canvas, a
CJK font shipped by `mplfonts`).

Measured (bench/RESULTS.md "Dashboard"): almost all of a chart's time is matplotlib drawing
text — each Text is laid out by libraqm/HarfBuzz and its glyphs rendered from the 16 MB CFF
font, ~0.1 ms a glyph — and building an Axes' tick machinery (ticks are Line2D markers plus
a label each). So a chart is one Axes with its axis machinery switched off: the bars
(`barh`), one Text per label and per value, a baseline and the title; no tick objects, no
layout pass (margins from the labels' lengths), and the RGB pixels encoded at zlib level 1.
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
    from matplotlib.transforms import blended_transform_factory
    from PIL import Image

    font = cjk_font()
    fig = _figure(width, height)
    canvas = fig.canvas
    labels = [r[0] for r in rows][::-1]
    values = [r[1] for r in rows][::-1]
    top, bottom = 42, 12  # px: the title above, a little air below
    pitch = (height - top - bottom) / max(len(rows), 1)
    # Labels shrink with the bars when there are many (9 pt down to 5 pt), so they never overlap.
    size = max(5.0, min(9.0, pitch * 0.75 * 72 / DPI))
    label_px = max((_text_px(label, size) for label in labels), default=0.0)
    value_px = _text_px(f" {max(values, default=0)}", size - 1)
    left = min(0.5, (label_px + 16) / width)
    right = 1 - (value_px + 12) / width
    ax = fig.add_axes((left, bottom / height, right - left, 1 - (top + bottom) / height))
    ax.set_axis_off()
    ax.barh(range(len(values)), values, height=0.8, color=BAR)
    ax.set_xlim(0, max(values, default=0) or 1)
    ax.set_ylim(-0.5, max(len(values), 1) - 0.5)
    ax.axvline(0, color="#333333", linewidth=0.8)
    beside = blended_transform_factory(ax.transAxes, ax.transData)
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        ax.text(-6 / width / (right - left), i, label, transform=beside, ha="right", va="center",
                fontproperties=font, fontsize=size)
        # Digits in matplotlib's default font: laid out faster than in the big CJK one.
        ax.text(value, i, f" {value}", ha="left", va="center", fontsize=size - 1)
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
