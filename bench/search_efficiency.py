"""Which search finds the front of HM and ECE soonest: samplers x schedulers on a table.

    .venv/bin/python bench/search_efficiency.py TABLE [--spec search_spaces/cocoa.yaml]
        [--seeds 20] [--budget 0.5] [--out search_efficiency]

The table is a finished sweep (`orch table`); a random design of the cocoa space makes one:

    orch sweep search_spaces/cocoa.yaml --set search.sampler=random \
        --set search.num_trials=200 --set tracking.experiment=cocoa-design
    orch table -o cocoa-design.parquet

Each method (random, TPE, NSGA-II and GP, each with no scheduler, ASHA and multi-objective
ASHA) searches the spec's own space over ``--seeds`` repetitions, every point answered by the
nearest recorded configuration (``orchestrator.search.replay``, as ``orch sweep --replay`` answers
it) and every rung decided by the schedulers' own rules (``orchestrator.search.rungs``). The
searcher is the sweep's (``create_sampler``, the spec's named points first), run one trial
at a time in-process: no Ray, no waiting, so hundreds of repetitions cost seconds.

Cost is counted in trial-epochs: a trial pays for the epochs it trained before it finished or
was stopped (a zero-epoch trial, zero-shot, pays one, its evaluation); the budget is
``--budget`` of what training every recorded configuration once costs. The front is the
finished trials' validation (HM, ECE); its hypervolume is Optuna's, against a fixed reference
point, the table's worst HM and worst ECE. Printed per method: hypervolume (as a fraction of
the whole table's front) at a quarter, half and all of the budget; the trial-epochs to reach
95 % of it (median over seeds; censored runs count as never) and its ratio to random search's;
the test HM and ECE of the configuration the spec's selection rule picks at the end; and the
same against the rule's pick from the whole table. The curves go to ``OUT/curves.png`` and
``OUT/curves.json``; the last line is the default method's figure.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402
import optuna  # noqa: E402
from optuna.trial import TrialState  # noqa: E402

from orchestrator.search.replay import ReplaySpace  # noqa: E402
from orchestrator.search.rungs import asha_continues, milestones, moasha_continues  # noqa: E402
from orchestrator.search.sampling import CONSTANTS_ATTR, POINT_ATTR, SpaceSampler  # noqa: E402
from orchestrator.search.searcher import create_sampler  # noqa: E402
from orchestrator.selection.pareto import hypervolume  # noqa: E402
from orchestrator.selection.rule import select  # noqa: E402
from orchestrator.spec.load import Spec, load_spec  # noqa: E402
from workers.messages import is_final  # noqa: E402
from workers.table import RecordedConfiguration, Table, read_table  # noqa: E402

SAMPLERS = ("random", "tpe", "nsga2", "gp")
SCHEDULERS = ("none", "asha", "moasha")
GRID = 60  # budget points the curves are sampled at
TARGET = 0.95


@dataclass(frozen=True)
class Recorded:
    """One table configuration as the simulation reads it."""

    epochs: list[tuple[float, ...]]  # each training report's objectives, oriented
    ranked: list[float]  # each training report's ASHA metric, oriented
    final: dict[str, float]  # its final report (validation and test)

    @property
    def cost(self) -> int:
        return max(1, len(self.epochs))


def oriented(metrics, objectives) -> tuple[float, ...]:
    return tuple(metrics[o.metric] * (1 if o.mode == "max" else -1) for o in objectives)


def recorded(configuration: RecordedConfiguration, spec: Spec) -> Recorded:
    objectives, asha = spec.sweep.objectives, spec.sweep.search.asha
    training = [r.metrics for r in configuration.reports if not is_final(r.metrics)]
    sign = 1 if asha.mode == "max" else -1
    return Recorded(
        epochs=[oriented(m, objectives) for m in training],
        ranked=[sign * m[asha.metric] for m in training],
        final=dict(configuration.final),
    )


def reference_point(table: list[Recorded], spec: Spec) -> tuple[float, ...]:
    """The table's worst value of every objective, oriented: each front point lies above it
    on every axis but the worst's own."""
    values = [oriented(r.final, spec.sweep.objectives) for r in table]
    return tuple(min(v[k] for v in values) for k in range(len(spec.sweep.objectives)))


def front_volume(finals: Sequence[dict[str, float]], spec: Spec, reference) -> float:
    return hypervolume([oriented(f, spec.sweep.objectives) for f in finals], reference)


def selected_test(finals: Sequence[dict[str, float]], spec: Spec) -> tuple[float, float]:
    """Test (HM, ECE) of the configuration the spec's rule picks from ``finals``."""
    chosen = select(list(finals), spec.sweep.objectives, spec.sweep.selection).selected
    if chosen is None:
        return math.nan, math.nan
    return finals[chosen]["test_hm"], finals[chosen]["test_ece"]


def one_thread() -> None:
    """A worker process's torch (GP's model) on one thread: the workers share the cores."""
    import torch

    torch.set_num_threads(1)


def simulate(job: tuple[str, str, str, str, int, float]) -> dict:
    """One repetition: (spec, table, sampler, scheduler, seed, budget) -> its history."""
    spec_path, table_path, sampler, scheduler, seed, budget = job
    spec = load_spec(
        spec_path,
        {"search.sampler": sampler, "search.seed": seed, "replay.table": table_path},
    )
    table = read_table(table_path)
    replay = ReplaySpace(spec, table)
    configurations = [recorded(c, spec) for c in table.configurations]
    asha = spec.sweep.search.asha
    rungs = {m: [] for m in milestones(asha.grace_period, asha.reduction_factor, 1000)}
    objectives = spec.sweep.objectives
    study = optuna.create_study(
        directions=["maximize" if o.mode == "max" else "minimize" for o in objectives],
        sampler=create_sampler(spec),
    )
    names = spec.space.names
    paths = {name: path for path, name in names.items()}
    for point in spec.sweep.search.points_to_evaluate:
        values = {names[k]: v for k, v in point.values.items() if k in spec.sweep.space}
        study.enqueue_trial(
            values, user_attrs={POINT_ATTR: point.name, CONSTANTS_ATTR: dict(point.values)}
        )
    define = SpaceSampler(spec)
    reference = reference_point(configurations, spec)
    spent, history, finished = 0, [], []
    while spent < budget:
        trial = study.ask()
        define(trial)
        values = {paths[name]: value for name, value in trial.params.items()}
        answer = replay.answer(values, trial.user_attrs.get(CONSTANTS_ATTR, {}))
        this = configurations[answer.configuration]
        stopped_at = None
        for epoch, (point, ranked) in enumerate(zip(this.epochs, this.ranked, strict=True), 1):
            if scheduler == "none" or epoch not in rungs:
                continue
            others = rungs[epoch]
            if scheduler == "asha":
                goes_on = asha_continues(others, ranked, asha.reduction_factor)
                rungs[epoch].append(ranked)
            else:
                goes_on = moasha_continues(others, point, asha.reduction_factor)
                rungs[epoch].append(point)
            if not goes_on:
                stopped_at = epoch
                break
        spent += this.cost if stopped_at is None else stopped_at
        if stopped_at is None:
            study.tell(trial, [this.final[o.metric] for o in objectives])
            finished.append(this.final)
        else:
            study.tell(trial, state=TrialState.PRUNED)
        history.append(
            {
                "spent": spent,
                "stopped_at": stopped_at,  # the rung's epoch; None: it finished
                "volume": front_volume(finished, spec, reference),
                "test": selected_test(finished, spec),
            }
        )
    return {"sampler": sampler, "scheduler": scheduler, "seed": seed, "history": history}


def at(history: list[dict], budget: float, key: str):
    """The history's value once ``budget`` trial-epochs were spent (a step function)."""
    reached = [h for h in history if h["spent"] <= budget]
    if not reached:
        return 0.0 if key == "volume" else (math.nan, math.nan)
    return reached[-1][key]


def epochs_to(history: list[dict], volume: float) -> float:
    return next((h["spent"] for h in history if h["volume"] >= volume), math.inf)


def summarise(runs: list[dict], whole: float, budget: float) -> dict:
    grid = np.linspace(0, budget, GRID + 1)
    volumes = np.array([[at(r["history"], b, "volume") / whole for b in grid] for r in runs])
    tests = np.array([[at(r["history"], b, "test")[0] for b in grid] for r in runs])
    reach = sorted(epochs_to(r["history"], TARGET * whole) for r in runs)
    return {
        "grid": grid.tolist(),
        "volume_mean": volumes.mean(0).tolist(),
        "volume_low": np.percentile(volumes, 10, axis=0).tolist(),
        "volume_high": np.percentile(volumes, 90, axis=0).tolist(),
        "test_hm_mean": np.nanmean(tests, 0).tolist(),
        "volume_at": {q: float(volumes[:, round(q * GRID)].mean()) for q in (0.25, 0.5, 1.0)},
        "epochs_to_target": statistics.median(reach),
        "reached": sum(math.isfinite(e) for e in reach),
        "final_test": [at(r["history"], budget, "test") for r in runs],
    }


def plot(curves: dict[str, dict], out: Path, target_line: float) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(2, len(SCHEDULERS), figsize=(5 * len(SCHEDULERS), 8), sharey="row")
    for column, scheduler in enumerate(SCHEDULERS):
        top, bottom = axes[0][column], axes[1][column]
        for sampler in SAMPLERS:
            curve = curves.get(f"{sampler}+{scheduler}")
            if curve is None:
                continue
            top.plot(curve["grid"], curve["volume_mean"], label=sampler)
            top.fill_between(curve["grid"], curve["volume_low"], curve["volume_high"], alpha=0.2)
            bottom.plot(curve["grid"], curve["test_hm_mean"], label=sampler)
        top.axhline(TARGET, color="grey", linestyle=":", linewidth=1)
        bottom.axhline(target_line, color="grey", linestyle=":", linewidth=1)
        top.set_title(f"scheduler: {scheduler}")
        bottom.set_xlabel("trial-epochs spent")
        top.legend(loc="lower right")
    axes[0][0].set_ylabel("front hypervolume / table's (mean, 10-90 % band)")
    axes[1][0].set_ylabel("selected configuration's test HM (mean)")
    figure.tight_layout()
    path = out / "curves.png"
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def spread(values: Sequence[float]) -> str:
    values = [v for v in values if v == v]
    if not values:
        return "-"
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.2f} ± {sd:.2f}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("table", help="an `orch table` of the spec's space")
    parser.add_argument("--spec", default="search_spaces/cocoa.yaml")
    parser.add_argument("--seeds", type=int, default=20, help="repetitions per method")
    parser.add_argument(
        "--budget", type=float, default=0.5, help="trial-epochs, as a fraction of the table's"
    )
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=SAMPLERS)
    parser.add_argument("--schedulers", nargs="+", default=list(SCHEDULERS), choices=SCHEDULERS)
    parser.add_argument("--workers", type=int, default=2, help="processes (default 2)")
    parser.add_argument("--out", type=Path, default=Path("search_efficiency"))
    args = parser.parse_args(argv)

    spec = load_spec(args.spec, {"replay.table": args.table})
    table: Table = read_table(args.table)
    print(ReplaySpace(spec, table).check())
    configurations = [recorded(c, spec) for c in table.configurations]
    reference = reference_point(configurations, spec)
    finals = [c.final for c in configurations]
    whole = front_volume(finals, spec, reference)
    budget = args.budget * sum(c.cost for c in configurations)
    best_hm, best_ece = selected_test(finals, spec)
    print(
        f"table: {len(configurations)} configurations, {sum(c.cost for c in configurations)} "
        f"trial-epochs; front hypervolume {whole:.3f} above (HM, -ECE) = {reference}; the "
        f"rule's pick from the whole table: test HM {best_hm:.2f}, ECE {best_ece:.2f}"
    )
    print(f"budget {budget:g} trial-epochs per run, {args.seeds} seeds per method")
    methods = [(s, c) for c in args.schedulers for s in args.samplers]
    seeds = range(args.seeds)
    jobs = [(args.spec, args.table, s, c, seed, budget) for s, c in methods for seed in seeds]
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    runs, started = [], time.monotonic()
    with Pool(args.workers, initializer=one_thread) as pool:
        for run in pool.imap_unordered(simulate, jobs):
            runs.append(run)
            print(
                f"  {len(runs)}/{len(jobs)} runs ({run['sampler']}+{run['scheduler']} seed "
                f"{run['seed']}), {time.monotonic() - started:.0f} s",
                file=sys.stderr,
                flush=True,
            )
    curves = {
        f"{s}+{c}": summarise(
            [r for r in runs if (r["sampler"], r["scheduler"]) == (s, c)], whole, budget
        )
        for s, c in methods
    }
    baseline = curves.get("random+none", {}).get("epochs_to_target", math.nan)
    print(
        "\n| method | HV 25 % | HV 50 % | HV 100 % | epochs to 95 % (reached) | vs random "
        "| selected test HM | selected test ECE |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, curve in curves.items():
        hm = [t[0] for t in curve["final_test"]]
        ece = [t[1] for t in curve["final_test"]]
        ratio = curve["epochs_to_target"] / baseline if baseline else math.nan
        v = curve["volume_at"]
        print(
            f"| {name} | {v[0.25]:.3f} | {v[0.5]:.3f} | {v[1.0]:.3f} | "
            f"{curve['epochs_to_target']:g} ({curve['reached']}/{args.seeds}) | {ratio:.2f} | "
            f"{spread(hm)} | {spread(ece)} |"
        )
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "curves.json").write_text(json.dumps(curves, indent=1))
    print(f"\nplot: {plot(curves, args.out, best_hm)}")
    default = f"{spec.sweep.search.sampler}+{spec.sweep.search.scheduler}"
    curve = curves.get(default)
    if curve is None:
        print(f"search efficiency: the default {default} was not run")
        return 1
    ratio = curve["epochs_to_target"] / baseline if baseline else math.nan
    gap = abs(best_hm - statistics.fmean(t[0] for t in curve["final_test"]))
    print(
        f"search efficiency: {default} reaches 95 % of the front's hypervolume in {ratio:.2f} "
        f"of random search's trial-epochs; selected test HM within {gap:.2f} of the best"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
