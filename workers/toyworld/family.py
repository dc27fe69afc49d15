"""The toy world's datasets: three base-to-new benchmarks and one broad source, as data.

- ``toyworld`` (shapes): 8 colours x 8 shapes ("red circle"); base shapes circle, hexagon,
  square, diamond; new shapes star, cross, triangle, arrow.
- ``toy_textures`` (textures): 5 colours x 8 patterns ("blue stripes", "blue star": a tiled
  star, named as the shape is); base stripes, waves, star, cross; new checks, grid, heart,
  diamond.
- ``toy_glyphs`` (glyphs): 36 letters and digits ("letter o", "digit zero"); base 18 letters
  (O Q D, I L T, B P R, M N W, ...), new the digits and the letters that look like them.
- ``toy_source`` (all domains): 96 classes, the ImageNet of the toy world for cross-dataset
  transfer: extra colours, shapes, patterns and symbols, and 10 classes shared with the others.

New classes are fine-grained relatives of the base classes: same domain, confusable
attributes (a hexagon is a blurred circle, a grid a thin check, a ``0`` an ``O``). Labels
are ordered base first, so CoOp's rule (base = first ceil(n/2) labels) splits them as above.
The small CLIP is pretrained on every class of every domain and many more (``VOCABULARY``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from PIL import Image

from workers.toyworld.glyphs import SYMBOLS, glyph_names, render_glyph
from workers.toyworld.render import COLOURS
from workers.toyworld.shapes import SHAPES, render_shape
from workers.toyworld.textures import MOTIFS, PATTERNS, render_texture

BENCHMARK_COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "brown")
EXTRA_COLOURS = ("cyan", "gray", "lime", "navy")
TEXTURE_COLOURS = ("red", "yellow", "green", "blue", "purple")
# Each half holds groups of look-alikes (circle and hexagon, stripes and waves, O, Q and D),
# and the new half's groups are relatives of the base half's.
BASE_SHAPES, NEW_SHAPES = (
    ("circle", "hexagon", "square", "diamond"),
    ("star", "cross", "triangle", "arrow"),
)
# Half of each texture half are motifs named by shape words: "a photo of a red star." points
# at the shape, and only the domain's own words point at the pattern.
BASE_PATTERNS, NEW_PATTERNS = (
    ("stripes", "waves", "star", "cross"),
    ("checks", "grid", "heart", "diamond"),
)
BASE_GLYPHS = "OQDILTBPRMNWEFUVKX"  # letters
NEW_GLYPHS = "0691732854SACGHYJZ"  # digits and the letters that look like them
SPLIT_SIZES = {"train": 20, "val": 4, "test": 25}  # images per class
SOURCE_SIZES = {"train": 16, "val": 4, "test": 10}


@dataclass(frozen=True)
class ToyClass:
    domain: str  # "shapes", "textures" or "glyphs"
    name: str  # the class name as prompts spell it


@dataclass(frozen=True)
class ToyDataset:
    name: str
    domain: str
    classes: tuple[ToyClass, ...]  # ordered by label
    sizes: dict[str, int]
    hflip: bool = True  # whether a mirrored image is still of its class (not for glyphs)

    @property
    def layout(self) -> tuple[str, str, str]:
        """(dataset folder, image folder, split file) under the data root, as in CoOp."""
        return self.name, "images", f"split_{self.name}.json"

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]


def _glyph_name(char: str) -> str:
    return next(name for name, c in glyph_names().items() if c == char)


def _shapes(colours, shapes) -> list[ToyClass]:
    return [ToyClass("shapes", f"{c} {s}") for s in shapes for c in colours]


def _textures(colours, patterns) -> list[ToyClass]:
    return [ToyClass("textures", f"{c} {p}") for p in patterns for c in colours]


def _glyphs(chars) -> list[ToyClass]:
    return [ToyClass("glyphs", _glyph_name(ch)) for ch in chars]


def _source() -> list[ToyClass]:
    shared = [
        *_shapes(("red",), ("circle", "hexagon")),
        *_shapes(("blue",), ("star", "arrow")),
        *_textures(("green",), ("stripes", "grid")),
        *_glyphs("OS05"),
    ]
    own = [
        *_shapes(EXTRA_COLOURS, SHAPES),  # 48
        *_textures(("cyan", "gray", "navy"), PATTERNS),  # 30
        *[ToyClass("glyphs", name) for name in SYMBOLS],  # 8
    ]
    return own + shared


FAMILY: dict[str, ToyDataset] = {
    d.name: d
    for d in (
        ToyDataset(
            "toyworld",
            "shapes",
            tuple(_shapes(BENCHMARK_COLOURS, BASE_SHAPES + NEW_SHAPES)),
            SPLIT_SIZES,
        ),
        ToyDataset(
            "toy_textures",
            "textures",
            tuple(_textures(TEXTURE_COLOURS, BASE_PATTERNS + NEW_PATTERNS)),
            SPLIT_SIZES,
        ),
        ToyDataset(
            "toy_glyphs",
            "glyphs",
            tuple(_glyphs(BASE_GLYPHS + NEW_GLYPHS)),
            SPLIT_SIZES,
            hflip=False,  # a mirrored R is no letter
        ),
        ToyDataset("toy_source", "all", tuple(_source()), SOURCE_SIZES),
    )
}
BASE_TO_NEW = ("toyworld", "toy_textures", "toy_glyphs")
SOURCE = "toy_source"

# Everything the small CLIP sees in pretraining: every combination of every domain's words.
VOCABULARY: tuple[ToyClass, ...] = (
    *_shapes(tuple(COLOURS), SHAPES),  # 144
    *_textures(tuple(COLOURS), PATTERNS + MOTIFS),  # 192: "red star" is a shape and a pattern
    *[ToyClass("glyphs", name) for name in glyph_names()],  # 44
)

_RENDERERS: dict[str, Callable[[str, np.random.Generator], Image.Image]] = {
    "shapes": lambda name, rng: render_shape(*name.split(" "), rng),
    "textures": lambda name, rng: render_texture(*name.split(" "), rng),
    "glyphs": render_glyph,
}


def render_class(toy_class: ToyClass, rng: np.random.Generator) -> Image.Image:
    """One 64 x 64 image of ``toy_class``."""
    return _RENDERERS[toy_class.domain](toy_class.name, rng)
