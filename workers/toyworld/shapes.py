"""Domain ``shapes``: one coloured shape per image (the ``toyworld`` benchmark's domain).

Shapes come in confusable families: at 64 pixels and under blur a hexagon is nearly a circle,
a diamond a rotated square, a pentagon a hexagon.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw

from workers.toyworld.render import jittered, photograph

SHAPES = (
    "circle",
    "square",
    "triangle",
    "star",
    "hexagon",
    "diamond",
    "heart",
    "cross",
    "pentagon",
    "ring",
    "crescent",
    "arrow",
)


def _regular(n: int, start: float = -math.pi / 2) -> list[tuple[float, float]]:
    return [
        (math.cos(start + 2 * math.pi * k / n), math.sin(start + 2 * math.pi * k / n))
        for k in range(n)
    ]


def _star() -> list[tuple[float, float]]:
    points = []
    for k in range(10):
        r = 1.0 if k % 2 == 0 else 0.45
        a = -math.pi / 2 + math.pi * k / 5
        points.append((r * math.cos(a), r * math.sin(a)))
    return points


def _heart() -> list[tuple[float, float]]:
    points = []
    for k in range(48):
        t = 2 * math.pi * k / 48
        x = 16 * math.sin(t) ** 3
        y = 13 * math.cos(t) - 5 * math.cos(2 * t) - 2 * math.cos(3 * t) - math.cos(4 * t)
        points.append((x / 17, -(y + 2.5) / 17))
    return points


_C = 0.33
_CROSS = [(-_C, -1), (_C, -1), (_C, -_C), (1, -_C), (1, _C), (_C, _C), (_C, 1), (-_C, 1),
          (-_C, _C), (-1, _C), (-1, -_C), (-_C, -_C)]  # fmt: skip
_ARROW = [(-1, -0.3), (0.2, -0.3), (0.2, -0.75), (1, 0), (0.2, 0.75), (0.2, 0.3), (-1, 0.3)]

# Unit outlines, radius about 1, centred at the origin.
OUTLINES: dict[str, list[tuple[float, float]]] = {
    "square": _regular(4, math.pi / 4),
    "triangle": [(x, y + 0.2) for x, y in _regular(3)],
    "star": _star(),
    "hexagon": _regular(6, 0.0),
    "diamond": [(0, -1), (0.62, 0), (0, 1), (-0.62, 0)],
    "heart": _heart(),
    "cross": _CROSS,
    "pentagon": _regular(5),
    "arrow": _ARROW,
}


def shape_mask(shape: str, side: int, *, size: float, cx: float, cy: float, angle: float):
    """A binary mask (side, side) in [0, 1] of ``shape`` with radius ``size`` (fractions)."""
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    r, x0, y0 = size * side, cx * side, cy * side
    if shape in ("circle", "ring", "crescent"):
        draw.ellipse((x0 - r, y0 - r, x0 + r, y0 + r), fill=255)
        if shape == "ring":
            draw.ellipse((x0 - 0.55 * r, y0 - 0.55 * r, x0 + 0.55 * r, y0 + 0.55 * r), fill=0)
        if shape == "crescent":
            ox, oy = 0.45 * r * math.cos(angle), 0.45 * r * math.sin(angle)
            box = (x0 + ox - 0.85 * r, y0 + oy - 0.85 * r, x0 + ox + 0.85 * r, y0 + oy + 0.85 * r)
            draw.ellipse(box, fill=0)
    else:
        cos_a, sin_a = math.cos(angle), math.sin(angle)
        points = [
            (x0 + r * (x * cos_a - y * sin_a), y0 + r * (x * sin_a + y * cos_a))
            for x, y in OUTLINES[shape]
        ]
        draw.polygon(points, fill=255)
    return np.asarray(mask, dtype=np.float32) / 255


def render_shape(colour: str, shape: str, rng: np.random.Generator) -> Image.Image:
    """A ``colour`` ``shape`` of random size, place and rotation, photographed."""

    def paint(rng: np.random.Generator, side: int):
        size = float(rng.uniform(0.12, 0.3))
        margin = size * 0.9
        cx, cy = rng.uniform(margin, 1 - margin, size=2)
        angle = float(rng.uniform(-0.35, 0.35))  # mostly upright: a diamond is not a square
        mask = shape_mask(shape, side, size=size, cx=cx, cy=cy, angle=angle)[..., None]
        rgb = np.broadcast_to(jittered(rng, colour), (side, side, 3))
        return rgb, mask

    return photograph(paint, rng)
