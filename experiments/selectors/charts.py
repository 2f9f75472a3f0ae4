"""Small line charts for the results page, as inline SVG: the admin's CSP forbids inline styles and
scripts, not SVG attributes, and a chart library would be a dependency for two charts."""

from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

COLOURS = ("#1b6ac9", "#d1495b", "#2e933c", "#edae49", "#7d4e9f", "#00798c")


@dataclass(frozen=True, slots=True)
class Series:
    name: str
    points: list[tuple[float, float]]  # (x, y), x ascending


def line_chart(series: list[Series], *, x_label: str, y_label: str, width: int = 640, height: int = 240,
               y_format: str = "{:.3f}") -> SafeString:  # fmt: skip
    """One polyline per series on shared axes, with a legend; empty when there is nothing to draw."""
    points = [p for s in series for p in s.points]
    if not points:
        return mark_safe("")
    left, right, top, bottom = 64, 16, 12, 44
    x_low, x_high = min(p[0] for p in points), max(p[0] for p in points)
    y_low, y_high = min(0.0, min(p[1] for p in points)), max(p[1] for p in points) or 1.0
    x_span, y_span = (x_high - x_low) or 1.0, (y_high - y_low) or 1.0

    def at(x: float, y: float) -> str:
        return (f"{left + (x - x_low) / x_span * (width - left - right):.1f},"
                f"{height - bottom - (y - y_low) / y_span * (height - top - bottom):.1f}")  # fmt: skip

    full = height + 20 * len(series)  # the legend below the plot
    base, middle = height - bottom, top + (height - bottom) // 2
    small = 'font-size="11"'
    parts = [
        f'<svg class="chart" role="img" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{full}" '
        f'viewBox="0 0 {width} {full}" aria-label="{escape(y_label)} by {escape(x_label)}">',
        f'<line x1="{left}" y1="{base}" x2="{width - right}" y2="{base}" stroke="#888"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{base}" stroke="#888"/>',
        f'<text x="{left - 4}" y="{top + 8}" text-anchor="end" {small}>{escape(y_format.format(y_high))}</text>',
        f'<text x="{left - 4}" y="{base}" text-anchor="end" {small}>{escape(y_format.format(y_low))}</text>',
        f'<text x="{left}" y="{base + 16}" {small}>{escape(f"{x_low:,.0f}")}</text>',
        f'<text x="{width - right}" y="{base + 16}" text-anchor="end" {small}>{escape(f"{x_high:,.0f}")}</text>',
        f'<text x="{(left + width) // 2}" y="{base + 30}" text-anchor="middle" {small}>{escape(x_label)}</text>',
        f'<text x="12" y="{middle}" {small} transform="rotate(-90 12 {middle})" text-anchor="middle">'
        f"{escape(y_label)}</text>",
    ]
    for index, item in enumerate(series):
        colour = COLOURS[index % len(COLOURS)]
        coords = " ".join(at(x, y) for x, y in item.points)
        if len(item.points) == 1:
            x, y = at(*item.points[0]).split(",")
            parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="{colour}"/>')
        else:
            parts.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{coords}"/>')
        legend_y = height + 20 * index + 4
        parts.append(f'<rect x="{left}" y="{legend_y}" width="12" height="12" fill="{colour}"/>')
        parts.append(f'<text x="{left + 18}" y="{legend_y + 10}" font-size="12">{escape(item.name)}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text above is escaped; the rest are numbers
