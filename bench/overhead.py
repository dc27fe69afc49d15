"""The sweep's own overhead: wall time against the trials' compute time / concurrency.

    .venv/bin/python bench/overhead.py [--trials 4] [--epochs 40]

Runs the same small toy-world sweep (trials of about 30 s: many epochs, small batches) with 1
and with 2 concurrent trials, through the real driver (`orch sweep`: Ray start-up, cache fill,
Optuna, MLflow logging, selection and plots included). A trial's compute time is Ray's own
``time_total_s`` for it. Prints trials/hour for both, and as its last line the overhead of the
2-concurrent sweep: ``overhead: <percent>%``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def trial_seconds(storage: Path) -> list[float]:
    """Ray's time_total_s of every trial of the (only) sweep under ``storage``."""
    seconds = []
    for result in storage.glob("*/*/result.json"):
        lines = [json.loads(line) for line in result.read_text().splitlines() if line.strip()]
        if lines:
            seconds.append(lines[-1]["time_total_s"])
    return seconds


def run(concurrency: int, trials: int, epochs: int, folder: Path) -> dict:
    cwd = folder / f"c{concurrency}"
    cwd.mkdir()
    args = [
        sys.executable,
        "-m",
        "orchestrator.cli",
        "sweep",
        str(ROOT / "search_spaces/cocoa.yaml"),
        "--set",
        "protocol.datasets=[toyworld]",
        "--set",
        f"search.num_trials={trials}",
        "--set",
        f"search.max_concurrent={concurrency}",
        "--set",
        f"train.epochs={epochs}",
        "--set",
        "train.batch_size=8",
        "--set",
        "train.weight_epochs=2",
        "--set",
        "search.points_to_evaluate=[]",
        "--set",
        "space.method.outlier_vocab.choices=[random_words]",
    ]
    start = time.perf_counter()
    subprocess.run(
        args,
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
        env={"PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled", "PATH": "/usr/bin:/bin"},
    )
    wall = time.perf_counter() - start
    seconds = trial_seconds(cwd / "orch_runs")
    ideal = sum(seconds) / concurrency
    return {
        "wall": wall,
        "trials": len(seconds),
        "mean_trial": sum(seconds) / len(seconds),
        "ideal": ideal,
        "overhead": 100 * (wall - ideal) / ideal,
        "per_hour": 3600 * len(seconds) / wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {c: run(c, args.trials, args.epochs, Path(tmp)) for c in (1, 2)}
    for concurrency, r in results.items():
        print(
            f"{concurrency} concurrent: {r['trials']} trials of {r['mean_trial']:.1f} s mean, "
            f"sweep wall {r['wall']:.1f} s vs {r['ideal']:.1f} s of trial time / concurrency "
            f"-> {r['per_hour']:.0f} trials/hour, overhead {r['overhead']:.0f}%"
        )
    print(f"overhead: {results[2]['overhead']:.0f}%")


if __name__ == "__main__":
    main()
