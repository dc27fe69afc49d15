"""Domain ``glyphs``: one inked character (letter, digit or symbol) per image.

Glyphs come in confusable families: ``O``, ``Q``, ``D`` and ``0``; ``I``, ``L`` and ``1``;
``S`` and ``5``; ``B`` and ``8``; ``Z`` and ``2``. The ink colour is a nuisance, never a class.
"""

from __future__ import annotations

import functools

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from workers.toyworld.render import COLOURS, jittered, photograph

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
SYMBOLS = {
    "plus sign": "+",
    "question mark": "?",
    "at sign": "@",
    "dollar sign": "$",
    "percent sign": "%",
    "hash sign": "#",
    "ampersand": "&",
    "asterisk": "*",
}


def glyph_names() -> dict[str, str]:
    """Every glyph's name -> its character: ``letter a`` -> ``A``, ``digit five`` -> ``5``."""
    names = {f"letter {c.lower()}": c for c in "ABCDEFGHIJKLMNOPQRSTUVWXYZ"}
    names.update({f"digit {w}": str(d) for d, w in enumerate(DIGIT_WORDS)})
    names.update(SYMBOLS)
    return names


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)  # Pillow's embedded scalable font


def render_glyph(name: str, rng: np.random.Generator) -> Image.Image:
    """The glyph ``name`` in a random ink colour, size, place, weight and slant, photographed."""
    char = glyph_names()[name]
    ink_name = str(rng.choice(list(COLOURS)))

    def paint(rng: np.random.Generator, side: int):
        size = int(side * rng.uniform(0.45, 0.75))
        layer = Image.new("L", (side, side), 0)
        draw = ImageDraw.Draw(layer)
        left, top, right, bottom = draw.textbbox((0, 0), char, font=_font(size))
        w, h = right - left, bottom - top
        x = rng.uniform(0.05 * side, max(0.05 * side + 1, 0.95 * side - w)) - left
        y = rng.uniform(0.05 * side, max(0.05 * side + 1, 0.95 * side - h)) - top
        draw.text((x, y), char, fill=255, font=_font(size), stroke_width=int(rng.integers(0, 4)),
                  stroke_fill=255)  # fmt: skip
        layer = layer.rotate(float(rng.uniform(-15, 15)), resample=Image.BILINEAR)
        alpha = np.asarray(layer, dtype=np.float32)[..., None] / 255
        rgb = np.broadcast_to(jittered(rng, ink_name), (side, side, 3))
        return rgb, alpha

    return photograph(paint, rng)
