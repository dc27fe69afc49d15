"""The sweep's own overhead, component by component, at 1 and 2 concurrent trials.

    .venv/bin/python bench/overhead.py [--trials 12] [--epochs 30]

Runs the same toy-world sweep twice through the real CLI (`orch sweep`: Ray start-up, cache
fill, Optuna, MLflow, selection and plots included), once with 1 and once with 2 concurrent
trials. Compute is only what each trial's own timer counts around training and evaluation
(``cost_compute_s``, summed over trials and divided by the concurrency); everything else is
overhead, broken down from the driver's phase times (``time_<phase>_s`` on the sweep's run)
and each trial's wall time (``cost_wall_s``):

- CLI start: the interpreter, imports and spec checks before the sweep's first phase;
- Ray start, cache fill, MLflow set-up, gather + selection + plots (the driver's phases);
- trial set-up: inside a trial but outside training (the model, the episode's cached
  features, the outlier vocabulary), per trial, over the concurrency;
- Tune: everything else while the trials run (process start or reuse, imports, scheduling,
  checkpoints, MLflow logging of each result).

Prints the table, then as its last line ``overhead: X%`` for the most concurrent trials
(``--concurrency 2`` makes that run alone).
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PHASES = ("checks", "ray_start", "fill", "mlflow_setup", "gather", "finish")


def sweep_args(trials: int, epochs: int, concurrency: int) -> list[str]:
    sets = {
        "protocol.datasets": "[toyworld]",
        "search.num_trials": trials,
        "search.max_concurrent": concurrency,
        "train.epochs": epochs,
        "train.batch_size": 8,
        "train.weight_epochs": 2,
        "search.points_to_evaluate": "[]",
        "space.method.outlier_vocab.choices": "[random_words]",
        "tracking.experiment": "overhead",
    }
    args = [
        sys.executable,
        "-m",
        "orchestrator.cli",
        "sweep",
        str(ROOT / "search_spaces/cocoa.yaml"),
    ]
    for key, value in sets.items():
        args += ["--set", f"{key}={value}"]
    return args


def run(concurrency: int, trials: int, epochs: int, folder: Path) -> dict[str, float]:
    from mlflow.tracking import MlflowClient

    cwd = folder / f"c{concurrency}"
    cwd.mkdir()
    env = {"PYTHONPATH": str(ROOT), "RAY_AUTH_MODE": "disabled", "PATH": "/usr/bin:/bin"}
    start = time.perf_counter()
    subprocess.run(sweep_args(trials, epochs, concurrency), cwd=cwd, check=True,
                   capture_output=True, text=True, env=env)  # fmt: skip
    wall = time.perf_counter() - start
    client = MlflowClient(tracking_uri=f"sqlite:///{cwd / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("overhead").experiment_id
    runs = client.search_runs([experiment], max_results=1000)
    (parent,) = [r for r in runs if "orch.sweep" in r.data.tags]
    configs = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    phases = {p: parent.data.metrics.get(f"time_{p}_s", 0.0) for p in PHASES}
    compute = sum(r.data.metrics["cost_compute_s"] for r in configs) / concurrency
    in_trial = sum(r.data.metrics["cost_wall_s"] for r in configs) / concurrency
    trials_phase = parent.data.metrics["time_trials_s"]
    driver = sum(phases.values()) + trials_phase
    return {
        "CLI start": wall - driver,
        "Ray start": phases["ray_start"],
        "cache fill": phases["fill"],
        "MLflow set-up": phases["mlflow_setup"],
        "trial set-up": in_trial - compute,
        "Tune (processes, scheduling, logging)": trials_phase - in_trial,
        "gather, selection, plots": phases["gather"] + phases["finish"] + phases["checks"],
        "compute (training + evaluation)": compute,
        "wall": wall,
        "trials": len(configs),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=12)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 2], help="the runs to make (1 2)"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results = {c: run(c, args.trials, args.epochs, Path(tmp)) for c in args.concurrency}
    print(f"{args.trials} trials of {args.epochs} prompt + 2 weight epochs on toyworld")
    print("| component | " + " | ".join(f"{c} concurrent: s | %" for c in results) + " |")
    print("|---|" + "---|---|" * len(results))
    for name in next(iter(results.values())):
        if name in ("wall", "trials"):
            continue
        cells = " | ".join(
            f"{r[name]:.1f} | {100 * r[name] / r['wall']:.1f}" for r in results.values()
        )
        print(f"| {name} | {cells} |")
    print("| sweep wall | " + " | ".join(f"{r['wall']:.1f} | 100" for r in results.values()) + " |")
    for c, r in results.items():
        rate = 3600 * r["trials"] / r["wall"]
        print(f"{c} concurrent: {r['trials']:.0f} trials, {rate:.0f} trials/hour")
    last = results[max(results)]
    overhead = 100 * (1 - last["compute (training + evaluation)"] / last["wall"])
    print(f"overhead: {overhead:.1f}%")


if __name__ == "__main__":
    main()
