"""The toy world's pixels: one photographic style shared by every domain.

Every image of the toy world, benchmark or pretraining, comes from the same process: a
background (plain, gradient, blotchy or a muted texture), an object layer drawn by a domain
(a coloured shape, a patterned patch, an inked glyph), then lighting (shading, a colour cast,
brightness), blur and sensor noise. There is no style shift between pretraining and the
benchmarks, as for CLIP, whose web data covers the benchmarks' styles; what makes the toy
benchmarks hard is that their classes are fine-grained and confusable (neighbouring colours
overlap under the colour cast, a blurred hexagon looks like a circle, an ``O`` like a ``0``).

Pure numpy + PIL: no torch, so the data plane can render without the model.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
from PIL import Image, ImageFilter

SIZE = 64  # pixels per side of every toy image
SUPERSAMPLE = 2

# The toy world's colour words. Neighbours are close on purpose: under the lighting's colour
# cast and the per-object jitter, red and orange, pink and purple, blue and navy overlap.
COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (215, 35, 35),
    "orange": (240, 130, 25),
    "yellow": (235, 215, 45),
    "green": (45, 165, 60),
    "blue": (45, 85, 215),
    "purple": (140, 55, 185),
    "pink": (240, 125, 175),
    "brown": (135, 85, 45),
    "cyan": (45, 200, 210),
    "gray": (128, 128, 128),
    "lime": (165, 220, 55),
    "navy": (25, 35, 115),
}
COLOUR_JITTER = 16.0  # std of the per-object colour, per channel

# Painter = draws an object layer: (rng, side) -> (rgb (side, side, 3) float, alpha (side, side, 1))
Painter = Callable[[np.random.Generator, int], tuple[np.ndarray, np.ndarray]]


def jittered(rng: np.random.Generator, colour: str) -> np.ndarray:
    """One object's colour: the named colour plus per-object jitter. -> (3,)"""
    base = np.array(COLOURS[colour], dtype=np.float32)
    return np.clip(base + rng.normal(0, COLOUR_JITTER, size=3), 0, 255)


def _smooth_noise(rng: np.random.Generator, side: int, cells: int) -> np.ndarray:
    """Values in [0, 1] that vary smoothly over the image. -> (side, side)"""
    coarse = (rng.uniform(size=(cells, cells)) * 255).astype(np.uint8)
    resized = Image.fromarray(coarse).resize((side, side), Image.BICUBIC)
    return np.asarray(resized, dtype=np.float32) / 255


def background(rng: np.random.Generator, side: int) -> np.ndarray:
    """Plain pale, plain muted, a gradient, blotches, or a muted texture. -> (side, side, 3)"""
    kind = int(rng.choice(5, p=[0.3, 0.15, 0.2, 0.15, 0.2]))
    if kind == 0:
        return np.broadcast_to(rng.uniform(195, 250, size=3), (side, side, 3)).astype(np.float32)
    a = rng.uniform(60, 220, size=3)
    if kind == 1:
        return np.broadcast_to(a, (side, side, 3)).astype(np.float32)
    b = np.clip(a + rng.uniform(-60, 60, size=3), 0, 255)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    if kind == 2:
        theta = rng.uniform(0, 2 * math.pi)
        t = np.clip((xx - 0.5) * math.cos(theta) + (yy - 0.5) * math.sin(theta) + 0.5, 0, 1)
    elif kind == 3:
        t = _smooth_noise(rng, side, 4)
    else:
        b = np.clip(a + rng.uniform(-35, 35, size=3), 0, 255)  # muted: clutter, not camouflage
        theta, freq = rng.uniform(0, math.pi), rng.uniform(3, 8)
        t = (np.sin(2 * math.pi * freq * (xx * math.cos(theta) + yy * math.sin(theta))) > 0) * 1.0
    t = t.astype(np.float32)[..., None]  # (side, side, 1)
    return t * a + (1 - t) * b


def photograph(paint: Painter, rng: np.random.Generator, *, size: int = SIZE) -> Image.Image:
    """Compose an object layer over a background, light it, blur it and add sensor noise."""
    side = size * SUPERSAMPLE
    rgb, alpha = paint(rng, side)  # (side, side, 3), (side, side, 1)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    g = rng.uniform(-1, 1, size=2)
    shade = 1.0 + 0.5 * (g[0] * (xx - 0.5) + g[1] * (yy - 0.5))  # (side, side) light falloff
    canvas = alpha * rgb * shade[..., None] + (1 - alpha) * background(rng, side)
    canvas = canvas * rng.uniform(0.93, 1.07, size=3) * rng.uniform(0.88, 1.1)  # cast, exposure
    image = Image.fromarray(np.clip(canvas, 0, 255).astype(np.uint8)).resize(
        (size, size), Image.BILINEAR
    )
    image = image.filter(ImageFilter.GaussianBlur(radius=float(rng.uniform(0.0, 0.6))))
    noisy = np.asarray(image, dtype=np.float32) + rng.normal(
        0, rng.uniform(2, 10), size=(size, size, 3)
    )
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))
