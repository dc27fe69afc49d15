"""Datasets in the CoOp layout: a split JSON beside an image folder, base/new class halves.

``split.json`` = ``{"train": [[rel_path, label, classname], ...], "val": [...], "test": [...]}``
with paths relative to the dataset's image folder. FGVC-Aircraft, ImageNet and ``folder:PATH``
have no split JSON; ``read_split`` hands them to ``workers.datasets``.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass
from pathlib import Path

from workers.errors import DataError


@dataclass(frozen=True)
class Datum:
    path: Path
    label: int
    classname: str


@dataclass(frozen=True)
class DatasetLayout:
    """Where a dataset's pieces live under the data root."""

    dataset_dir: str
    image_dir: str
    split_file: str


# CoOp's folder conventions (its DATA.md); the split files are Zhou et al.'s.
LAYOUTS: dict[str, DatasetLayout] = {
    "toyworld": DatasetLayout("toyworld", "images", "split_toyworld.json"),
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
SPLITS = ("train", "val", "test")


def read_split(root: str | Path, dataset: str) -> dict[str, list[Datum]]:
    """Read ``dataset``'s splits under ``root``; the toy world is generated on first use."""
    # Imported here: workers.datasets builds on this module's Datum and SPLITS.
    from workers import datasets

    root = Path(root).expanduser().resolve()
    if dataset.startswith(datasets.FOLDER_PREFIX):
        return datasets.read_image_folder(root, dataset[len(datasets.FOLDER_PREFIX) :])
    from workers.toyworld.family import FAMILY as TOY_DATASETS  # numpy + PIL only

    layout = LAYOUTS.get(dataset)  # checked first, so a split JSON registered here wins
    if layout is None and dataset in TOY_DATASETS:
        layout = DatasetLayout(*TOY_DATASETS[dataset].layout)
    if layout is None and dataset in datasets.READERS:
        return datasets.READERS[dataset](root)
    if layout is None:
        known = ", ".join(sorted({*LAYOUTS, *TOY_DATASETS, *datasets.READERS}))
        raise DataError(
            f"unknown dataset '{dataset}'; known: {known}, or folder:PATH for your own "
            "PATH/{train,val,test}/<class>/ images"
        )
    if dataset in TOY_DATASETS:
        from workers.toyworld.dataset import ensure_toy

        ensure_toy(dataset, root)
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
            name: [Datum(image_dir / rel, int(label), str(cls)) for rel, label, cls in raw[name]]
            for name in SPLITS
        }
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DataError(
            f"split file {split_path} is not a CoOp split "
            f'({{"train"|"val"|"test": [[rel_path, label, classname], ...]}}): {exc}'
        ) from exc


def class_names(items: list[Datum]) -> list[str]:
    """Class names indexed by label."""
    names: dict[int, str] = {}
    for item in items:
        names.setdefault(item.label, item.classname)
    return [names[label] for label in sorted(names)]


def subsample_classes(items: list[Datum], subset: str) -> list[Datum]:
    """Keep the ``base`` (first ceil(n/2) sorted labels) or ``new`` half, relabelled from 0."""
    if subset not in ("all", "base", "new"):
        raise ValueError(f"subset must be 'all', 'base' or 'new', got {subset!r}")
    labels = sorted({item.label for item in items})
    if subset == "all":
        return list(items)
    half = math.ceil(len(labels) / 2)
    kept = labels[:half] if subset == "base" else labels[half:]
    relabel = {label: i for i, label in enumerate(kept)}
    return [Datum(i.path, relabel[i.label], i.classname) for i in items if i.label in relabel]


def few_shot(items: list[Datum], shots: int, seed: int, *, split: str = "train") -> list[Datum]:
    """``shots`` items per class drawn without replacement, deterministic for ``seed``."""
    by_label: dict[int, list[Datum]] = {}
    for item in items:
        by_label.setdefault(item.label, []).append(item)
    rng = random.Random(seed)
    chosen = []
    for label in sorted(by_label):
        pool = by_label[label]
        if shots > len(pool):
            raise DataError(
                f"data.shots={shots} but class '{pool[0].classname}' has only {len(pool)} "
                f"{split} images; lower data.shots to at most {min(map(len, by_label.values()))}"
            )
        chosen.extend(rng.sample(pool, shots))
    return chosen
