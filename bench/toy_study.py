"""Toy-world study: every baseline, 3 seeds, base/new/HM and ECE base/new (mean ± std).

    .venv/bin/python bench/toy_study.py [--spec search_spaces/trial.yaml] [--seeds 1 2 3]

Prints one markdown table (test split) for the README.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.baselines import BASELINES, baseline_overrides  # noqa: E402
from orchestrator.spec import load_spec  # noqa: E402
from workers.trial import run_trial  # noqa: E402

COLUMNS = ("test_base_acc", "test_new_acc", "test_hm", "test_ece_base", "test_ece_new")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", default="search_spaces/trial.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    parser.add_argument("--baselines", nargs="+", default=list(BASELINES))
    args = parser.parse_args()
    rows = {}
    for name in args.baselines:
        runs = []
        for seed in args.seeds:
            start = time.time()
            spec = load_spec(args.spec, {**baseline_overrides(name), "train.seed": seed})
            runs.append(run_trial(spec.trial).metrics)
            print(
                f"{name} seed {seed}: "
                + "  ".join(f"{c[5:]} {runs[-1][c]:.2f}" for c in COLUMNS)
                + f"  ({time.time() - start:.0f}s)",
                file=sys.stderr,
                flush=True,
            )
        rows[name] = runs
    print("| method | base | new | HM | ECE base | ECE new |")
    print("|---|---|---|---|---|---|")
    for name, runs in rows.items():
        cells = []
        for column in COLUMNS:
            values = [r[column] for r in runs]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.mean(values):.1f} ± {spread:.1f}")
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
