"""Plots as inline SVG strings: no plotting library and nothing fetched, so a page draws from disk or a server alike."""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

COLOURS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")


@dataclass(frozen=True)
class Point:
    """One plotted value, with an optional interval drawn as an error bar."""

    x: float
    y: float
    lo: float | None = None
    hi: float | None = None
    label: str = ""
    """Shown when the pointer rests on the point."""


@dataclass(frozen=True)
class Series:
    """A named line of points."""

    name: str
    points: Sequence[Point]
    colour: str = ""
    """CSS colour; empty picks the next of `COLOURS`."""


@dataclass(frozen=True)
class Axes:
    """What the axes say and span."""

    title: str = ""
    x_label: str = ""
    y_label: str = ""
    y_range: tuple[float, float] | None = None
    """Fixed y span (success rates: 0-1); None fits the data."""
    x_ticks: dict[float, str] = field(default_factory=dict)
    """Labels for chosen x positions; empty labels the integers in range."""
    width: int = 560
    height: int = 300


def _nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    if hi <= lo:
        hi = lo + 1.0
    raw = (hi - lo) / count
    step = 10 ** math.floor(math.log10(raw))
    for mult in (1, 2, 5, 10):
        if raw <= mult * step:
            step *= mult
            break
    start = math.ceil(lo / step) * step
    ticks = []
    value = start
    while value <= hi + 1e-9:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _fmt(value: float) -> str:
    return f"{value:.3g}"


def line_plot(series: Sequence[Series], axes: Axes) -> str:
    """Lines with markers and interval bars, a legend, and labelled axes; an empty plot says there is no data."""
    w, h = axes.width, axes.height
    left, right, top, bottom = 56, 16, 28 if axes.title else 12, 44
    pts = [p for s in series for p in s.points]
    esc = html.escape
    head = (
        f'<svg class="plot" xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        f'role="img" aria-label="{esc(axes.title or "plot")}">'
    )
    title = (
        f'<text x="{w / 2}" y="16" text-anchor="middle" class="title">{esc(axes.title)}</text>' if axes.title else ""
    )
    if not pts:
        return head + title + f'<text x="{w / 2}" y="{h / 2}" text-anchor="middle">no data</text></svg>'
    xs = [p.x for p in pts]
    x_lo, x_hi = min(xs), max(xs)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 0.5, x_hi + 0.5
    pad = (x_hi - x_lo) * 0.05
    x_lo, x_hi = x_lo - pad, x_hi + pad
    if axes.y_range:
        y_lo, y_hi = axes.y_range
    else:
        ys = [v for p in pts for v in (p.y, p.lo, p.hi) if v is not None]
        y_lo, y_hi = min(ys), max(ys)
        span = (y_hi - y_lo) or abs(y_hi) or 1.0
        y_lo, y_hi = y_lo - 0.05 * span, y_hi + 0.05 * span

    def sx(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * (w - left - right)

    def sy(y: float) -> float:
        return h - bottom - (y - y_lo) / (y_hi - y_lo) * (h - top - bottom)

    parts = [head, title]
    parts.append(
        f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" class="axis"/>'
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{h - bottom}" class="axis"/>'
    )
    for t in _nice_ticks(y_lo, y_hi):
        y = sy(t)
        parts.append(
            f'<line x1="{left}" y1="{y:.1f}" x2="{w - right}" y2="{y:.1f}" class="grid"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{_fmt(t)}</text>'
        )
    x_ticks = axes.x_ticks or {
        float(i): str(i) for i in range(math.ceil(x_lo), math.floor(x_hi) + 1) if (x_hi - x_lo) <= 40
    }
    if not x_ticks:
        x_ticks = {t: _fmt(t) for t in _nice_ticks(x_lo, x_hi)}
    for x, label in x_ticks.items():
        parts.append(f'<text x="{sx(x):.1f}" y="{h - bottom + 16}" text-anchor="middle">{esc(label)}</text>')
    if axes.x_label:
        parts.append(f'<text x="{(left + w - right) / 2}" y="{h - 8}" text-anchor="middle">{esc(axes.x_label)}</text>')
    if axes.y_label:
        parts.append(
            f'<text x="14" y="{(top + h - bottom) / 2}" text-anchor="middle" '
            f'transform="rotate(-90 14 {(top + h - bottom) / 2})">{esc(axes.y_label)}</text>'
        )
    for i, s in enumerate(series):
        colour = s.colour or COLOURS[i % len(COLOURS)]
        line = " ".join(f"{sx(p.x):.1f},{sy(p.y):.1f}" for p in s.points)
        parts.append(f'<g class="series" data-name="{esc(s.name)}">')
        if len(s.points) > 1:
            parts.append(f'<polyline points="{line}" fill="none" stroke="{colour}" stroke-width="2"/>')
        for p in s.points:
            cx, cy = sx(p.x), sy(p.y)
            if p.lo is not None and p.hi is not None:
                y1, y2 = sy(max(p.lo, y_lo)), sy(min(p.hi, y_hi))
                parts.append(
                    f'<line x1="{cx:.1f}" y1="{y1:.1f}" x2="{cx:.1f}" y2="{y2:.1f}" stroke="{colour}"/>'
                    f'<line x1="{cx - 4:.1f}" y1="{y1:.1f}" x2="{cx + 4:.1f}" y2="{y1:.1f}" stroke="{colour}"/>'
                    f'<line x1="{cx - 4:.1f}" y1="{y2:.1f}" x2="{cx + 4:.1f}" y2="{y2:.1f}" stroke="{colour}"/>'
                )
            tip = p.label or f"{s.name}: {_fmt(p.y)}"
            if p.lo is not None and p.hi is not None:
                tip += f" ({_fmt(p.lo)}-{_fmt(p.hi)})"
            radius = 4 if len(s.points) < 60 else 1.5
            parts.append(
                f'<circle cx="{cx:.1f}" cy="{cy:.1f}" r="{radius}" fill="{colour}"><title>{esc(tip)}</title></circle>'
            )
        parts.append("</g>")
    legend_x = w - right - 24 - 6.5 * max((len(s.name) for s in series), default=0)  # top right, clear of the axis
    for i, s in enumerate(series):
        colour = s.colour or COLOURS[i % len(COLOURS)]
        y = top + 6 + 16 * i
        parts.append(
            f'<rect x="{legend_x:.1f}" y="{y}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{legend_x + 16:.1f}" y="{y + 9}" class="legend">{esc(s.name)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)
