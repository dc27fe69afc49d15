"""Named datasets read by code rather than from a split JSON: ``READERS`` and their folders.

FGVC-Aircraft and ImageNet follow CoOp's readers (its ``datasets/*.py``); CIFAR-100 and
CUB-200-2011 are the two benchmarks of few-shot class-incremental learning, in the layouts
they usually ship in. A dataset without a validation split holds one out of its training
images (``hold_out``), never out of its test images.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from workers.dataset_files import (
    SPLITS,
    Datum,
    class_items,
    display_name,
    hold_out,
    need_dir,
    need_file,
    non_empty,
    numbered_lines,
    same_classes,
    scan_classes,
)
from workers.errors import DataError

ROOT_FIX = "or point data.root / --root at the folder that holds it"


def read_fgvc_aircraft(root: Path) -> dict[str, list[Datum]]:
    """``variants.txt`` gives the labels (line order); ``images_variant_<split>.txt`` the items."""
    dataset_dir = need_dir(
        root / "fgvc_aircraft",
        "dataset 'fgvc_aircraft'",
        f"copy fgvc-aircraft-2013b/data there as fgvc_aircraft/ (CoOp's DATA.md) {ROOT_FIX}",
    )
    fix = "copy it from fgvc-aircraft-2013b/data (CoOp's DATA.md)"
    image_dir = need_dir(dataset_dir / "images", "FGVC-Aircraft images", fix)
    variants = need_file(dataset_dir / "variants.txt", "FGVC-Aircraft class list", fix)
    labels = {name: i for i, (_, name) in enumerate(numbered_lines(variants))}
    if not labels:
        raise DataError(f"no class names in {variants}; {fix}")
    out = {}
    for split in SPLITS:
        path = need_file(
            dataset_dir / f"images_variant_{split}.txt", f"FGVC-Aircraft {split} list", fix
        )
        items = []
        for n, line in numbered_lines(path):
            # "<imname> <variant>": the variant may contain spaces, so split only once.
            imname, _, variant = line.partition(" ")
            if variant not in labels:
                raise DataError(
                    f"{path}:{n}: variant '{variant}' is not in {variants}; "
                    "use the variants.txt that came with the split files"
                )
            items.append(Datum(image_dir / f"{imname}.jpg", labels[variant], display_name(variant)))
        out[split] = non_empty(items, path, fix)
    return out


def _imagenet_classnames(path: Path) -> dict[str, str]:
    """``<wnid> <class name>`` lines, in file order."""
    names = {}
    for n, line in numbered_lines(path):
        wnid, _, name = line.partition(" ")
        if not name.strip():
            raise DataError(f"{path}:{n}: no class name after '{wnid}'; lines are '<wnid> <name>'")
        names[wnid] = name.strip()
    return names


def read_imagenet(root: Path) -> dict[str, list[Datum]]:
    """``images/train`` gives "train" and a held-out "val"; ``images/val`` is "test"."""
    dataset_dir = need_dir(
        root / "imagenet",
        "dataset 'imagenet'",
        "put ILSVRC2012 there as imagenet/images/{train,val}/<wnid>/ (CoOp's DATA.md) " + ROOT_FIX,
    )
    path = need_file(
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
        split_dir = need_dir(
            dataset_dir / "images" / split,
            f"ImageNet {split} images",
            f"extract the ILSVRC2012 {split} images there as <wnid>/*.JPEG (CoOp's DATA.md)",
        )
        classes = scan_classes(split_dir)
        missing, extra = sorted(set(names) - set(classes)), sorted(set(classes) - set(names))
        if missing or extra:
            raise DataError(
                f"class folders in {split_dir} do not match {path}: missing {missing[:5]}, "
                f"not listed {extra[:5]}; every wnid in classnames.txt needs one folder per split"
            )
        found[split] = class_items(classes, labels, names)
    # The official val set is the test split (CoOp). Validation must never read test images,
    # so it is held out of the training images; few-shot training draws from the rest.
    train, val = hold_out(found["train"])
    return {"train": train, "val": val, "test": found["val"]}


CIFAR100_LAYOUT = "cifar100/train/<class>/*.png and cifar100/test/<class>/*.png"


def read_cifar100(root: Path) -> dict[str, list[Datum]]:
    """``cifar100/{train,test}/<class>/``; "val" is held out of train (50 of each 500)."""
    dataset_dir = need_dir(
        root / "cifar100",
        "dataset 'cifar100'",
        f"export CIFAR-100 there as {CIFAR100_LAYOUT} (one folder per fine label), {ROOT_FIX}",
    )
    fix = f"it needs {CIFAR100_LAYOUT}"
    found = {
        split: scan_classes(need_dir(dataset_dir / split, f"CIFAR-100 {split} images", fix))
        for split in ("train", "test")
    }
    # Sorted folder names are CIFAR-100's own label order: its fine label names, alphabetical.
    classes = same_classes(found, dataset_dir)
    labels = {c: i for i, c in enumerate(classes)}
    names = {c: c for c in classes}  # display_name spells "maple_tree" as "maple tree"
    train, val = hold_out(class_items(found["train"], labels, names))
    return {"train": train, "val": val, "test": class_items(found["test"], labels, names)}


CUB_FILES = "images/<NNN.Class_Name>/*.jpg, images.txt, image_class_labels.txt, "
CUB_FILES += "train_test_split.txt and classes.txt"
CUB_FIX = f"extract CUB_200_2011.tgz so that CUB_200_2011/ holds {CUB_FILES}"


def _id_table(path: Path, what: str) -> dict[int, tuple[int, str]]:
    """``<id> <value>`` lines of a CUB index file: id -> (line number, value)."""
    table: dict[int, tuple[int, str]] = {}
    for n, line in numbered_lines(path):
        key, _, value = line.partition(" ")
        if not key.isdigit() or not value.strip():
            raise DataError(f"{path}:{n}: '{line}' is not '<id> <{what}>'; {CUB_FIX}")
        if int(key) in table:
            raise DataError(f"{path}:{n}: id {key} is listed twice; {CUB_FIX}")
        table[int(key)] = (n, value.strip())
    if not table:
        raise DataError(f"no lines in {path}; {CUB_FIX}")
    return table


def _cub_classes(path: Path) -> dict[int, str]:
    """classes.txt: class id (1..n) -> its folder name ``NNN.Class_Name``."""
    folders = {cid: folder for cid, (_, folder) in _id_table(path, "NNN.Class_Name").items()}
    if sorted(folders) != list(range(1, len(folders) + 1)):
        gaps = sorted(set(range(1, max(folders) + 1)) - set(folders))[:5]
        raise DataError(
            f"class ids in {path} are not 1..{len(folders)} (missing {gaps}); {CUB_FIX}"
        )
    return folders


def read_cub200(root: Path) -> dict[str, list[Datum]]:
    """CUB-200-2011's own index files: train/test from train_test_split.txt, "val" held out
    of train (the last tenth of each class, 2 or 3 of ~30 images); label = class id - 1."""
    dataset_dir = need_dir(root / "CUB_200_2011", "dataset 'cub200'", f"{CUB_FIX}, {ROOT_FIX}")
    image_dir = need_dir(dataset_dir / "images", "CUB-200-2011 images", CUB_FIX)
    index = {
        name: need_file(dataset_dir / f"{name}.txt", f"CUB-200-2011 {name}.txt", CUB_FIX)
        for name in ("classes", "images", "image_class_labels", "train_test_split")
    }
    folders = _cub_classes(index["classes"])
    paths = _id_table(index["images"], "relative path")
    class_of = _id_table(index["image_class_labels"], "class id")
    is_train = _id_table(index["train_test_split"], "1 train | 0 test")
    for name, table in (("image_class_labels", class_of), ("train_test_split", is_train)):
        if set(table) != set(paths):
            missing = sorted(set(paths) - set(table))[:5]
            extra = sorted(set(table) - set(paths))[:5]
            raise DataError(
                f"image ids in {index[name]} do not match {index['images']}: missing {missing}, "
                f"not in images.txt {extra}; use the index files that came together"
            )
    found: dict[str, list[Datum]] = {"train": [], "test": []}
    for image_id, (n, rel) in paths.items():
        where = f"{index['images']}:{n}"
        path = image_dir / rel
        if not path.is_file():
            raise DataError(f"{where}: image {path} does not exist; {CUB_FIX}")
        ln, cid = class_of[image_id]
        if not cid.isdigit() or int(cid) not in folders:
            raise DataError(
                f"{index['image_class_labels']}:{ln}: class '{cid}' is not an id of "
                f"{index['classes']}; use the index files that came together"
            )
        if Path(rel).parent.name != folders[int(cid)]:  # mixed-up index files would mislabel
            raise DataError(
                f"{where}: {rel} is not in the folder of its class {cid} "
                f"({folders[int(cid)]}) per {index['image_class_labels']}; "
                "use the index files that came together"
            )
        ln, flag = is_train[image_id]
        if flag not in ("0", "1"):
            raise DataError(
                f"{index['train_test_split']}:{ln}: flag '{flag}' is neither 1 (train) nor 0 "
                "(test); lines are '<image_id> <1|0>'"
            )
        # "NNN.Class_Name" -> "Class Name": the number is an index, not part of the name
        name = display_name(folders[int(cid)].partition(".")[2] or folders[int(cid)])
        found["train" if flag == "1" else "test"].append(Datum(path, int(cid) - 1, name))
    for split, items in found.items():
        empty = sorted(set(folders) - {d.label + 1 for d in items})
        if empty:
            raise DataError(
                f"class folder {image_dir / folders[empty[0]]} has no {split} images by "
                f"{index['images']} and {index['train_test_split'].name} ({len(empty)} "
                f"class(es) lack {split} images); {CUB_FIX}"
            )
    # Sorted by path so the held-out images do not depend on the order of images.txt.
    train, val = hold_out(sorted(found["train"], key=lambda d: (d.label, str(d.path))))
    test = sorted(found["test"], key=lambda d: (d.label, str(d.path)))
    return {"train": train, "val": val, "test": test}


# Name -> reader; ``folder:PATH`` is matched by prefix in ``read_split``.
READERS: dict[str, Callable[[Path], dict[str, list[Datum]]]] = {
    "cifar100": read_cifar100,
    "cub200": read_cub200,
    "fgvc_aircraft": read_fgvc_aircraft,
    "imagenet": read_imagenet,
}
# The folder under the data root that each reader reads, for ``orch datasets``.
READER_DIRS: dict[str, str] = {
    "cifar100": "cifar100",
    "cub200": "CUB_200_2011",
    "fgvc_aircraft": "fgvc_aircraft",
    "imagenet": "imagenet",
}
