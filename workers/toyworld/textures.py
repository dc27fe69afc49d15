"""Domain ``textures``: a patch of coloured pattern filling most of the image.

Patterns come in confusable families: stripes, waves and zigzags; checks, grids and
crosshatching; dots, spots and rings. Motif patterns tile a small shape and are named by the
shape's own word (``red star`` is also a shape): the word alone does not say which one is
meant, the caption's domain words do, as "a satellite photo of a forest" does for CLIP.
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from workers.toyworld.render import jittered, photograph
from workers.toyworld.shapes import shape_mask

PATTERNS = (
    "stripes",
    "checks",
    "dots",
    "waves",
    "zigzags",
    "grid",
    "rings",
    "crosshatch",
    "spots",
    "speckles",
)
MOTIFS = ("star", "heart", "cross", "diamond", "triangle", "arrow")  # shape words, tiled


def pattern_field(pattern: str, rng: np.random.Generator, side: int) -> np.ndarray:
    """Where the pattern's ink is, in [0, 1]. -> (side, side)"""
    if pattern in MOTIFS:
        return motif_field(pattern, rng, side)
    yy, xx = np.mgrid[0:side, 0:side].astype(np.float32) / side
    theta = rng.uniform(0, math.pi)
    u = xx * math.cos(theta) + yy * math.sin(theta)  # along the pattern
    v = -xx * math.sin(theta) + yy * math.cos(theta)
    freq = rng.uniform(3.5, 6.5)
    width = rng.uniform(0.3, 0.5)  # ink fraction of a period

    def bands(t: np.ndarray) -> np.ndarray:
        return ((t * freq) % 1.0 < width).astype(np.float32)

    if pattern == "stripes":
        return bands(u)
    if pattern == "waves":
        return bands(u + 0.06 * np.sin(2 * math.pi * v * rng.uniform(2, 4)))
    if pattern == "zigzags":
        period = rng.uniform(0.2, 0.35)
        tri = np.abs(((v / period) % 1.0) - 0.5) * 2 * 0.08
        return bands(u + tri)
    if pattern == "checks":
        return (((np.floor(u * freq) + np.floor(v * freq)) % 2) == 0).astype(np.float32)
    if pattern == "grid":
        thin = width * 0.5
        return np.maximum((u * freq) % 1.0 < thin, (v * freq) % 1.0 < thin).astype(np.float32)
    if pattern == "crosshatch":
        thin = width * 0.5
        d1, d2 = (u + v) * freq / 1.4, (u - v) * freq / 1.4
        return np.maximum(d1 % 1.0 < thin, d2 % 1.0 < thin).astype(np.float32)
    if pattern in ("dots", "rings"):
        fu, fv = (u * freq) % 1.0 - 0.5, (v * freq) % 1.0 - 0.5
        r = np.sqrt(fu**2 + fv**2)
        radius = rng.uniform(0.22, 0.34)
        if pattern == "dots":
            return (r < radius).astype(np.float32)
        return ((r < radius) & (r > radius * 0.55)).astype(np.float32)
    if pattern == "spots":
        return (rng_smooth(rng, side, int(rng.integers(6, 10))) > 0.62).astype(np.float32)
    if pattern == "speckles":
        return (rng.uniform(size=(side, side)) < 0.25).astype(np.float32)
    raise ValueError(f"unknown pattern {pattern!r}")


def motif_field(motif: str, rng: np.random.Generator, side: int) -> np.ndarray:
    """A small ``motif`` shape repeated on a grid, two or three to a side. -> (side, side)"""
    per_side = int(rng.integers(2, 4))
    tile = -(-side // per_side)
    one = shape_mask(motif, tile, size=float(rng.uniform(0.3, 0.4)), cx=0.5, cy=0.5,
                     angle=float(rng.uniform(-0.2, 0.2)))  # fmt: skip
    dy, dx = rng.integers(tile, size=2)  # where the grid starts
    tiled = np.tile(one, (per_side + 1, per_side + 1))
    return tiled[dy : dy + side, dx : dx + side]


def rng_smooth(rng: np.random.Generator, side: int, cells: int) -> np.ndarray:
    coarse = (rng.uniform(size=(cells, cells)) * 255).astype(np.uint8)
    return np.asarray(Image.fromarray(coarse).resize((side, side), Image.BICUBIC)) / 255.0


def render_texture(colour: str, pattern: str, rng: np.random.Generator) -> Image.Image:
    """A patch of ``colour`` ``pattern`` on a pale or dark ground, photographed."""

    def paint(rng: np.random.Generator, side: int):
        ink = jittered(rng, colour)
        ground = rng.uniform(200, 245, size=3) if rng.uniform() < 0.7 else rng.uniform(20, 70, 3)
        field = pattern_field(pattern, rng, side)[..., None]  # (side, side, 1)
        rgb = field * ink + (1 - field) * ground
        alpha = np.zeros((side, side, 1), dtype=np.float32)
        lo, hi = rng.uniform(0.02, 0.14, size=2), rng.uniform(0.86, 0.98, size=2)
        a, b = (lo * side).astype(int), (hi * side).astype(int)
        alpha[a[1] : b[1], a[0] : b[0]] = 1.0  # the patch
        return rgb, alpha

    return photograph(paint, rng)
