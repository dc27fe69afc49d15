"""Web-like captions for the toy CLIP's pretraining: noisy, partial, sometimes wrong.

A caption mostly describes the kind in precise other words ("six-sided shape", "capital q");
the benchmark's own word for it is rare and, when used, as often said of a look-alike (hexagon
for circle, waves for stripes, ``0`` for ``O``); sometimes (as alt-text does) it names only the
colour or only the kind, or gives a colour's synonym or neighbour. The model then hedges
between look-alikes on their names while its image tower still tells them apart. Each domain
is also written about in its own words, as satellite images or textures are on the real web:
shapes are "a photo of a ...", textures "cloth printed with ...", glyphs "a typed ..."; the
benchmarks' generic prompt "a photo of a {}." is an imperfect query for two of the three
domains.
"""

from __future__ import annotations

import numpy as np

from workers.toyworld.family import ToyClass

FULL = (
    "a photo of a {}.",
    "a {}.",
    "a picture of a {}.",
    "a drawing of a {}.",
    "{}",
    "there is a {} in the image.",
    "a close-up photo of a {}.",
    "a blurry photo of a {}.",
    "my {}.",
)
DOMAIN_FULL: dict[str, tuple[str, ...]] = {
    "shapes": FULL,
    "textures": (
        "{} fabric.",
        "a fabric with {}.",
        "cloth printed with {}.",
        "a close-up of {} on cloth.",
        "{} pattern.",
        "{}",
        "a swatch of {}.",
        "wallpaper with {}.",
    ),
    "glyphs": (
        "the {}.",
        "a printed {}.",
        "the {} in a sign.",
        "a {} painted on a wall.",
        "{}",
        "a sticker of the {}.",
        "the {}, printed.",
        "a typed {}.",
    ),
}
P_GENERIC = 0.06  # how often a texture or glyph is captioned with a generic photo template
COLOUR_ONLY = ("something {}.", "a {} thing.", "a photo of something {}.", "{}")
GLYPH_ONLY = ("a character.", "some writing.", "a sign.", "a printed glyph.")

# Look-alike kinds: what a careless captioner writes instead (and what the benchmarks' halves
# are made of: each half holds whole groups).
LOOK_ALIKES: tuple[tuple[str, ...], ...] = (
    ("circle", "hexagon", "pentagon"), ("square", "diamond"), ("star", "cross"),
    ("triangle", "arrow"), ("ring", "crescent"), ("heart",),
    ("stripes", "waves"), ("checks", "grid"), ("dots", "rings"), ("zigzags", "crosshatch"),
    ("spots", "speckles"),
    ("O", "Q", "D"), ("I", "L", "T"), ("B", "P", "R"), ("M", "N", "W"), ("E", "F"), ("U", "V"),
    ("K", "X"), ("0", "6", "9"), ("1", "7"), ("3", "8"), ("2", "Z"), ("5", "S"), ("4", "A"),
    ("C", "G"), ("Y", "J"), ("H",),
)  # fmt: skip
_GROUP = {word: group for group in LOOK_ALIKES for word in group}
SYNONYMS: dict[str, tuple[str, ...]] = {
    "red": ("crimson", "scarlet"),
    "orange": ("amber", "tangerine"),
    "yellow": ("golden", "lemon"),
    "green": ("emerald", "grass green"),
    "blue": ("azure", "royal blue"),
    "purple": ("violet", "mauve"),
    "pink": ("rose", "salmon"),
    "brown": ("chocolate", "tan"),
    "cyan": ("aqua", "turquoise"),
    "gray": ("grey", "silver"),
    "lime": ("light green", "chartreuse"),
    "navy": ("dark blue", "indigo"),
    "circle": ("disc", "round shape"),
    "square": ("box", "block"),
    "triangle": ("wedge", "three-sided shape"),
    "star": ("starburst", "five-pointed star"),
    "hexagon": ("six-sided shape", "hex"),
    "diamond": ("rhombus", "lozenge"),
    "heart": ("love heart", "heart shape"),
    "cross": ("plus shape", "x shape"),
    "pentagon": ("five-sided shape", "pentagonal shape"),
    "ring": ("donut", "hoop"),
    "crescent": ("moon shape", "sickle"),
    "arrow": ("pointer", "arrowhead"),
    "stripes": ("striped fabric", "lines"),
    "checks": ("checkerboard", "checkered cloth"),
    "dots": ("polka dots", "dotted fabric"),
    "waves": ("wavy lines", "ripples"),
    "zigzags": ("chevrons", "zigzag lines"),
    "grid": ("lattice", "mesh"),
    "rings": ("circles pattern", "loops"),
    "crosshatch": ("hatching", "diagonal grid"),
    "spots": ("blotches", "patches"),
    "speckles": ("flecks", "sprinkles"),
}

# Confusable neighbours: what a careless captioner writes instead.
COLOUR_NEIGHBOURS: dict[str, tuple[str, ...]] = {
    "red": ("orange", "pink", "brown"),
    "orange": ("red", "yellow", "brown"),
    "yellow": ("orange", "lime"),
    "green": ("lime", "cyan"),
    "blue": ("navy", "purple", "cyan"),
    "purple": ("pink", "blue", "navy"),
    "pink": ("red", "purple"),
    "brown": ("orange", "red"),
    "cyan": ("blue", "green"),
    "gray": ("navy", "brown"),
    "lime": ("green", "yellow"),
    "navy": ("blue", "purple"),
}

P_PARTIAL = 0.15  # only the colour, or only the kind
P_SYNONYM, P_WRONG = 0.06, 0.04  # a colour's synonym; a neighbouring colour
# The benchmarks' kind words are the rarer, looser words, as FGVCAircraft's and DTD's class
# names are on the web: most captions describe the kind in other, precise words ("six-sided
# shape", "capital q"), and a caption that does use the word often says it of a look-alike.
# The pixels of look-alikes then stay apart (the precise words tell them apart) while the
# class-name prompt points between them: a linear probe has room that zero-shot leaves.
P_OFFICIAL = 0.2  # how often the kind is named by its own word
P_LOOSE = 0.5  # how often that word is said of a look-alike


def look_alike(word: str, rng: np.random.Generator) -> str:
    """Another member of ``word``'s look-alike group (``word`` itself if it has none)."""
    others = [w for w in _GROUP.get(word, (word,)) if w != word]
    return str(rng.choice(others)) if others else word


def _template(domain: str, rng: np.random.Generator) -> str:
    if domain != "shapes" and rng.uniform() < P_GENERIC:
        return str(rng.choice(FULL))
    return str(rng.choice(DOMAIN_FULL[domain]))


def kind_word(kind: str, rng: np.random.Generator) -> str:
    """How a caption names ``kind``: mostly a precise description, else its own word, loosely."""
    if kind in SYNONYMS and rng.uniform() >= P_OFFICIAL:
        return str(rng.choice(SYNONYMS[kind]))
    return look_alike(kind, rng) if rng.uniform() < P_LOOSE else kind


def _glyph_word(name: str, rng: np.random.Generator, names_by_char: dict[str, str]) -> str:
    if not name.startswith(("letter ", "digit ")):
        return name  # a symbol's name is the only one it has
    if rng.uniform() >= P_OFFICIAL:
        word = name.split(" ", 1)[1]
        return f"{'capital' if name.startswith('letter') else 'number'} {word}"
    if rng.uniform() < P_LOOSE:
        chars = {n: c for c, n in names_by_char.items()}
        return names_by_char[look_alike(chars[name], rng)]
    return name


def caption(toy_class: ToyClass, rng: np.random.Generator, names_by_char: dict[str, str]) -> str:
    """One noisy web caption for an image of ``toy_class``."""
    template = _template(toy_class.domain, rng)
    partial = rng.uniform() < P_PARTIAL
    if toy_class.domain == "glyphs":
        if partial:
            return str(rng.choice(GLYPH_ONLY))
        return template.format(_glyph_word(toy_class.name, rng, names_by_char))
    colour, kind = toy_class.name.split(" ")
    if partial and rng.uniform() < 0.5:
        return str(rng.choice(COLOUR_ONLY)).format(colour)
    kind = kind_word(kind, rng)
    if partial:
        return template.format(kind)
    u = rng.uniform()
    if u < P_SYNONYM:
        colour = str(rng.choice(SYNONYMS[colour]))
    elif u < P_SYNONYM + P_WRONG:
        colour = str(rng.choice(COLOUR_NEIGHBOURS[colour]))
    return template.format(f"{colour} {kind}")
