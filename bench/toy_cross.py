"""Cross-dataset transfer in the toy world, for bench/toy_study.py: each method through the
trial's own cross-dataset protocol (``protocol.kind: cross_dataset``), seeds as its cells.

METHOD.md: learn on all classes of the source (16 shots), evaluate on each target's test set
over all of its classes; in the mixture ``pi_in`` applies to source classes and ``pi_out`` to
every target class. ``hm = HM(source_acc, target_acc)``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from orchestrator.spec.baselines import baseline_overrides  # noqa: E402
from orchestrator.spec.load import load_spec  # noqa: E402
from workers.cells import run_protocol  # noqa: E402
from workers.toyworld.family import SOURCE  # noqa: E402

METHODS = ("zero_shot", "coop", "cocoa_mix")


def transfer(spec_path: str, method: str, seeds: list[int], targets: list[str]) -> dict:
    overrides = {
        **baseline_overrides(method),
        "protocol.kind": "cross_dataset",
        "protocol.source": SOURCE,
        "protocol.targets": list(targets),
        "protocol.seeds": list(seeds),
        "protocol.datasets": None,
    }
    spec = load_spec(spec_path, overrides)
    return run_protocol(spec.trial, spec.protocol).metrics


def cross_dataset_table(spec_path: str, seeds: list[int], targets: list[str]) -> dict:
    rows: dict[str, dict] = {}
    for method in METHODS:
        start = time.time()
        rows[method] = transfer(spec_path, method, seeds[:1] if method == "zero_shot" else seeds,
                                targets)  # fmt: skip
        print(f"cross {method}: hm {rows[method]['test_hm']:.2f} ({time.time() - start:.0f}s)",
              file=sys.stderr, flush=True)  # fmt: skip
    cols = ["source_acc", *(f"target_acc/{t}" for t in targets), "target_acc", "hm", "ece"]
    print("| method | " + " | ".join(c.removeprefix("target_acc/") for c in cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for method, m in rows.items():
        cells = []
        for c in cols:
            spread = m.get(f"test_{c}_std")
            cells.append(f"{m['test_' + c]:.1f}" + (f" ± {spread:.1f}" if spread else ""))
        print(f"| {method} | " + " | ".join(cells) + " |")
    return rows
