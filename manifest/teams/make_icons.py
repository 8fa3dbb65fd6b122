"""Draws the two Teams icons: run it after changing the design, commit the PNGs.

Teams wants a 192×192 full-colour icon and a 32×32 outline icon that is white on
transparent. Both use one ticket glyph, drawn 8× larger and scaled down so the
edges are smooth without introducing any colour but white into the outline.
"""
from __future__ import annotations

import json
from pathlib import Path

from PIL import Image, ImageColor, ImageDraw

HERE = Path(__file__).resolve().parent
SUPERSAMPLE = 8
WHITE = (255, 255, 255)


def ticket_mask(size: int, margin: float) -> Image.Image:
    """A ticket stub in white (255) with its notches, perforation and text lines cut out (0)."""
    s = size * SUPERSAMPLE
    mask = Image.new("L", (s, s), 0)
    draw = ImageDraw.Draw(mask)
    left, right = s * margin, s * (1 - margin)
    height = (right - left) * 0.62
    top, bottom = (s - height) / 2, (s + height) / 2
    draw.rounded_rectangle((left, top, right, bottom), radius=height * 0.12, fill=255)
    notch = height * 0.16
    for x in (left, right):
        draw.ellipse((x - notch, s / 2 - notch, x + notch, s / 2 + notch), fill=0)
    stub = left + (right - left) * 0.3
    dash = height / 7
    for i in range(1, 7, 2):
        draw.rectangle((stub - dash * 0.22, top + i * dash, stub + dash * 0.22, top + (i + 1) * dash), fill=0)
    line = height * 0.09
    for row, length in ((0.36, 0.5), (0.6, 0.34)):
        y = top + height * row
        x0 = stub + (right - stub) * 0.18
        draw.rounded_rectangle((x0, y, x0 + (right - stub) * length, y + line), radius=line / 2, fill=0)
    return mask.resize((size, size), Image.Resampling.LANCZOS)


def colour_icon(accent: str) -> Image.Image:
    """192×192: the accent-coloured rounded square with the white ticket on it."""
    size = 192
    s = size * SUPERSAMPLE
    square = Image.new("L", (s, s), 0)
    ImageDraw.Draw(square).rounded_rectangle((0, 0, s - 1, s - 1), radius=s * 0.2, fill=255)
    icon = Image.new("RGBA", (size, size), (*ImageColor.getrgb(accent), 0))
    icon.putalpha(square.resize((size, size), Image.Resampling.LANCZOS))
    icon.paste(Image.new("RGBA", (size, size), (*WHITE, 255)), mask=ticket_mask(size, margin=0.2))
    return icon


def outline_icon() -> Image.Image:
    """32×32: white only, the glyph's shape carried by the alpha channel."""
    icon = Image.new("RGBA", (32, 32), (*WHITE, 0))
    icon.putalpha(ticket_mask(32, margin=0.03))
    return icon


if __name__ == "__main__":
    accent = json.loads((HERE / "manifest.json").read_text(encoding="utf-8"))["accentColor"]
    colour_icon(accent).save(HERE / "color.png", optimize=True)
    outline_icon().save(HERE / "outline.png", optimize=True)
