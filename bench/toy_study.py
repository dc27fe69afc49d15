"""Toy-world study: every baseline on every base-to-new toy dataset, seeds 1, 2, 3, then
cross-dataset transfer from the toy source; checks the papers' qualitative properties. Each
method is one configuration scored through the protocol: its cells are datasets x seeds.

    .venv/bin/python bench/toy_study.py [--spec search_spaces/trial.yaml] [--seeds 1 2 3]
        [--datasets toyworld toy_textures toy_glyphs] [--baselines ...] [--no-cross]

Prints markdown tables (test split) for the README: mean ± std over seeds x datasets, per-dataset
rows (mean ± std over seeds), the cross-dataset table, and the properties with their verdicts.
``conf - acc`` columns are the signed calibration gap (negative: under-confident).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.spec.baselines import BASELINES, baseline_overrides  # noqa: E402
from orchestrator.spec.load import load_spec  # noqa: E402
from workers.cells import run_protocol  # noqa: E402
from workers.protocol import Protocol  # noqa: E402
from workers.toyworld.family import BASE_TO_NEW, SOURCE  # noqa: E402

COLUMNS = ("test_base_acc", "test_new_acc", "test_hm", "test_ece_base", "test_ece_new")
GAPS = ("gap_base", "gap_new")  # mean confidence - accuracy on the test split, in points
# the base-to-new methods (coop_sequential is coop outside class-incremental runs; adapter_dor
# needs the spec's method.image_outliers)
STUDIED = [b for b in BASELINES if b not in ("coop_sequential", "adapter_dor")]
EXTRA = {"cocoa_mix_strings": ("cocoa_mix", {"method.outlier_vocab": "random_strings"})}


def signed_gap(bins: dict) -> float:
    """Mean confidence minus accuracy (points) from reliability bins."""
    n = sum(bins["counts"])
    return (
        100
        * sum(
            c * (conf - acc)
            for c, conf, acc in zip(
                bins["counts"], bins["confidence"], bins["accuracy"], strict=True
            )
        )
        / max(n, 1)
    )


def run_method(
    spec_path: str, method: str, datasets: list[str], seeds: list[int], sets: dict | None = None
) -> list[tuple[str, dict[str, float]]]:
    """One configuration through the protocol (every dataset x seed as its cells): each cell's
    dataset and test metrics, with the signed calibration gaps of its reliability diagrams."""
    name, extra = EXTRA.get(method, (method, {}))
    overrides = {**baseline_overrides(name), **extra, **(sets or {})}
    spec = load_spec(spec_path, overrides)
    result = run_protocol(spec.trial, Protocol(seeds=tuple(seeds), datasets=tuple(datasets)))
    cells = []
    for cell in result.cells:
        metrics = dict(cell.metrics)
        for diagram in (d for d in cell.reliability if d.split == "test"):  # base and new
            metrics[f"gap_{diagram.subset}"] = signed_gap(diagram.to_dict())
        cells.append((cell.cell.dataset, metrics))
    return cells


def cell(values: list[float]) -> str:
    spread = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.mean(values):.1f} ± {spread:.1f}"


def table(rows: dict[str, list[dict]], label: str) -> None:
    print(f"| {label} | base | new | HM | ECE base | ECE new | conf−acc base | conf−acc new |")
    print("|---|---|---|---|---|---|---|---|")
    for name, runs in rows.items():
        print(
            f"| {name} | " + " | ".join(cell([r[c] for r in runs]) for c in COLUMNS + GAPS) + " |"
        )


def mean(runs: list[dict], key: str) -> float:
    return statistics.mean(r[key] for r in runs)


def properties(
    rows: dict[str, list[dict]], probe: list[float] | None = None
) -> list[tuple[str, bool, str]]:
    """The toy world's paper properties over the pooled runs (mean over seeds x datasets);
    ``probe``: the 16-shot linear probe's base accuracy per cell (``bench/toy_headroom.py``)."""
    out = []
    m = {name: {k: mean(runs, k) for k in COLUMNS + GAPS} for name, runs in rows.items()}
    if "zero_shot" in m:
        z = m["zero_shot"]
        out.append(("zero-shot ECE <= 8 on base and new",
                    z["test_ece_base"] <= 8 and z["test_ece_new"] <= 8,
                    f"{z['test_ece_base']:.1f} / {z['test_ece_new']:.1f}"))  # fmt: skip
        out.append(("zero-shot new accuracy in [40, 80]", 40 <= z["test_new_acc"] <= 80,
                    f"{z['test_new_acc']:.1f}"))  # fmt: skip
        if probe:
            p = statistics.mean(probe)
            out.append(("headroom: linear probe base >= zero-shot + 10",
                        p >= z["test_base_acc"] + 10,
                        f"{p:.1f} vs {z['test_base_acc']:.1f}"))  # fmt: skip
    if {"zero_shot", "coop"} <= m.keys():
        z, c = m["zero_shot"], m["coop"]
        out.append(("CoOp base acc >= zero-shot + 8",
                    c["test_base_acc"] >= z["test_base_acc"] + 8,
                    f"{c['test_base_acc']:.1f} vs {z['test_base_acc']:.1f}"))  # fmt: skip
        out.append(("CoOp's gap: new acc <= zero-shot - 3 or new ECE >= zero-shot + 4",
                    c["test_new_acc"] <= z["test_new_acc"] - 3
                    or c["test_ece_new"] >= z["test_ece_new"] + 4,
                    f"new {c['test_new_acc']:.1f} vs {z['test_new_acc']:.1f}, "
                    f"ECE new {c['test_ece_new']:.1f} vs {z['test_ece_new']:.1f}"))  # fmt: skip
    if {"coop", "coop_dor"} <= m.keys():
        c, d = m["coop"], m["coop_dor"]
        out.append(("CoOp+DOR new ECE <= CoOp - 2", d["test_ece_new"] <= c["test_ece_new"] - 2,
                    f"{d['test_ece_new']:.1f} vs {c['test_ece_new']:.1f}"))  # fmt: skip
        out.append(("CoOp+DOR base acc within 2 of CoOp",
                    abs(d["test_base_acc"] - c["test_base_acc"]) <= 2,
                    f"{d['test_base_acc']:.1f} vs {c['test_base_acc']:.1f}"))  # fmt: skip
    if {"coop", "kgcoop"} <= m.keys():
        c, k = m["coop"], m["kgcoop"]
        out.append(("KgCoOp new acc >= CoOp + 2", k["test_new_acc"] >= c["test_new_acc"] + 2,
                    f"{k['test_new_acc']:.1f} vs {c['test_new_acc']:.1f}"))  # fmt: skip
    if {"zero_shot", "coop", "cocoa_mix"} <= m.keys():
        z, c, x = m["zero_shot"], m["coop"], m["cocoa_mix"]
        out.append(("CoCoA-Mix HM >= max(zero-shot, CoOp) + 2",
                    x["test_hm"] >= max(c["test_hm"], z["test_hm"]) + 2,
                    f"{x['test_hm']:.1f} vs {c['test_hm']:.1f} / {z['test_hm']:.1f}"))  # fmt: skip
    return out


def probe_accuracies(
    spec_path: str, datasets: list[str], seeds: list[int], sets: dict
) -> list[float]:
    """The linear probe's base test accuracy per dataset x seed, on the spec's model."""
    from bench.toy_headroom import diagnose
    from workers.model import create_clip
    from workers.paths import default_data_root
    from workers.toyworld.dataset import ensure_toy

    model = load_spec(spec_path, sets).trial.model
    clip = create_clip(model.name, pretrained=model.pretrained, checkpoint=model.checkpoint)
    root = default_data_root()
    out = []
    for dataset in datasets:
        ensure_toy(dataset, root)
        out += [diagnose(clip, dataset, root, seed)["probe_base"] for seed in seeds]
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", default="search_spaces/trial.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--datasets", nargs="+", default=list(BASE_TO_NEW))
    parser.add_argument("--baselines", nargs="+", default=[*STUDIED, *EXTRA])
    parser.add_argument("--no-cross", action="store_true", help="skip cross-dataset transfer")
    parser.add_argument("--cross-seeds", type=int, nargs="+", default=None)
    parser.add_argument("--set", action="append", default=[], help="KEY=VALUE spec override")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: fastest here)")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    sets = {k: yaml.safe_load(v) for k, v in (item.split("=", 1) for item in args.set)}
    pooled: dict[str, list[dict]] = {name: [] for name in args.baselines}
    per_dataset: dict[str, dict[str, list[dict]]] = {d: {} for d in args.datasets}
    for name in args.baselines:
        seeds = args.seeds[:1] if name == "zero_shot" else args.seeds  # no randomness to vary
        start = time.time()
        for dataset, result in run_method(args.spec, name, args.datasets, seeds, sets):
            runs = [result] * (len(args.seeds) if name == "zero_shot" else 1)
            pooled[name] += runs
            per_dataset[dataset].setdefault(name, []).extend(runs)
            figures = "  ".join(
                f"{c.removeprefix('test_')} {result[c]:.2f}" for c in COLUMNS + GAPS
            )
            print(f"{dataset} {name}: {figures}", file=sys.stderr, flush=True)
        print(f"{name}: {time.time() - start:.0f}s", file=sys.stderr, flush=True)
    print(f"### Pooled: mean ± std over seeds {args.seeds} x datasets {args.datasets}\n")
    table(pooled, "method")
    for dataset, rows in per_dataset.items():
        print(f"\n### {dataset} (mean ± std over seeds)\n")
        table(rows, "method")
    probe = probe_accuracies(args.spec, args.datasets, args.seeds, sets)
    print("\n### Properties (pooled means)\n")
    for text, ok, value in properties(pooled, probe):
        print(f"- [{'x' if ok else ' '}] {text}: {value}")
    if not args.no_cross:
        from bench.toy_cross import cross_dataset_table

        print(f"\n### Cross-dataset: trained on {SOURCE} (all classes, 16 shots), test accuracy\n")
        cross_dataset_table(args.spec, args.cross_seeds or args.seeds, args.datasets)


if __name__ == "__main__":
    main()
