"""DOR's variants on the toy world: every named point of search_spaces/dor_study.yaml through
the trial's own protocol (seeds as cells), printed as the README's markdown table.

    .venv/bin/python bench/dor_study.py [--spec search_spaces/dor_study.yaml] [--seeds 1 2 3]

Test-split base/new accuracy and ECE; validation-split textual divergence at the end of
training (div = mean 1 - cos(tuned, zero-shot) over the base and over the new class names).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.spec import load_spec  # noqa: E402
from workers.cells import run_protocol  # noqa: E402

COLUMNS = {
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
    parser.add_argument("--spec", default="search_spaces/dor_study.yaml")
    parser.add_argument("--seeds", type=int, nargs="+", default=None)
    args = parser.parse_args()
    base = load_spec(args.spec)
    seeds = {"protocol.seeds": args.seeds} if args.seeds else {}
    print("| variant | " + " | ".join(COLUMNS.values()) + " |")
    print("|---" * (len(COLUMNS) + 1) + "|")
    for point in base.sweep.search.points_to_evaluate:
        start = time.time()
        spec = load_spec(args.spec, {**point.values, **seeds})
        result = run_protocol(spec.trial, spec.protocol)
        cells = []
        for key in COLUMNS:
            values = [c.metrics[key] * SCALE.get(key, 1) for c in result.cells]
            spread = statistics.stdev(values) if len(values) > 1 else 0.0
            cells.append(f"{statistics.fmean(values):.1f} ± {spread:.1f}")
        print(f"| {point.name} | " + " | ".join(cells) + " |", flush=True)
        print(f"{point.name}: {time.time() - start:.0f} s", file=sys.stderr, flush=True)


if __name__ == "__main__":
    main()
