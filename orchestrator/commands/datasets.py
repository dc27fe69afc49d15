"""``orch datasets``: the datasets found under the data root, toy and real, with their sizes.

Reads split JSON files and folders only (never torch): CoOp-layout datasets and the toy
world's family by their split JSON; ImageNet, FGVC-Aircraft, CIFAR-100 and CUB-200-2011 through
their readers, when their folder is there.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

from workers.paths import default_data_root


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "datasets", help="list the datasets under the data root with class counts and splits"
    )
    parser.add_argument("--root", type=Path, default=None, help="data root (default: $ORCH_DATA)")
    parser.add_argument("--json", action="store_true", help="print one JSON list")
    parser.set_defaults(run=run)


def _summary(splits: dict[str, list]) -> dict:
    """Class count, base/new sizes and images per split of ``{split: [(label, ...), ...]}``."""
    labels = {label for items in splits.values() for label in items}
    n = len(labels)
    return {
        "classes": n,
        "base": math.ceil(n / 2),
        "new": n - math.ceil(n / 2),
        **{split: len(items) for split, items in splits.items()},
    }


def find_datasets(root: Path) -> list[dict]:
    """One row per dataset present under ``root`` (toy datasets also when not yet generated)."""
    from workers import datasets as readers
    from workers.datasets import LAYOUTS, SPLITS
    from workers.errors import DataError
    from workers.toyworld.family import FAMILY

    layouts = {name: (lay.dataset_dir, lay.split_file) for name, lay in LAYOUTS.items()}
    for name, toy in FAMILY.items():
        layouts.setdefault(name, (toy.layout[0], toy.layout[2]))
    rows = []
    for name in sorted(layouts):
        folder, split_file = layouts[name]
        path = root / folder / split_file
        kind = "toy" if name in FAMILY else "real"
        if not path.is_file():
            if kind == "toy":
                rows.append({"name": name, "kind": kind, "path": str(root / folder),
                             "status": "not generated: run `orch setup`"})  # fmt: skip
            continue
        try:
            raw = json.loads(path.read_text())
            splits = {s: [int(entry[1]) for entry in raw[s]] for s in SPLITS}
        except (json.JSONDecodeError, KeyError, TypeError, ValueError, IndexError) as exc:
            rows.append({"name": name, "kind": kind, "path": str(path), "status": f"bad: {exc}"})
            continue
        rows.append({"name": name, "kind": kind, "path": str(root / folder), "status": "ok",
                     **_summary(splits)})  # fmt: skip
    for name, reader in sorted(readers.READERS.items()):
        folder = root / readers.READER_DIRS[name]  # e.g. cub200 reads CUB_200_2011/
        if not folder.is_dir():
            continue
        try:
            splits = {s: [d.label for d in items] for s, items in reader(root).items()}
        except DataError as exc:
            rows.append({"name": name, "kind": "real", "path": str(folder),
                         "status": f"bad: {exc}"})  # fmt: skip
            continue
        rows.append({"name": name, "kind": "real", "path": str(folder), "status": "ok",
                     **_summary(splits)})  # fmt: skip
    return rows


def run(args: argparse.Namespace) -> int:
    root = (args.root or default_data_root()).expanduser().resolve()
    rows = find_datasets(root)
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print(f"datasets under {root}")
    print(f"  {'name':<16} {'kind':<5} {'classes':>7} {'base/new':>9} {'train':>7} "
          f"{'val':>6} {'test':>6}")  # fmt: skip
    for row in rows:
        if row["status"] != "ok":
            print(f"  {row['name']:<16} {row['kind']:<5} {row['status']}")
            continue
        split = f"{row['base']}/{row['new']}"
        print(f"  {row['name']:<16} {row['kind']:<5} {row['classes']:>7} {split:>9} "
              f"{row['train']:>7} {row['val']:>6} {row['test']:>6}")  # fmt: skip
    if not rows:
        print("  (none: `orch setup` generates the toy world; see --root for real datasets)")
    return 0
