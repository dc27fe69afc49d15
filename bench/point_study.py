"""Every named point of a spec through the trial's own protocol (its cells), printed as a
markdown table of mean ± std over cells: the README's DOR and class-incremental tables.

    .venv/bin/python bench/point_study.py search_spaces/dor_study.yaml [--seeds 1 2 3]
    .venv/bin/python bench/point_study.py search_spaces/incremental.yaml

Base-to-new: test-split base/new accuracy and ECE, and the validation-split textual
divergence at the end of training (mean 1 - cos(tuned, zero-shot) over the base and over the
new class names). Class-incremental: test accuracy after the first and last sessions, their
average over sessions, the drop and the last session's ECE.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.spec.load import load_spec  # noqa: E402
from workers.cells import run_protocol  # noqa: E402

INCREMENTAL = {
    "test_acc_s0": "session 0",
    "test_acc_last": "last session",
    "test_acc_avg": "average",
    "test_pd": "drop (PD)",
    "test_ece_last": "ECE last",
}
BASE_TO_NEW = {
    "test_base_acc": "base",
    "test_new_acc": "new",
    "test_hm": "HM",
    "test_ece_base": "ECE base",
    "test_ece_new": "ECE new",
    "div_base": "div base (x1e3)",
    "div_new": "div new (x1e3)",
}
SCALE = {"div_base": 1e3, "div_new": 1e3}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("spec", nargs="?", default="search_spaces/dor_study.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    args = parser.parse_args()
    base = load_spec(args.spec)
    seeds = {"protocol.seeds": args.seeds} if args.seeds else {}
    columns = INCREMENTAL if base.protocol.kind == "incremental" else BASE_TO_NEW
    print("| variant | " + " | ".join(columns.values()) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for point in base.sweep.search.points_to_evaluate:
        start = time.time()
        spec = load_spec(args.spec, {**point.values, **seeds})
        result = run_protocol(spec.trial, spec.protocol)
        cells = []
        for key in columns:
            values = [c.metrics[key] * SCALE.get(key, 1) for c in result.cells]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.fmean(values):.1f} ± {spread:.1f}")
        print(f"| {point.name} | " + " | ".join(cells) + " |", flush=True)
        print(f"{point.name}: {time.time() - start:.0f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
