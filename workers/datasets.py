"""Datasets on disk: CoOp's layouts and their readers, one ``{split: [Datum, ...]}`` for all.

Split-JSON datasets: ``split.json`` = ``{"train": [[rel_path, label, classname], ...], "val":
[...], "test": [...]}`` with paths relative to the dataset's image folder (CoOp's DATA.md;
the split files are Zhou et al.'s). Datasets without a split JSON (FGVC-Aircraft, ImageNet,
CIFAR-100, CUB-200-2011) have a reader in ``workers.readers``; ``folder:PATH`` is
``PATH/{train,val,test}/<class>/``. This module is the one door: it re-exports the readers and
the item type so callers import from here only.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from workers.dataset_files import (
    IMAGE_SUFFIXES,
    SPLITS,
    VAL_PER_CLASS_MAX,
    Datum,
    class_items,
    display_name,
    hold_out,
    need_dir,
    same_classes,
    scan_classes,
)
from workers.errors import DataError, did_you_mean
from workers.readers import (
    READER_DIRS,
    READERS,
    read_cifar100,
    read_cub200,
    read_fgvc_aircraft,
    read_imagenet,
)

__all__ = [
    "FOLDER_PREFIX",
    "IMAGENET_VAL_PER_CLASS",
    "IMAGE_SUFFIXES",
    "LAYOUTS",
    "READERS",
    "READER_DIRS",
    "SPLITS",
    "VAL_PER_CLASS_MAX",
    "DatasetLayout",
    "Datum",
    "display_name",
    "hold_out",
    "read_cifar100",
    "read_cub200",
    "read_fgvc_aircraft",
    "read_image_folder",
    "read_imagenet",
    "read_split",
]

FOLDER_PREFIX = "folder:"
IMAGENET_VAL_PER_CLASS = VAL_PER_CLASS_MAX  # its first name, from when only ImageNet held out


@dataclass(frozen=True)
class DatasetLayout:
    """Where a dataset's pieces live under the data root."""

    dataset_dir: str
    image_dir: str
    split_file: str


# CoOp's folder conventions (its DATA.md); the split files are Zhou et al.'s.
LAYOUTS: dict[str, DatasetLayout] = {
    "caltech101": DatasetLayout(
        "caltech-101", "101_ObjectCategories", "split_zhou_Caltech101.json"
    ),
    "oxford_pets": DatasetLayout("oxford_pets", "images", "split_zhou_OxfordPets.json"),
    "stanford_cars": DatasetLayout("stanford_cars", "", "split_zhou_StanfordCars.json"),
    "oxford_flowers": DatasetLayout("oxford_flowers", "jpg", "split_zhou_OxfordFlowers.json"),
    "food101": DatasetLayout("food-101", "images", "split_zhou_Food101.json"),
    "sun397": DatasetLayout("sun397", "SUN397", "split_zhou_SUN397.json"),
    "dtd": DatasetLayout("dtd", "images", "split_zhou_DescribableTextures.json"),
    "eurosat": DatasetLayout("eurosat", "2750", "split_zhou_EuroSAT.json"),
    "ucf101": DatasetLayout("ucf101", "UCF-101-midframes", "split_zhou_UCF101.json"),
}


def read_image_folder(root: Path, spec: str) -> dict[str, list[Datum]]:
    """``PATH/{train,val,test}/<class>/*``; labels follow the sorted folder names."""
    layout = "PATH/train/<class>/*, PATH/val/<class>/* and PATH/test/<class>/*"
    if not spec:
        raise DataError(f"dataset 'folder:' has no PATH; use folder:PATH with {layout}")
    base = Path(spec).expanduser()
    base = base if base.is_absolute() else root / base
    what = f"dataset 'folder:{spec}'"
    need_dir(base, what, f"it needs {layout}; a relative PATH is under data.root / --root")
    found = {
        split: scan_classes(need_dir(base / split, f"{split} split of {what}", f"add {layout}"))
        for split in SPLITS
    }
    classes = same_classes(found, base)
    labels = {c: i for i, c in enumerate(classes)}
    names = {c: c for c in classes}  # display_name spells the folders' "_" as spaces
    return {split: class_items(found[split], labels, names) for split in SPLITS}


def mirror_invariant(dataset: str) -> bool:
    """Whether a horizontally flipped image still shows its class: a toy dataset says (glyphs
    do not: a mirrored ``R`` is no letter); real datasets keep CoOp's flip augmentation."""
    from workers.toyworld.family import FAMILY as TOY_DATASETS  # numpy and PIL only

    toy = TOY_DATASETS.get(dataset)
    return toy.hflip if toy is not None else True


def _find_toy(dataset: str, root: Path) -> None:
    """A toy dataset is generated on first use in the project's own data folder only
    (``$ORCH_DATA``, else ``.orch/data``): a folder the user named for real data is never
    written into unless asked with ``orch setup --root``."""
    from workers.paths import default_data_root
    from workers.toyworld.dataset import ensure_toy, toy_is_current

    if root == default_data_root():
        ensure_toy(dataset, root)
    elif root.is_dir() and not toy_is_current(dataset, root):
        raise DataError(
            f"toy dataset '{dataset}' is missing or stale in {root}, which orch does not write "
            f"into uninvited: generate it there with `orch setup --root {root}`, or drop "
            "data.root / --root to use the built-in toy world"
        )


def read_split(root: str | Path, dataset: str) -> dict[str, list[Datum]]:
    """Read ``dataset``'s splits under ``root``; a toy dataset is generated on first use."""
    from workers.toyworld.family import FAMILY as TOY_DATASETS  # numpy and PIL only

    root = Path(root).expanduser().resolve()
    if dataset.startswith(FOLDER_PREFIX):
        return read_image_folder(root, dataset[len(FOLDER_PREFIX) :])
    layout = LAYOUTS.get(dataset)  # checked first, so a split JSON registered here wins
    if layout is None and dataset in TOY_DATASETS:
        layout = DatasetLayout(*TOY_DATASETS[dataset].layout)
    if layout is None and dataset in READERS:
        return READERS[dataset](root)
    if layout is None:
        known = sorted({*LAYOUTS, *TOY_DATASETS, *READERS})
        raise DataError(
            f"unknown dataset '{dataset}'{did_you_mean(dataset, known)}; known: "
            f"{', '.join(known)}, or folder:PATH for your own "
            "PATH/{train,val,test}/<class>/ images"
        )
    if dataset in TOY_DATASETS:
        _find_toy(dataset, root)
    if not root.is_dir():
        raise DataError(
            f"dataset '{dataset}': data root {root} does not exist; put the datasets there, "
            "or drop data.root / --root to use the built-in toy world"
        )
    dataset_dir = root / layout.dataset_dir
    if not dataset_dir.is_dir():
        raise DataError(
            f"dataset '{dataset}' not found: no folder {dataset_dir}; put the CoOp-layout dataset "
            "there or point data.root / --root at the folder that holds it"
        )
    split_path = dataset_dir / layout.split_file
    if not split_path.is_file():
        raise DataError(f"split file missing for dataset '{dataset}': {split_path}")
    try:
        raw = json.loads(split_path.read_text())
        image_dir = dataset_dir / layout.image_dir
        return {
            name: [
                Datum(image_dir / rel, int(label), display_name(cls))
                for rel, label, cls in raw[name]
            ]
            for name in SPLITS
        }
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DataError(
            f"split file {split_path} is not a CoOp split "
            f'({{"train"|"val"|"test": [[rel_path, label, classname], ...]}}): {exc}'
        ) from exc
