"""Datasets on disk: CoOp's layouts and their readers, one ``{split: [Datum, ...]}`` for all.

Split-JSON datasets: ``split.json`` = ``{"train": [[rel_path, label, classname], ...], "val":
[...], "test": [...]}`` with paths relative to the dataset's image folder (CoOp's DATA.md;
the split files are Zhou et al.'s). FGVC-Aircraft and ImageNet have no split JSON and follow
CoOp's readers (its ``datasets/*.py``); ``folder:PATH`` is ``PATH/{train,val,test}/<class>/``.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from workers.errors import DataError, did_you_mean

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
FOLDER_PREFIX = "folder:"
SPLITS = ("train", "val", "test")


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


def display_name(name: str) -> str:
    """A class name as prompts use it: CoOp writes folder-style ``_`` as a space."""
    return str(name).replace("_", " ")


def _need_dir(path: Path, what: str, fix: str) -> Path:
    if not path.is_dir():
        raise DataError(f"{what} not found: no folder {path}; {fix}")
    return path


def _need_file(path: Path, what: str, fix: str) -> Path:
    if not path.is_file():
        raise DataError(f"{what} missing: no file {path}; {fix}")
    return path


def _lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank stripped lines with their 1-based numbers, for errors that point at a line."""
    return [
        (n, s) for n, line in enumerate(path.read_text().splitlines(), 1) if (s := line.strip())
    ]


def _non_empty(items: list[Datum], where: Path, fix: str) -> list[Datum]:
    # An empty split would only surface later as a division by zero or a 0-shot class.
    if not items:
        raise DataError(f"no images listed in {where}; {fix}")
    return items


def _scan_classes(split_dir: Path) -> dict[str, list[Path]]:
    """One pass over ``split_dir``: class folder -> its sorted images (hidden entries skipped).

    Sorted so that a seed draws the same few shots on every file system.
    """
    classes: dict[str, list[Path]] = {}
    with os.scandir(split_dir) as entries:
        folders = sorted(e.name for e in entries if e.is_dir() and not e.name.startswith("."))
    for folder in folders:
        with os.scandir(split_dir / folder) as entries:
            names = sorted(
                e.name
                for e in entries
                if not e.name.startswith(".")
                and e.name.lower().endswith(IMAGE_SUFFIXES)
                and e.is_file()
            )
        if not names:
            raise DataError(
                f"no images ({', '.join(s[1:] for s in IMAGE_SUFFIXES)}) in {split_dir / folder}; "
                "add some or remove that class folder from every split"
            )
        classes[folder] = [split_dir / folder / name for name in names]
    if not classes:
        raise DataError(f"no class folders in {split_dir}; put its images in {split_dir}/<class>/")
    return classes


def _items(
    classes: dict[str, list[Path]], labels: dict[str, int], names: dict[str, str]
) -> list[Datum]:
    return [Datum(p, labels[c], display_name(names[c])) for c in classes for p in classes[c]]


def read_fgvc_aircraft(root: Path) -> dict[str, list[Datum]]:
    """``variants.txt`` gives the labels (line order); ``images_variant_<split>.txt`` the items."""
    dataset_dir = _need_dir(
        root / "fgvc_aircraft",
        "dataset 'fgvc_aircraft'",
        "copy fgvc-aircraft-2013b/data there as fgvc_aircraft/ (CoOp's DATA.md) or point "
        "data.root / --root at the folder that holds it",
    )
    fix = "copy it from fgvc-aircraft-2013b/data (CoOp's DATA.md)"
    image_dir = _need_dir(dataset_dir / "images", "FGVC-Aircraft images", fix)
    variants = _need_file(dataset_dir / "variants.txt", "FGVC-Aircraft class list", fix)
    labels = {name: i for i, (_, name) in enumerate(_lines(variants))}
    if not labels:
        raise DataError(f"no class names in {variants}; {fix}")
    out = {}
    for split in SPLITS:
        path = _need_file(
            dataset_dir / f"images_variant_{split}.txt", f"FGVC-Aircraft {split} list", fix
        )
        items = []
        for n, line in _lines(path):
            # "<imname> <variant>": the variant may contain spaces, so split only once.
            imname, _, variant = line.partition(" ")
            if variant not in labels:
                raise DataError(
                    f"{path}:{n}: variant '{variant}' is not in {variants}; "
                    "use the variants.txt that came with the split files"
                )
            items.append(Datum(image_dir / f"{imname}.jpg", labels[variant], display_name(variant)))
        out[split] = _non_empty(items, path, fix)
    return out


def _imagenet_classnames(path: Path) -> dict[str, str]:
    """``<wnid> <class name>`` lines, in file order."""
    names = {}
    for n, line in _lines(path):
        wnid, _, name = line.partition(" ")
        if not name.strip():
            raise DataError(f"{path}:{n}: no class name after '{wnid}'; lines are '<wnid> <name>'")
        names[wnid] = name.strip()
    return names


def read_imagenet(root: Path) -> dict[str, list[Datum]]:
    """``images/train`` gives "train" and a held-out "val"; ``images/val`` is "test"."""
    dataset_dir = _need_dir(
        root / "imagenet",
        "dataset 'imagenet'",
        "put ILSVRC2012 there as imagenet/images/{train,val}/<wnid>/ (CoOp's DATA.md) or point "
        "data.root / --root at the folder that holds it",
    )
    path = _need_file(
        dataset_dir / "classnames.txt",
        "ImageNet class names",
        "download CoOp's classnames.txt (linked from its DATA.md) into that folder",
    )
    names = _imagenet_classnames(path)
    if not names:
        raise DataError(f"no class names in {path}; use CoOp's classnames.txt")
    # CoOp labels a class by its folder's rank among the sorted wnid folders; requiring the
    # folders to match classnames.txt exactly makes that the rank among its sorted wnids.
    labels = {wnid: i for i, wnid in enumerate(sorted(names))}
    found = {}
    for split in ("train", "val"):  # each huge folder is walked exactly once
        split_dir = _need_dir(
            dataset_dir / "images" / split,
            f"ImageNet {split} images",
            f"extract the ILSVRC2012 {split} images there as <wnid>/*.JPEG (CoOp's DATA.md)",
        )
        classes = _scan_classes(split_dir)
        missing, extra = sorted(set(names) - set(classes)), sorted(set(classes) - set(names))
        if missing or extra:
            raise DataError(
                f"class folders in {split_dir} do not match {path}: missing {missing[:5]}, "
                f"not listed {extra[:5]}; every wnid in classnames.txt needs one folder per split"
            )
        found[split] = _items(classes, labels, names)
    # The official val set is the test split (CoOp). Validation must never read test images,
    # so it is held out of the training images: the last tenth of each class (sorted), at
    # most IMAGENET_VAL_PER_CLASS; few-shot training draws from the rest.
    train, val = hold_out(found["train"])
    return {"train": train, "val": val, "test": found["val"]}


IMAGENET_VAL_PER_CLASS = 50


def hold_out(items: list[Datum]) -> tuple[list[Datum], list[Datum]]:
    """Split each class's items (in their sorted order) into (rest, held-out last tenth)."""
    by_label: dict[int, list[Datum]] = {}
    for item in items:
        by_label.setdefault(item.label, []).append(item)
    rest, held = [], []
    for label in sorted(by_label):
        pool = by_label[label]
        n = min(IMAGENET_VAL_PER_CLASS, max(1, len(pool) // 10)) if len(pool) > 1 else 0
        rest.extend(pool[: len(pool) - n])
        held.extend(pool[len(pool) - n :])
    return rest, held


def read_image_folder(root: Path, spec: str) -> dict[str, list[Datum]]:
    """``PATH/{train,val,test}/<class>/*``; labels follow the sorted folder names."""
    layout = "PATH/train/<class>/*, PATH/val/<class>/* and PATH/test/<class>/*"
    if not spec:
        raise DataError(f"dataset 'folder:' has no PATH; use folder:PATH with {layout}")
    base = Path(spec).expanduser()
    base = base if base.is_absolute() else root / base
    what = f"dataset 'folder:{spec}'"
    _need_dir(base, what, f"it needs {layout}; a relative PATH is under data.root / --root")
    found = {
        split: _scan_classes(_need_dir(base / split, f"{split} split of {what}", f"add {layout}"))
        for split in SPLITS
    }
    classes = list(found["train"])
    for split in ("val", "test"):
        if list(found[split]) != classes:
            missing = sorted(set(classes) - set(found[split]))
            extra = sorted(set(found[split]) - set(classes))
            raise DataError(
                f"split '{split}' of {base} has other classes than train: missing {missing}, "
                f"extra {extra}; give every split the same class folders"
            )
    labels = {c: i for i, c in enumerate(classes)}
    names = {c: c for c in classes}  # display_name spells the folders' "_" as spaces
    return {split: _items(found[split], labels, names) for split in SPLITS}


# Named datasets read by code rather than from a split JSON; ``folder:PATH`` is matched by prefix.
READERS: dict[str, Callable[[Path], dict[str, list[Datum]]]] = {
    "fgvc_aircraft": read_fgvc_aircraft,
    "imagenet": read_imagenet,
}


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
