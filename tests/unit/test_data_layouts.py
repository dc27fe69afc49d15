"""Every CoOp dataset layout and ``folder:PATH``, read back from miniature trees of 8x8 images."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PIL import Image

from workers import datasets
from workers.datasets import LAYOUTS, Datum, read_split
from workers.errors import DataError
from workers.splits import class_names, dataset_labels, subsample_classes, subset_names

JSON_DATASETS = sorted(name for name in LAYOUTS if name != "toyworld")
JSON_CLASSES = ["barn owl", "Faces", "sun flower"]  # as the split JSON spells them
SIZES = {"train": 2, "val": 1, "test": 2}  # images per class


def _image(path: Path, colour: tuple[int, int, int] = (200, 40, 40)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 8), colour).save(path)  # format from the suffix: PNG, JPEG, WEBP, ...
    return path


def _error(root: Path, dataset: str, *needles: str) -> str:
    with pytest.raises(DataError) as info:
        read_split(root, dataset)
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, (needle, message)
    return message


def _check(splits, sizes: dict[str, int], names: list[str]) -> None:
    assert set(splits) == {"train", "val", "test"}
    for split, items in splits.items():
        assert len(items) == sizes[split] * len(names), split
        assert class_names(items) == names, split
        assert all(item.path.is_file() for item in items), split
        for label in range(len(names)):
            assert sum(item.label == label for item in items) == sizes[split]


# --- the nine split-JSON datasets -------------------------------------------------------------


def _json_tree(root: Path, dataset: str) -> Path:
    layout = LAYOUTS[dataset]
    image_dir = root / layout.dataset_dir / layout.image_dir
    split = {}
    for name, size in SIZES.items():
        split[name] = []
        for label, cls in enumerate(JSON_CLASSES):
            for i in range(size):
                rel = f"class_{label}/{name}_{i}.jpg"
                _image(image_dir / rel)
                split[name].append([rel, label, cls])
    (root / layout.dataset_dir / layout.split_file).write_text(json.dumps(split))
    return image_dir


@pytest.mark.parametrize("dataset", JSON_DATASETS)
def test_split_json_datasets(tmp_path, dataset):
    image_dir = _json_tree(tmp_path, dataset)
    splits = read_split(tmp_path, dataset)
    _check(splits, SIZES, JSON_CLASSES)
    assert all(item.path.parent.parent == image_dir for item in splits["test"])


def test_the_eleven_coop_datasets_are_known():
    known = set(JSON_DATASETS) | set(datasets.READERS) - {"cifar100", "cub200"}  # FSCIL's two
    assert len(known) == 11 and {"fgvc_aircraft", "imagenet", "caltech101"} <= known


def test_split_json_paths_are_joined_as_coop_does(tmp_path):
    """CoOp does ``os.path.join(image_dir, rel)``: no normalising, no escaping check."""
    layout = LAYOUTS["dtd"]
    dataset_dir = tmp_path / layout.dataset_dir
    image_dir = dataset_dir / layout.image_dir
    image_dir.mkdir(parents=True)
    outside = _image(tmp_path / "elsewhere" / "c.png")
    rels = ["../shared/a.png", "banded/../banded/b.png", str(outside)]
    _image(dataset_dir / "shared" / "a.png")
    _image(image_dir / "banded" / "b.png")
    entries = [[rel, 0, "banded"] for rel in rels]
    split = {"train": entries, "val": entries, "test": entries}
    (dataset_dir / layout.split_file).write_text(json.dumps(split))
    items = read_split(tmp_path, "dtd")["train"]
    assert [str(item.path) for item in items] == [os.path.join(image_dir, rel) for rel in rels]
    assert str(items[0].path) == f"{image_dir}/../shared/a.png"  # joined under the image dir
    assert items[2].path == outside  # an absolute path replaces the prefix, as in os.path.join
    assert all(item.path.is_file() for item in items)


# --- FGVC-Aircraft ---------------------------------------------------------------------------

VARIANTS = ["Boeing 737-700", "F-16A/B", "A320"]  # spaces and slashes, not in sorted order


def _fgvc_tree(root: Path) -> Path:
    folder = root / "fgvc_aircraft"
    folder.mkdir(parents=True)
    (folder / "variants.txt").write_text("\n".join(VARIANTS) + "\n")
    for split, size in SIZES.items():
        lines = []
        for label, variant in enumerate(VARIANTS):
            for i in range(size):
                imname = f"{1000000 + 100 * label + 10 * i + len(split)}"
                _image(folder / "images" / f"{imname}.jpg")
                lines.append(f"{imname} {variant}")
        (folder / f"images_variant_{split}.txt").write_text("\n".join(lines) + "\n")
    return folder


def test_fgvc_aircraft(tmp_path):
    folder = _fgvc_tree(tmp_path)
    splits = read_split(tmp_path, "fgvc_aircraft")
    _check(splits, SIZES, VARIANTS)  # labels follow the line order of variants.txt
    assert all(item.path.parent == folder / "images" for item in splits["train"])


def test_fgvc_aircraft_errors(tmp_path):
    _error(tmp_path, "fgvc_aircraft", str(tmp_path / "fgvc_aircraft"), "fgvc-aircraft-2013b")
    folder = _fgvc_tree(tmp_path)
    (folder / "images_variant_val.txt").unlink()
    _error(tmp_path, "fgvc_aircraft", str(folder / "images_variant_val.txt"), "DATA.md")
    (folder / "images_variant_val.txt").write_text("1234567 Concorde\n")
    _error(tmp_path, "fgvc_aircraft", "images_variant_val.txt:1", "Concorde")
    (folder / "images_variant_val.txt").write_text("\n")
    _error(tmp_path, "fgvc_aircraft", "no images listed", "images_variant_val.txt")


# --- ImageNet --------------------------------------------------------------------------------

WNIDS = {"n01530575": "brambling", "n01440764": "tench", "n01484850": "great white shark"}


def _imagenet_tree(root: Path) -> Path:
    folder = root / "imagenet"
    folder.mkdir(parents=True)
    lines = [f"{wnid} {name}" for wnid, name in WNIDS.items()]
    (folder / "classnames.txt").write_text("\n".join(lines) + "\n")
    for split, size in (("train", 2), ("val", 1)):
        for wnid in WNIDS:
            for i in range(size):
                _image(folder / "images" / split / wnid / f"{wnid}_{i}.JPEG")
        (folder / "images" / split / next(iter(WNIDS)) / ".DS_Store").write_text("")
    return folder


def test_imagenet(tmp_path, monkeypatch):
    folder = _imagenet_tree(tmp_path)
    scanned = []
    real_scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda p: scanned.append(str(p)) or real_scandir(p))
    splits = read_split(tmp_path, "imagenet")
    # As CoOp: a class's label is its folder's rank among the sorted wnids, whatever the file order.
    names = [WNIDS[wnid] for wnid in sorted(WNIDS)]
    # each class's 2 train images: the last is held out for validation, never a test image
    _check(splits, {"train": 1, "val": 1, "test": 1}, names)
    assert all(folder / "images" / "val" in item.path.parents for item in splits["test"])
    assert all(folder / "images" / "train" in item.path.parents for item in splits["val"])
    assert not {i.path for i in splits["val"]} & {i.path for i in splits["train"]}
    assert len(scanned) == len(set(scanned)) == 2 * (1 + len(WNIDS))  # each folder walked once


def test_imagenet_errors(tmp_path):
    _error(tmp_path, "imagenet", str(tmp_path / "imagenet"), "ILSVRC2012")
    folder = _imagenet_tree(tmp_path)
    (folder / "classnames.txt").unlink()
    _error(tmp_path, "imagenet", str(folder / "classnames.txt"), "DATA.md")
    (folder / "classnames.txt").write_text("n01440764 tench\nn01484850 great white shark\n")
    _error(tmp_path, "imagenet", "not listed ['n01530575']", str(folder / "images" / "train"))
    (folder / "classnames.txt").write_text("".join(f"{w} {n}\n" for w, n in WNIDS.items()))
    for wnid in WNIDS:
        for image in (folder / "images" / "val" / wnid).iterdir():
            image.unlink()
        (folder / "images" / "val" / wnid).rmdir()
    _error(tmp_path, "imagenet", "no class folders", str(folder / "images" / "val"))


# --- folder:PATH -----------------------------------------------------------------------------


def _folder_tree(base: Path) -> Path:
    suffixes = [".jpg", ".JPEG", ".png", ".BMP", ".webp"]
    for split, size in SIZES.items():
        for c, cls in enumerate(["red_panda", "cat", "zebra_finch"]):
            for i in range(size):
                _image(base / split / cls / f"{i}{suffixes[(c + i) % len(suffixes)]}")
            (base / split / cls / "notes.txt").write_text("not an image")
            (base / split / cls / ".hidden.jpg").write_bytes(b"")
    return base


@pytest.mark.parametrize("relative", [True, False])
def test_image_folder(tmp_path, relative):
    base = _folder_tree(tmp_path / "mine")
    splits = read_split(tmp_path, "folder:mine" if relative else f"folder:{base}")
    _check(splits, SIZES, ["cat", "red panda", "zebra finch"])  # sorted folders, "_" -> " "
    assert all(base / "val" in item.path.parents for item in splits["val"])


def test_image_folder_errors(tmp_path):
    _error(tmp_path, "folder:", "folder:PATH")
    _error(tmp_path, "folder:mine", str(tmp_path / "mine"), "train/<class>")
    base = _folder_tree(tmp_path / "mine")
    (base / "test" / "cat").rename(base / "test" / "dog")
    _error(tmp_path, "folder:mine", "split 'test'", "missing ['cat']", "extra ['dog']")
    (base / "test" / "dog").rename(base / "test" / "cat")
    for image in (base / "test" / "cat").iterdir():
        image.unlink()
    _error(tmp_path, "folder:mine", "no images", str(base / "test" / "cat"))
    (base / "val").rename(base / "validation")
    _error(tmp_path, "folder:mine", str(base / "val"), "val split")


def test_image_folder_empty_split(tmp_path):
    base = tmp_path / "mine"
    for split in ("train", "val", "test"):
        (base / split).mkdir(parents=True)
    _error(tmp_path, "folder:mine", "no class folders", str(base / "train"))


def test_unknown_dataset_lists_every_reader(tmp_path):
    _error(tmp_path, "imagenet21k", "fgvc_aircraft", "imagenet", "ucf101", "folder:PATH")


# --- what the base-to-new protocol reads from any layout ------------------------------------


def test_class_names_enter_prompts_with_spaces_for_underscores(tmp_path):
    layout = LAYOUTS["oxford_pets"]
    dataset_dir = tmp_path / layout.dataset_dir
    _image(dataset_dir / layout.image_dir / "a.jpg")
    entries = [["a.jpg", 0, "great_pyrenees"], ["a.jpg", 1, "shiba inu"]]
    split = {"train": entries, "val": entries, "test": entries}
    (dataset_dir / layout.split_file).write_text(json.dumps(split))
    splits = read_split(tmp_path, "oxford_pets")
    assert class_names(splits["test"]) == ["great pyrenees", "shiba inu"]


def test_base_new_boundary_comes_from_the_training_split():
    train = [Datum(Path(f"{c}.jpg"), c, f"class {c}") for c in range(6)]  # labels 0..5
    test = [d for d in train if d.label != 1]  # the test split lacks class 1
    labels = dataset_labels({"train": train})
    assert labels == [0, 1, 2, 3, 4, 5]
    base = subsample_classes(test, "base", labels)
    new = subsample_classes(test, "new", labels)
    # base is labels 0-2 (ceil(6/2)), new 3-5, relabelled from 0, whatever the test split holds
    assert [(d.classname, d.label) for d in base] == [("class 0", 0), ("class 2", 2)]
    assert [(d.classname, d.label) for d in new] == [("class 3", 0), ("class 4", 1), ("class 5", 2)]
    # without the dataset's labels the test split alone would move the boundary
    assert [d.classname for d in subsample_classes(test, "base")] == [
        "class 0",
        "class 2",
        "class 3",
    ]
    assert subset_names({"train": train}, "new") == ["class 3", "class 4", "class 5"]
