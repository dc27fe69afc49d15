"""Write the toy world's datasets to disk in the CoOp split-JSON layout.

``<root>/<name>/images/<class_name>/<split>_<i>.png`` and ``<root>/<name>/split_<name>.json``
= ``{"train": [[rel_path, label, classname], ...], ...}``, so the toy datasets go through the
same loader as the real ones. Each is generated once per (seed, sizes, generator code) and
cached; a folder is only ever published complete (atomic rename).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
import zlib
from pathlib import Path

import numpy as np

from workers.toyworld import family, glyphs, render, shapes, textures
from workers.toyworld.family import FAMILY, ToyDataset, render_class

GENERATOR_VERSION = 3
_STAMP = ".complete.json"
_CODE = (render, shapes, textures, glyphs, family)

# kept for callers of the first toy world
DATASET_DIR, IMAGE_DIR, SPLIT_FILE = FAMILY["toyworld"].layout


def class_names(name: str = "toyworld") -> list[str]:
    """All class names of toy dataset ``name``, ordered by label: the base half first."""
    return FAMILY[name].class_names


def _stamp(dataset: ToyDataset, seed: int) -> dict:
    """What determines the images: a change to any part (the renderers' code included)
    regenerates the dataset instead of serving stale pixels."""
    code = hashlib.sha256()
    for module in (*_CODE, sys.modules[__name__]):
        code.update(Path(module.__file__).read_bytes())
    return {
        "version": GENERATOR_VERSION,
        "dataset": dataset.name,
        "seed": seed,
        "sizes": dataset.sizes,
        "code": code.hexdigest()[:16],
    }


def _write(dataset: ToyDataset, folder: Path, seed: int) -> None:
    _, image_dir, split_file = dataset.layout
    salt = zlib.crc32(dataset.name.encode())  # datasets sharing a class get different images
    split: dict[str, list] = {}
    for split_id, (split_name, per_class) in enumerate(dataset.sizes.items()):
        entries = []
        for label, toy_class in enumerate(dataset.classes):
            sub = toy_class.name.replace(" ", "_")
            (folder / image_dir / sub).mkdir(parents=True, exist_ok=True)
            rng = np.random.default_rng([seed, salt, split_id, label])
            for k in range(per_class):
                rel = f"{sub}/{split_name}_{k:03d}.png"
                render_class(toy_class, rng).save(folder / image_dir / rel, compress_level=1)
                entries.append([rel, label, toy_class.name])
        split[split_name] = entries
    (folder / split_file).write_text(json.dumps(split))
    (folder / _STAMP).write_text(json.dumps(_stamp(dataset, seed)))


def toy_is_current(name: str, root: str | Path, *, seed: int = 0) -> bool:
    """Whether ``<root>`` holds toy dataset ``name`` as this generator would write it."""
    stamp = Path(root) / FAMILY[name].layout[0] / _STAMP
    expected = json.loads(json.dumps(_stamp(FAMILY[name], seed)))
    return stamp.is_file() and json.loads(stamp.read_text()) == expected


def ensure_toy(name: str, root: str | Path, *, seed: int = 0) -> Path:
    """Return ``<root>/<name>``, generating toy dataset ``name`` first if missing or stale."""
    dataset = FAMILY[name]
    root = Path(root)
    target = root / dataset.layout[0]
    if toy_is_current(name, root, seed=seed):
        return target
    root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=root))
    try:
        _write(dataset, scratch, seed)
        if target.exists():  # stale: moved aside first, so two processes never delete the
            stale = Path(tempfile.mkdtemp(prefix=f".{name}-stale-", dir=root))  # same files
            try:
                os.rename(target, stale / "old")
            except FileNotFoundError:  # another process moved it
                pass
            shutil.rmtree(stale, ignore_errors=True)
        try:
            os.rename(scratch, target)
        except OSError:  # another process published it first
            if not (target / _STAMP).is_file():
                raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return target


def ensure_toyworld(root: str | Path, *, seed: int = 0) -> Path:
    """Return ``<root>/toyworld`` (the shapes benchmark), generating it if needed."""
    return ensure_toy("toyworld", root, seed=seed)


def ensure_family(root: str | Path, *, seed: int = 0) -> dict[str, Path]:
    """Generate (or find cached) every toy dataset under ``root``."""
    return {name: ensure_toy(name, root, seed=seed) for name in FAMILY}
