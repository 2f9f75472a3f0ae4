"""A colour's name as a swatch: the catalogs name colours ("Dark Blue", "Greenish Khaki", "Navy Blue",
"Grey Melange"), not codes. A base hue from the name's words, lightened or darkened by "Light" and
"Dark"; a name we cannot read ("Other", "Unknown", "Multi") gets no colour. Each swatch shows its
name on hover.

The store's Content-Security-Policy allows no inline styles, so a swatch is a CSS class
(swatch_class) defined in static/storefront/swatches.css, which ``python -m catalog.colours`` writes
from HUES (tests/test_colour_swatches.py checks it is current).
"""

import sys

HUES = {
    "black": "#1b1b1b", "white": "#ffffff", "off white": "#f3efe6", "cream": "#f3ead2", "grey": "#8c8c8c",
    "charcoal": "#3d3f42", "steel": "#6f7a83", "silver": "#c4c7cc", "beige": "#d8c3a0", "nude": "#e3bfa3",
    "skin": "#e8c2a4", "taupe": "#8b7d6b", "tan": "#c49a6c", "khaki": "#a89f68", "brown": "#7a4e2d",
    "coffee": "#5b3a24", "mushroom": "#a08f7d", "rust": "#a5462a", "copper": "#b66b3c", "bronze": "#8c6b35",
    "gold": "#c9a13b", "yellow": "#f0cf3c", "mustard": "#c9a227", "orange": "#ee8833", "peach": "#f4b39a",
    "red": "#c62f2f", "maroon": "#6e1f2a", "burgundy": "#7a2035", "pink": "#ec9bb8", "rose": "#e58fa3",
    "magenta": "#c02e8a", "mauve": "#b18aa6", "purple": "#7b4a9e", "lavender": "#b9a7d6", "lilac": "#c3a6d1",
    "blue": "#3a62b5", "navy": "#1f2d55", "navy blue": "#1f2d55", "turquoise": "#3bb5b0", "teal": "#1f7f7f",
    "green": "#4f8a4a", "olive": "#6b6b2e", "lime": "#a5c63b", "sea green": "#3c9d7a", "transparent": "#f4f4f4",
}  # fmt: skip
LIGHTER, DARKER = 0.45, 0.35  # how far "Light" mixes towards white, "Dark" towards black


SHADES = ("", "light", "dark")


def swatch_class(name: str) -> str:
    """The swatch's CSS class for the named colour ("sw-blue-dark"), or "" where the name tells none."""
    hue, shade = _hue(name)
    if not hue:
        return ""
    return "sw-" + hue.replace(" ", "-") + (f"-{shade}" if shade else "")


def swatch_colour(name: str) -> str:
    """A CSS colour for the named colour, or "" where the name tells none."""
    hue, shade = _hue(name)
    return _shade(HUES[hue], shade) if hue else ""


def _shade(colour: str, shade: str) -> str:
    return {"light": lambda: _mix(colour, "#ffffff", LIGHTER), "dark": lambda: _mix(colour, "#000000", DARKER)}.get(
        shade, lambda: colour
    )()


def _hue(name: str) -> tuple[str, str]:
    """(the key of HUES the name's words name, "light", "dark" or ""), or ("", "")."""
    words = name.lower().replace("/", " ").split()
    for size in (2, 1):  # "off white", "sea green" before "white", "green"
        for start in range(len(words) - size, -1, -1):  # the last words name the hue: "Greenish Khaki"
            hue = " ".join(words[start : start + size])
            if hue in HUES:
                return hue, "light" if "light" in words else "dark" if "dark" in words else ""
    return "", ""


def _mix(colour: str, towards: str, share: float) -> str:
    a, b = _rgb(colour), _rgb(towards)
    return "#" + "".join(f"{round(x + (y - x) * share):02x}" for x, y in zip(a, b, strict=True))


def _rgb(colour: str) -> tuple[int, int, int]:
    return int(colour[1:3], 16), int(colour[3:5], 16), int(colour[5:7], 16)


def stylesheet() -> str:
    """static/storefront/swatches.css: one rule per hue and shade."""
    rules = [
        f".swatch.sw-{hue.replace(' ', '-')}{'-' + shade if shade else ''} {{ background: {_shade(colour, shade)}; }}"
        for hue, colour in HUES.items()
        for shade in SHADES
    ]
    return (
        "/* Written by python -m catalog.colours from catalog/colours.py: do not edit. */\n" + "\n".join(rules) + "\n"
    )


if __name__ == "__main__":
    sys.stdout.write(stylesheet())
