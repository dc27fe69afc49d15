"""Procedural images of coloured shapes: the toy world's pixels.

Two styles share one geometry. ``clean`` (flat shapes on plain backgrounds) is what the
project's small CLIP is pretrained on; ``benchmark`` (shaded, outlined shapes under a colour
cast, on textured backgrounds, with sensor noise) is what the downstream benchmark shows.
The shift between them keeps zero-shot transfer imperfect, as between web photos and a
specialised benchmark, so prompt learning has something to fix.

Pure numpy + PIL: no torch, so the data plane can render without the model.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

# Benchmark classes are (colour, shape) pairs over these eight colours and eight shapes.
BENCHMARK_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "orange": (245, 140, 20),
    "yellow": (240, 220, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "purple": (140, 50, 190),
    "pink": (245, 120, 180),
    "brown": (130, 80, 40),
}
BENCHMARK_SHAPES = ("circle", "square", "triangle", "star", "cross", "heart", "hexagon", "diamond")

# Seen only in pretraining captions: near-domain words that are not benchmark classes.
EXTRA_COLOURS: dict[str, tuple[int, int, int]] = {
    "cyan": (40, 210, 220),
    "gray": (128, 128, 128),
    "lime": (170, 230, 50),
    "navy": (20, 30, 110),
}
EXTRA_SHAPES = ("pentagon", "ring", "crescent", "arrow")

ALL_COLOURS = {**BENCHMARK_COLOURS, **EXTRA_COLOURS}
ALL_SHAPES = BENCHMARK_SHAPES + EXTRA_SHAPES
SIZES = ("small", "large")
POSITIONS = ("left", "right", "top", "bottom", "center")

SUPERSAMPLE = 2
STYLES = ("clean", "web", "benchmark")


@dataclass(frozen=True)
class Scene:
    """Everything that determines one image besides the style's own noise."""

    colour: str
    shape: str
    size: float  # radius as a fraction of the image side
    cx: float  # centre, fractions of the image side
    cy: float
    angle: float  # radians

    @property
    def size_word(self) -> str:
        return "small" if self.size < 0.26 else "large"

    @property
    def position_word(self) -> str:
        dx, dy = self.cx - 0.5, self.cy - 0.5
        if max(abs(dx), abs(dy)) < 0.08:
            return "center"
        if abs(dx) >= abs(dy):
            return "left" if dx < 0 else "right"
        return "top" if dy < 0 else "bottom"


def sample_scene(rng: np.random.Generator, colour: str, shape: str) -> Scene:
    size = float(rng.uniform(0.18, 0.34))
    margin = size * 0.9
    return Scene(
        colour=colour,
        shape=shape,
        size=size,
        cx=float(rng.uniform(margin, 1 - margin)),
        cy=float(rng.uniform(margin, 1 - margin)),
        angle=float(rng.uniform(0, 2 * math.pi)),
    )


def _regular(n: int, start: float = -math.pi / 2) -> list[tuple[float, float]]:
    return [
        (math.cos(start + 2 * math.pi * k / n), math.sin(start + 2 * math.pi * k / n))
        for k in range(n)
    ]


def _star() -> list[tuple[float, float]]:
    points = []
    for k in range(10):
        r = 1.0 if k % 2 == 0 else 0.42
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


_CROSS = [
    (-0.33, -1),
    (0.33, -1),
    (0.33, -0.33),
    (1, -0.33),
    (1, 0.33),
    (0.33, 0.33),
    (0.33, 1),
    (-0.33, 1),
    (-0.33, 0.33),
    (-1, 0.33),
    (-1, -0.33),
    (-0.33, -0.33),
]
_ARROW = [(-1, -0.3), (0.2, -0.3), (0.2, -0.75), (1, 0), (0.2, 0.75), (0.2, 0.3), (-1, 0.3)]

# Unit outlines, radius about 1, centred at the origin.
_OUTLINES: dict[str, list[tuple[float, float]]] = {
    "square": _regular(4, math.pi / 4),
    "triangle": [(x, y + 0.2) for x, y in _regular(3)],
    "star": _star(),
    "cross": _CROSS,
    "heart": _heart(),
    "hexagon": _regular(6, 0.0),
    "diamond": [(0, -1), (0.6, 0), (0, 1), (-0.6, 0)],
    "pentagon": _regular(5),
    "arrow": _ARROW,
}


def _outline(scene: Scene, side: int) -> list[tuple[float, float]]:
    r = scene.size * side
    cos_a, sin_a = math.cos(scene.angle), math.sin(scene.angle)
    cx, cy = scene.cx * side, scene.cy * side
    return [
        (cx + r * (x * cos_a - y * sin_a), cy + r * (x * sin_a + y * cos_a))
        for x, y in _OUTLINES[scene.shape]
    ]


def _shape_mask(scene: Scene, side: int) -> Image.Image:
    """A binary mask ('L' image) of the shape at ``side`` pixels."""
    mask = Image.new("L", (side, side), 0)
    draw = ImageDraw.Draw(mask)
    r = scene.size * side
    cx, cy = scene.cx * side, scene.cy * side
    if scene.shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
    elif scene.shape == "ring":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
        draw.ellipse((cx - 0.55 * r, cy - 0.55 * r, cx + 0.55 * r, cy + 0.55 * r), fill=0)
    elif scene.shape == "crescent":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=255)
        ox, oy = 0.45 * r * math.cos(scene.angle), 0.45 * r * math.sin(scene.angle)
        draw.ellipse(
            (cx + ox - 0.85 * r, cy + oy - 0.85 * r, cx + ox + 0.85 * r, cy + oy + 0.85 * r), fill=0
        )
    else:
        draw.polygon(_outline(scene, side), fill=255)
    return mask


def _clean_background(rng: np.random.Generator, side: int) -> np.ndarray:
    tone = rng.uniform(200, 250, size=3)  # (3,) pale, nearly uniform
    return np.broadcast_to(tone, (side, side, 3)).astype(np.float32).copy()


def _web_background(rng: np.random.Generator, side: int) -> np.ndarray:
    """Plain pale, plain of any colour, a gradient, or smooth blotches: broad but untextured."""
    kind = rng.choice(4, p=[0.4, 0.2, 0.2, 0.2])
    if kind == 0:
        return _clean_background(rng, side)
    a, b = rng.uniform(0, 255, size=3), rng.uniform(0, 255, size=3)
    if kind == 1:
        return np.broadcast_to(a, (side, side, 3)).astype(np.float32).copy()
    if kind == 2:
        theta = rng.uniform(0, 2 * math.pi)
        yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
        t = np.clip((xx - 0.5) * math.cos(theta) + (yy - 0.5) * math.sin(theta) + 0.5, 0, 1)
    else:
        coarse = rng.uniform(size=(4, 4))
        t = (
            np.asarray(
                Image.fromarray((coarse * 255).astype(np.uint8)).resize(
                    (side, side), Image.BICUBIC
                ),
                dtype=np.float32,
            )
            / 255
        )
    return t[..., None] * a + (1 - t[..., None]) * b


def _textured_background(rng: np.random.Generator, side: int) -> np.ndarray:
    """Stripes, checks or blotches in two muted tones: clutter the clean world never had."""
    a = rng.uniform(70, 190, size=3)
    b = np.clip(a + rng.uniform(-45, 45, size=3), 0, 255)  # muted: texture, not camouflage
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    kind = rng.integers(3)
    if kind == 0:
        theta, freq = rng.uniform(0, math.pi), rng.uniform(3, 9)
        t = np.sin(2 * math.pi * freq * (xx * math.cos(theta) + yy * math.sin(theta))) > 0
    elif kind == 1:
        freq = rng.integers(3, 8)
        t = ((np.floor(xx * freq) + np.floor(yy * freq)) % 2) == 0
    else:
        coarse = rng.uniform(size=(6, 6))
        t = (
            np.asarray(
                Image.fromarray((coarse * 255).astype(np.uint8)).resize((side, side), Image.BICUBIC)
            )
            > 127
        )
    t = t.astype(np.float32)[..., None]  # (side, side, 1)
    return t * a + (1 - t) * b


def render(scene: Scene, rng: np.random.Generator, *, style: str, size: int = 64) -> Image.Image:
    """Draw ``scene`` as a ``size`` x ``size`` RGB image in ``style`` ('clean' or 'benchmark')."""
    if style not in STYLES:
        raise ValueError(f"style must be one of {STYLES}, got {style!r}")
    side = size * SUPERSAMPLE
    colour = np.array(ALL_COLOURS[scene.colour], dtype=np.float32)
    mask = (
        np.asarray(_shape_mask(scene, side), dtype=np.float32)[..., None] / 255
    )  # (side, side, 1)

    if style in ("clean", "web"):
        background = _clean_background if style == "clean" else _web_background
        fill = np.clip(colour + rng.normal(0, 8, size=3), 0, 255)
        canvas = mask * fill + (1 - mask) * background(rng, side)
        if style == "web":
            canvas = canvas * rng.uniform(0.88, 1.12, size=3)  # mild white-balance differences
    else:
        canvas = _textured_background(rng, side)
        yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
        g = rng.uniform(-1, 1, size=2)
        shade = (
            1.0 + 0.35 * (g[0] * (xx - 0.5) + g[1] * (yy - 0.5)) * 2
        )  # (side, side) light falloff
        fill = colour[None, None, :] * shade[..., None]
        edge = (
            np.asarray(
                Image.fromarray((mask[..., 0] * 255).astype(np.uint8)).filter(
                    ImageFilter.MaxFilter(5)
                ),
                dtype=np.float32,
            )[..., None]
            / 255
        )
        outline = edge * (1 - mask)  # a dark rim around the shape
        canvas = mask * fill + outline * (0.35 * colour) + (1 - mask - outline) * canvas
        cast = rng.uniform(0.8, 1.2, size=3)  # colour cast of the lighting
        canvas = canvas * cast * rng.uniform(0.75, 1.15)

    image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).resize(
        (size, size), Image.BILINEAR
    )
    if style == "web":
        sigma = rng.uniform(0, 6)
        noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, sigma, size=(size, size, 3))
        image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    if style == "benchmark":
        image = image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.3, 0.9))))
        noisy = np.asarray(image, dtype=np.float32) + rng.normal(0, 10, size=(size, size, 3))
        image = Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
    return image
