"""The base-to-new protocol's class and shot selection (CoCoOp): pure functions of items."""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping

from workers.datasets import Datum
from workers.errors import DataError


def class_names(items: list[Datum]) -> list[str]:
    """Class names indexed by label."""
    names: dict[int, str] = {}
    for item in items:
        names.setdefault(item.label, item.classname)
    return [names[label] for label in sorted(names)]


def subsample_classes(
    items: list[Datum], subset: str, labels: Iterable[int] | None = None
) -> list[Datum]:
    """Keep ``all`` classes, the ``base`` (first ceil(n/2) sorted labels) or the ``new`` half,
    relabelled from 0 in label order.

    ``labels`` is the dataset's label set, which the training split defines; give it for any
    other split, so that the boundary is the same for every split even where one lacks a
    class (default: the labels in ``items``, right for the training split itself).
    """
    if subset not in ("all", "base", "new"):
        raise ValueError(f"subset must be 'all', 'base' or 'new', got {subset!r}")
    labels = sorted(set(labels) if labels is not None else {item.label for item in items})
    half = math.ceil(len(labels) / 2)
    kept = {"all": labels, "base": labels[:half], "new": labels[half:]}[subset]
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


def subset_names(splits: Mapping[str, list[Datum]], subset: str) -> list[str]:
    """The ``base`` or ``new`` class names by label, from the training split."""
    return class_names(subsample_classes(splits["train"], subset))


def dataset_labels(splits: Mapping[str, list[Datum]]) -> list[int]:
    """The dataset's label set: the training split's (``subsample_classes``' ``labels``)."""
    return sorted({item.label for item in splits["train"]})


def base_new_items(
    splits: Mapping[str, list[Datum]], subset: str, *, pseudo_new: bool = False
) -> dict[str, list[Datum]]:
    """Each split's items of the ``base`` or ``new`` subset, relabelled from 0.

    With ``pseudo_new`` the base classes are split again the same way (first half pseudo-base,
    rest pseudo-new) and only base items are ever returned: leak-free selection never sees a
    real new class's image, name or label.
    """
    labels = dataset_labels(splits)
    n_base = math.ceil(len(labels) / 2)
    if pseudo_new and n_base < 2:
        raise DataError(
            f"selection.split=pseudo_new: the dataset has {len(labels)} classes, so "
            f"{n_base} base class(es), and pseudo-new classes need at least 2 base classes; "
            "use selection.split: val or a dataset with at least 3 classes"
        )
    out = {}
    for name, items in splits.items():
        part = subsample_classes(items, "base" if pseudo_new else subset, labels)
        out[name] = subsample_classes(part, subset, range(n_base)) if pseudo_new else part
    return out


def keep_labels(items: list[Datum], labels: list[int]) -> list[Datum]:
    """The items of ``labels`` only, relabelled by their position in ``labels``."""
    relabel = {label: i for i, label in enumerate(labels)}
    return [Datum(i.path, relabel[i.label], i.classname) for i in items if i.label in relabel]
