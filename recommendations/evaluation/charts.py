"""Small inline SVG charts for the report page: no JavaScript and nothing fetched, so the page
works offline and prints. Every label goes through ``escape``."""

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f")


def bar_chart(
    title: str, bars: list[tuple[str, float]], *, width: int = 420, stderr: list[float] | None = None
) -> SafeString:
    """Horizontal bars, one per (label, value), with the value printed and an optional error bar."""
    row, left, top = 26, 190, 28
    height = top + row * len(bars) + 8
    peak = max([value + (stderr[i] if stderr else 0) for i, (_, value) in enumerate(bars)] + [1e-12])
    scale = (width - left - 70) / peak
    parts = [format_html('<text x="0" y="16" class="chart-title">{}</text>', title)]
    for i, (label, value) in enumerate(bars):
        y = top + i * row
        length = max(value * scale, 0.5)
        parts.append(
            format_html(
                '<text x="{}" y="{}" text-anchor="end" class="chart-label">{}</text>'
                '<rect class="bar" x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>'
                '<text x="{}" y="{}" class="chart-value">{}</text>',
                left - 6,
                y + 14,
                label,
                left,
                y + 2,
                f"{length:.1f}",
                row - 8,
                PALETTE[i % len(PALETTE)],
                label,
                _number(value),
                f"{left + length + 4:.1f}",
                y + 14,
                _number(value),
            )  # fmt: skip
        )
        if stderr and stderr[i] > 0:
            low, high = left + max(value - stderr[i], 0) * scale, left + (value + stderr[i]) * scale
            parts.append(
                format_html(
                    '<line x1="{}" x2="{}" y1="{}" y2="{}" class="err"/>', f"{low:.1f}", f"{high:.1f}", y + 11, y + 11
                )
            )
    return _svg(width, height, parts, title)


def scatter_map(points: list[list[float]], categories: list[str], *, size: int = 520) -> SafeString:
    """The 2-D embedding map: one dot per product, coloured by category, with a legend."""
    legend_width, pad = 170, 10
    parts = []
    for x, y, category in points:
        parts.append(
            format_html(
                '<circle cx="{}" cy="{}" r="2.2" fill="{}"/>',
                f"{pad + x * (size - 2 * pad):.1f}",
                f"{pad + (1 - y) * (size - 2 * pad):.1f}",
                PALETTE[int(category) % len(PALETTE)],
            )  # fmt: skip
        )
    for i, name in enumerate(categories):
        parts.append(
            format_html(
                '<rect x="{}" y="{}" width="12" height="12" fill="{}"/>'
                '<text x="{}" y="{}" class="chart-label">{}</text>',
                size + 10,
                12 + i * 20,
                PALETTE[i % len(PALETTE)],
                size + 28,
                22 + i * 20,
                name,
            )  # fmt: skip
        )
    return _svg(size + legend_width, size, parts, "Map of the catalog's embeddings")


def _number(value: float) -> str:
    """Four decimals for rates, none for counts such as rounds."""
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.1f}"


def _svg(width: int, height: int, parts: list[str], label: str) -> SafeString:
    return mark_safe(  # noqa: S308 - every part above was built with format_html, which escapes
        f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" xmlns="http://www.w3.org/2000/svg">{"".join(parts)}</svg>'
    )
