"""CIFAR-100 and CUB-200-2011 (the FSCIL benchmarks), read back from miniature trees."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from orchestrator.commands.datasets import find_datasets
from workers.datasets import READER_DIRS, READERS, read_split
from workers.errors import DataError
from workers.splits import class_names


def _image(path: Path, colour: tuple[int, int, int] = (40, 120, 200)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), colour).save(path)  # PNG or JPEG from the suffix
    return path


def _error(root: Path, dataset: str, *needles: str) -> str:
    with pytest.raises(DataError) as info:
        read_split(root, dataset)
    message = str(info.value)
    assert "\n" not in message
    for needle in needles:
        assert needle in message, (needle, message)
    return message


def _paths(items) -> list[Path]:
    return [item.path for item in items]


def test_both_are_named_readers_with_their_folders():
    assert {"cifar100", "cub200"} <= set(READERS)
    assert set(READER_DIRS) == set(READERS)
    assert READER_DIRS["cub200"] == "CUB_200_2011"


# --- CIFAR-100 -------------------------------------------------------------------------------

CIFAR_CLASSES = ["maple_tree", "apple", "aquarium_fish"]  # not in sorted order on purpose
CIFAR_TRAIN, CIFAR_TEST = 20, 3  # per class: 20 train -> the last 2 (a tenth) become val


def _cifar_tree(root: Path) -> Path:
    folder = root / "cifar100"
    for c, cls in enumerate(CIFAR_CLASSES):
        for i in range(CIFAR_TRAIN):
            _image(folder / "train" / cls / f"{i:04d}.png", (c * 60, i * 10, 0))
        for i in range(CIFAR_TEST):
            _image(folder / "test" / cls / f"{i:04d}.png")
        (folder / "train" / cls / ".DS_Store").write_text("")  # hidden entries are skipped
    return folder


def test_cifar100_splits_labels_and_names(tmp_path):
    folder = _cifar_tree(tmp_path)
    splits = read_split(tmp_path, "cifar100")
    assert set(splits) == {"train", "val", "test"}
    # labels follow the sorted class folders (CIFAR-100's own order); "_" is shown as a space
    names = ["apple", "aquarium fish", "maple tree"]
    for split, per_class in (("train", 18), ("val", 2), ("test", CIFAR_TEST)):
        assert class_names(splits[split]) == names, split
        for label in range(3):
            assert sum(d.label == label for d in splits[split]) == per_class, split
    assert all(folder / "test" in d.path.parents for d in splits["test"])
    assert all(folder / "train" in d.path.parents for d in splits["val"])
    for datum in splits["train"] + splits["val"] + splits["test"]:
        assert datum.path.is_file()
        assert datum.path.parent.name == sorted(CIFAR_CLASSES)[datum.label]


def test_cifar100_val_hold_out_is_deterministic_and_disjoint(tmp_path):
    folder = _cifar_tree(tmp_path)
    first, again = read_split(tmp_path, "cifar100"), read_split(tmp_path, "cifar100")
    assert _paths(first["val"]) == _paths(again["val"])
    assert _paths(first["train"]) == _paths(again["train"])
    train, val = set(_paths(first["train"])), set(_paths(first["val"]))
    assert not train & val
    assert train | val == set((folder / "train").glob("*/*.png"))  # nothing lost, no test image
    # the held-out images are the last tenth of each class's sorted file names
    expected = {folder / "train" / c / f"{i:04d}.png" for c in CIFAR_CLASSES for i in (18, 19)}
    assert val == expected


def test_cifar100_errors(tmp_path):
    _error(tmp_path, "cifar100", str(tmp_path / "cifar100"), "cifar100/train/<class>/*.png")
    folder = _cifar_tree(tmp_path)
    (folder / "test").rename(folder / "testing")
    _error(tmp_path, "cifar100", str(folder / "test"), "cifar100/test/<class>")
    (folder / "testing").rename(folder / "test")
    (folder / "test" / "apple").rename(folder / "test" / "apples")
    _error(tmp_path, "cifar100", str(folder / "test"), "missing ['apple']", "extra ['apples']")
    (folder / "test" / "apples").rename(folder / "test" / "apple")
    for image in (folder / "train" / "apple").glob("*.png"):
        image.unlink()
    _error(tmp_path, "cifar100", "no images", str(folder / "train" / "apple"))


def test_unknown_name_suggests_the_fscil_datasets(tmp_path):
    _error(tmp_path, "cifar-100", "did you mean 'cifar100'", "cub200")
    _error(tmp_path, "cub_200", "did you mean 'cub200'")


# --- CUB-200-2011 ----------------------------------------------------------------------------

CUB_CLASSES = ["001.Black_footed_Albatross", "002.Laysan_Albatross", "003.Sooty_Albatross"]
CUB_PER_CLASS = 12  # image ids 1..36; every third one is a test image: 8 train, 4 test a class


def _cub_rows() -> list[tuple[int, str, int, int]]:
    """(image_id, relative path, class_id, is_train) as CUB-200-2011 numbers them."""
    rows = []
    for c, folder in enumerate(CUB_CLASSES, 1):
        for i in range(CUB_PER_CLASS):
            image_id = (c - 1) * CUB_PER_CLASS + i + 1
            bird = folder.partition(".")[2]
            rows.append((image_id, f"{folder}/{bird}_{image_id:04d}.jpg", c, int(i % 3 != 0)))
    return rows


def _write_index(folder: Path, rows, reverse: bool = False) -> None:
    rows = list(reversed(rows)) if reverse else rows  # line order must not matter
    (folder / "images.txt").write_text("".join(f"{i} {rel}\n" for i, rel, _, _ in rows))
    (folder / "image_class_labels.txt").write_text("".join(f"{i} {c}\n" for i, _, c, _ in rows))
    (folder / "train_test_split.txt").write_text("".join(f"{i} {t}\n" for i, _, _, t in rows))


def _cub_tree(root: Path, reverse: bool = False) -> Path:
    folder = root / "CUB_200_2011"
    rows = _cub_rows()
    for _, rel, _, _ in rows:
        _image(folder / "images" / rel)
    classes = "".join(f"{c} {name}\n" for c, name in enumerate(CUB_CLASSES, 1))
    (folder / "classes.txt").write_text(classes)
    _write_index(folder, rows, reverse)
    return folder


@pytest.mark.parametrize("reverse", [False, True])
def test_cub200_splits_follow_train_test_split(tmp_path, reverse):
    folder = _cub_tree(tmp_path, reverse)
    splits = read_split(tmp_path, "cub200")
    names = ["Black footed Albatross", "Laysan Albatross", "Sooty Albatross"]
    for split, per_class in (("train", 7), ("val", 1), ("test", 4)):
        assert class_names(splits[split]) == names, split  # label = class id - 1
        for label in range(3):
            assert sum(d.label == label for d in splits[split]) == per_class, split
    rows = _cub_rows()
    train_rows = {folder / "images" / rel for _, rel, _, t in rows if t == 1}
    test_rows = {folder / "images" / rel for _, rel, _, t in rows if t == 0}
    assert set(_paths(splits["test"])) == test_rows
    assert set(_paths(splits["train"])) | set(_paths(splits["val"])) == train_rows
    labels = {folder / "images" / rel: c - 1 for _, rel, c, _ in rows}
    assert all(labels[d.path] == d.label for s in splits.values() for d in s)


def test_cub200_val_hold_out_is_deterministic_and_disjoint(tmp_path):
    _cub_tree(tmp_path)
    first = read_split(tmp_path, "cub200")
    _write_index(tmp_path / "CUB_200_2011", _cub_rows(), reverse=True)
    shuffled = read_split(tmp_path, "cub200")  # same files, index lines in reverse order
    assert _paths(first["val"]) == _paths(shuffled["val"])
    assert _paths(first["train"]) == _paths(shuffled["train"])
    assert not set(_paths(first["val"])) & set(_paths(first["train"]))
    assert not set(_paths(first["val"])) & set(_paths(first["test"]))
    # the last of each class's 8 train images, in path order
    last = {
        c: sorted(d.path for d in first["train"] + first["val"] if d.label == c)[-1]
        for c in range(3)
    }
    assert {d.path for d in first["val"]} == set(last.values())


def test_cub200_missing_folder_and_index_files(tmp_path):
    _error(tmp_path, "cub200", str(tmp_path / "CUB_200_2011"), "images.txt", "classes.txt")
    folder = _cub_tree(tmp_path)
    for name in ("images.txt", "image_class_labels.txt", "train_test_split.txt", "classes.txt"):
        (folder / name).rename(folder / f"{name}.bak")
        _error(tmp_path, "cub200", str(folder / name), "CUB_200_2011.tgz")
        (folder / f"{name}.bak").rename(folder / name)
    (folder / "images").rename(folder / "imgs")
    _error(tmp_path, "cub200", str(folder / "images"), "images/<NNN.Class_Name>")


def _set_line(path: Path, n: int, text: str | None) -> None:
    """Replace (or with None drop) line ``n`` (1-based) of an index file."""
    lines = path.read_text().splitlines()
    lines[n - 1 : n] = [] if text is None else [text]
    path.write_text("\n".join(lines) + "\n")


def test_cub200_bad_index_lines(tmp_path):
    folder = _cub_tree(tmp_path)
    rows = _cub_rows()
    missing = folder / "images" / rows[4][1]
    missing.unlink()
    _error(tmp_path, "cub200", f"{folder / 'images.txt'}:5", str(missing), "does not exist")
    _image(missing)
    labels, split = folder / "image_class_labels.txt", folder / "train_test_split.txt"
    _set_line(labels, 7, "7 9")
    _error(tmp_path, "cub200", f"{labels}:7", "class '9'", str(folder / "classes.txt"))
    _set_line(labels, 7, "7 2")  # image 7 is in 001.Black_footed_Albatross/
    _error(tmp_path, "cub200", f"{folder / 'images.txt'}:7", "002.Laysan_Albatross")
    _set_line(labels, 7, None)
    _error(tmp_path, "cub200", str(labels), "missing [7]", "not in images.txt []")
    _write_index(folder, rows)
    _set_line(split, 7, "7 yes")
    _error(tmp_path, "cub200", f"{split}:7", "'yes'")
    _set_line(split, 7, "seven 1")
    _error(tmp_path, "cub200", f"{split}:7", "'seven 1'", "<id>")
    _set_line(split, 7, "6 1")
    _error(tmp_path, "cub200", f"{split}:7", "id 6 is listed twice")
    _write_index(folder, rows)
    classes = folder / "classes.txt"
    _set_line(classes, 2, "4 002.Laysan_Albatross")
    _error(tmp_path, "cub200", str(classes), "not 1..3", "missing [2]")


def test_cub200_class_without_images(tmp_path):
    folder = _cub_tree(tmp_path)
    rows = [r for r in _cub_rows() if r[2] != 3]  # classes.txt still lists 003.Sooty_Albatross
    _write_index(folder, rows)
    _error(tmp_path, "cub200", str(folder / "images" / "003.Sooty_Albatross"), "no train images")
    rows = [(i, rel, c, 1 if c == 2 else t) for i, rel, c, t in _cub_rows()]  # no class-2 test
    _write_index(folder, rows)
    _error(tmp_path, "cub200", str(folder / "images" / "002.Laysan_Albatross"), "no test images")


# --- orch datasets ---------------------------------------------------------------------------


def test_orch_datasets_lists_both(tmp_path):
    _cifar_tree(tmp_path)
    _cub_tree(tmp_path)
    rows = {row["name"]: row for row in find_datasets(tmp_path) if row["kind"] == "real"}
    assert rows["cifar100"]["status"] == "ok" and rows["cub200"]["status"] == "ok"
    assert (rows["cifar100"]["classes"], rows["cifar100"]["train"]) == (3, 54)
    assert (rows["cub200"]["classes"], rows["cub200"]["test"]) == (3, 12)
    assert rows["cub200"]["path"] == str(tmp_path / "CUB_200_2011")
    (tmp_path / "CUB_200_2011" / "classes.txt").unlink()
    bad = {row["name"]: row for row in find_datasets(tmp_path)}["cub200"]
    assert bad["status"].startswith("bad: ") and "classes.txt" in bad["status"]
