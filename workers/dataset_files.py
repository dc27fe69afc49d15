"""What every dataset reader shares: the item type, file checks, class-folder scans, hold-out.

Its own module so that ``workers.readers`` (the named readers) and ``workers.datasets`` (the
layouts and ``read_split``) both build on it without importing each other.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from workers.errors import DataError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp")
SPLITS = ("train", "val", "test")
# A held-out validation split takes the last tenth of each class's training images, at most
# this many: ImageNet 50 of ~1,300, CIFAR-100 50 of 500, CUB-200-2011 2 or 3 of ~30.
VAL_PER_CLASS_MAX = 50


@dataclass(frozen=True)
class Datum:
    path: Path
    label: int
    classname: str


def display_name(name: str) -> str:
    """A class name as prompts use it: CoOp writes folder-style ``_`` as a space."""
    return str(name).replace("_", " ")


def need_dir(path: Path, what: str, fix: str) -> Path:
    if not path.is_dir():
        raise DataError(f"{what} not found: no folder {path}; {fix}")
    return path


def need_file(path: Path, what: str, fix: str) -> Path:
    if not path.is_file():
        raise DataError(f"{what} missing: no file {path}; {fix}")
    return path


def numbered_lines(path: Path) -> list[tuple[int, str]]:
    """Non-blank stripped lines with their 1-based numbers, for errors that point at a line."""
    return [
        (n, s) for n, line in enumerate(path.read_text().splitlines(), 1) if (s := line.strip())
    ]


def non_empty(items: list[Datum], where: Path, fix: str) -> list[Datum]:
    # An empty split would only surface later as a division by zero or a 0-shot class.
    if not items:
        raise DataError(f"no images listed in {where}; {fix}")
    return items


def scan_classes(split_dir: Path) -> dict[str, list[Path]]:
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


def same_classes(found: dict[str, dict[str, list[Path]]], base: Path) -> list[str]:
    """The class folders of ``found["train"]``, once every other split has exactly those."""
    classes = list(found["train"])
    for split, scanned in found.items():
        if list(scanned) != classes:
            missing = sorted(set(classes) - set(scanned))[:5]
            extra = sorted(set(scanned) - set(classes))[:5]
            raise DataError(
                f"split '{split}' of {base} ({base / split}) has other classes than train: "
                f"missing {missing}, extra {extra}; give every split the same class folders"
            )
    return classes


def class_items(
    classes: dict[str, list[Path]], labels: dict[str, int], names: dict[str, str]
) -> list[Datum]:
    return [Datum(p, labels[c], display_name(names[c])) for c in classes for p in classes[c]]


def hold_out(items: list[Datum]) -> tuple[list[Datum], list[Datum]]:
    """Split each class's items (in their given order) into (rest, held-out last tenth).

    The last ``max(1, n // 10)`` of a class's ``n`` items, at most ``VAL_PER_CLASS_MAX``, none
    of a class with a single item. Readers pass items sorted by path, so the same images are
    held out on every machine, and few-shot training draws only from the rest.
    """
    by_label: dict[int, list[Datum]] = {}
    for item in items:
        by_label.setdefault(item.label, []).append(item)
    rest, held = [], []
    for label in sorted(by_label):
        pool = by_label[label]
        n = min(VAL_PER_CLASS_MAX, max(1, len(pool) // 10)) if len(pool) > 1 else 0
        rest.extend(pool[: len(pool) - n])
        held.extend(pool[len(pool) - n :])
    return rest, held
