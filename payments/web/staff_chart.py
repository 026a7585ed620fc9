"""The dashboard's chart, drawn on the server as SVG: the online share by month as bars,
the target in force each month as a dashed step line (docs/decisions.md: no chart
library, no CDN, no script; it prints, it reads without JavaScript, the CSP stays strict).

Only presentation attributes (`fill`, `stroke`), never `style=`, so `style-src` needs no
allowance for it; the figures are also in a table next to the chart for screen readers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from markupsafe import Markup, escape

WIDTH, HEIGHT = 640, 260
LEFT, RIGHT, TOP, BOTTOM = 44, 12, 14, 34
BAR = "#0b5cad"
BELOW = "#a40e26"
TARGET = "#1b1f23"
GRID = "#d0d7de"
INK = "#57606a"


@dataclass(frozen=True)
class MonthPoint:
    label: str  # "T1" … "T12"
    share: float | None  # one decimal, as on the reports; None: nothing paid that month
    target: Decimal
    meets: bool


def _y(percent: float) -> float:
    plot = HEIGHT - TOP - BOTTOM
    return TOP + plot * (1 - max(0.0, min(100.0, percent)) / 100)


def _vi(value: float) -> str:
    return f"{value:.1f}".replace(".", ",")


def share_chart(points: Sequence[MonthPoint], title: str) -> Markup:
    """An inline <svg> of the points (months in order)."""
    plot_w = WIDTH - LEFT - RIGHT
    step = plot_w / max(1, len(points))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-labelledby="chart-title" class="chart" data-testid="share-chart">',
        f'<title id="chart-title">{escape(title)}</title>',
    ]
    for tick in (0, 25, 50, 75, 100):
        y = _y(tick)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" '
                     f'stroke="{GRID}" stroke-width="1"/>')
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
                     f'fill="{INK}">{tick} %</text>')
    for i, point in enumerate(points):
        x = LEFT + i * step
        if point.share is not None:
            y = _y(point.share)
            colour = BAR if point.meets else BELOW
            parts.append(
                f'<rect x="{x + step * 0.18:.1f}" y="{y:.1f}" width="{step * 0.64:.1f}" '
                f'height="{HEIGHT - BOTTOM - y:.1f}" fill="{colour}">'
                f'<title>{escape(point.label)}: {_vi(point.share)} % '
                f'(mục tiêu {_vi(float(point.target))} %)</title></rect>')
            parts.append(f'<text x="{x + step / 2:.1f}" y="{max(TOP + 10, y - 4):.1f}" '
                         f'text-anchor="middle" font-size="10" fill="{TARGET}">'
                         f'{_vi(point.share)}</text>')
        parts.append(f'<text x="{x + step / 2:.1f}" y="{HEIGHT - BOTTOM + 16}" '
                     f'text-anchor="middle" font-size="11" fill="{INK}">'
                     f'{escape(point.label)}</text>')
    # the target in force each month: a dashed step line
    path = []
    for i, point in enumerate(points):
        y = _y(float(point.target))
        x0, x1 = LEFT + i * step, LEFT + (i + 1) * step
        path.append(f"{'M' if i == 0 else 'L'}{x0:.1f},{y:.1f} L{x1:.1f},{y:.1f}")
    if path:
        parts.append(f'<path d="{" ".join(path)}" fill="none" stroke="{TARGET}" '
                     f'stroke-width="2" stroke-dasharray="6 4" data-testid="target-line"/>')
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704  (every text part is escaped above)
