"""Write the toy-world benchmark to disk in the CoOp split-JSON layout.

``<root>/toyworld/images/<class_name>/<split>_<i>.png`` and
``<root>/toyworld/split_toyworld.json`` = ``{"train": [[rel_path, label, classname], ...], ...}``,
so the toy world goes through the same loader as the real datasets. Generated once per
(seed, version) and cached; a folder is only ever published complete (atomic rename).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np

from workers.toyworld import render as render_module
from workers.toyworld.render import BENCHMARK_COLOURS, BENCHMARK_SHAPES, render, sample_scene

DATASET_DIR = "toyworld"
IMAGE_DIR = "images"
SPLIT_FILE = "split_toyworld.json"
SPLIT_SIZES = {"train": 24, "val": 8, "test": 25}  # images per class
GENERATOR_VERSION = 1
_STAMP = ".complete.json"


def class_names() -> list[str]:
    """All 64 class names ordered by label: the base half first.

    A colour/shape checkerboard decides the halves, so every colour and every shape occurs
    among both the base classes and the new classes.
    """
    base, new = [], []
    for i, colour in enumerate(BENCHMARK_COLOURS):
        for j, shape in enumerate(BENCHMARK_SHAPES):
            (base if (i + j) % 2 == 0 else new).append(f"{colour} {shape}")
    return base + new


def _stamp(seed: int) -> dict:
    """What determines the images: a change to any part (the renderer's code included)
    regenerates the dataset instead of serving stale pixels."""
    code = hashlib.sha256()
    for module in (render_module, sys.modules[__name__]):
        code.update(Path(module.__file__).read_bytes())
    return {
        "version": GENERATOR_VERSION,
        "seed": seed,
        "sizes": SPLIT_SIZES,
        "code": code.hexdigest()[:16],
    }


def _write(dataset_dir: Path, seed: int) -> None:
    names = class_names()
    split: dict[str, list] = {}
    for split_id, (split_name, per_class) in enumerate(SPLIT_SIZES.items()):
        entries = []
        for label, name in enumerate(names):
            colour, shape = name.split(" ")
            folder = dataset_dir / IMAGE_DIR / name.replace(" ", "_")
            folder.mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng([seed, split_id, label])
            for k in range(per_class):
                rel = f"{name.replace(' ', '_')}/{split_name}_{k:03d}.png"
                render(sample_scene(rng, colour, shape), rng, style="benchmark").save(
                    dataset_dir / IMAGE_DIR / rel
                )
                entries.append([rel, label, name])
        split[split_name] = entries
    (dataset_dir / SPLIT_FILE).write_text(json.dumps(split))
    (dataset_dir / _STAMP).write_text(json.dumps(_stamp(seed)))


def ensure_toyworld(root: str | Path, *, seed: int = 0) -> Path:
    """Return ``<root>/toyworld``, generating it first if it is missing or stale."""
    root = Path(root)
    target = root / DATASET_DIR
    stamp = target / _STAMP
    if stamp.is_file() and json.loads(stamp.read_text()) == json.loads(json.dumps(_stamp(seed))):
        return target
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=".toyworld-", dir=root))
    try:
        _write(scratch, seed)
        if target.exists():
            shutil.rmtree(target)
        try:
            os.rename(scratch, target)
        except OSError:  # another process published it first
            if not (target / _STAMP).is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target
