"""Outlier images for visual DOR: images of classes outside the base set, from a dataset under
the data root (its training split) or from a folder searched recursively.

Torch-free: ``orch validate`` checks the pool in the driver, the episode encodes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from workers.datasets import IMAGE_SUFFIXES, Datum, display_name, read_split
from workers.errors import DataError

KEY = "method.image_outliers"


def _folder_items(folder: Path) -> list[Datum]:
    paths = sorted(
        p for p in folder.rglob("*") if p.is_file() and p.name.lower().endswith(IMAGE_SUFFIXES)
    )
    # a folder per class is the usual layout: its name is the class an overlap check reads
    return [Datum(p, 0, display_name(p.parent.name)) for p in paths]


def image_outlier_items(
    source: str, *, root: str | Path, dataset: str, base_names: Sequence[str]
) -> list[Datum]:
    """The pool's images; refused when it is empty or holds a base class (or is the trained
    dataset itself, whose new classes are evaluated)."""
    folder = Path(source).expanduser()
    if source == dataset:
        raise DataError(
            f"{KEY}: '{source}' is the trained dataset; outlier images must come from classes "
            "outside it (its new classes are the evaluation): name another dataset or a folder"
        )
    if "/" in source or folder.is_dir():
        if not folder.is_dir():
            raise DataError(f"{KEY}: no folder {folder}; give a folder of images or a dataset name")
        items = _folder_items(folder)
    else:
        items = read_split(root, source)["train"]
    if not items:
        raise DataError(
            f"{KEY}: {source} holds no image ({', '.join(s[1:] for s in IMAGE_SUFFIXES)}); "
            "point it at a folder or dataset with images"
        )
    base = {n.lower() for n in base_names}
    overlap = sorted({d.classname for d in items if d.classname.lower() in base})
    if overlap:
        shown = ", ".join(overlap[:5]) + (" ..." if len(overlap) > 5 else "")
        raise DataError(
            f"{KEY}: {source} holds base classes of {dataset} ({shown}); visual DOR needs "
            "images of classes outside the base set: use another source"
        )
    return items
