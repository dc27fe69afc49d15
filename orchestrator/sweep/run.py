"""One sweep end to end: check, fill the feature cache, search, track, select, summarise."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

import yaml

from orchestrator.report.progress import progress_callback
from orchestrator.report.summary import description, duration
from orchestrator.search.tuner import (
    build_tuner,
    check_cluster_fits,
    ray_init,
    stopped_early,
)
from orchestrator.selection.results import (
    JOURNAL_TAG,
    SEARCHED_TAG,
    SELECTED_PREFIX,
    SweepResult,
    collect,
    tag_selection,
)
from orchestrator.spec.load import Spec
from orchestrator.spec.storage import SweepPaths, resolve_storage, sweep_names
from orchestrator.sweep.fill import fill_feature_cache
from orchestrator.sweep.refit import RefitInterrupted, refit_selected
from orchestrator.tracking.callbacks import mlflow_callback
from orchestrator.tracking.missing import log_missing
from orchestrator.tracking.plots import plot_sweep
from orchestrator.tracking.runs import TIME_BUDGET, TrialRuns
from orchestrator.tracking.uri import check_reachable, resolve_uri, shown_uri, tracking_errors
from orchestrator.tracking.writer import mlflow_writer
from workers.errors import UserError

log = logging.getLogger(__name__)


def sweep_paths(spec: Spec, storage: str, *, resume: bool) -> SweepPaths:
    """A new sweep gets a timestamped folder; ``--resume`` continues the newest one."""
    experiment = spec.sweep.tracking.experiment
    if resume:
        candidates = sweep_names(storage, experiment)
        if not candidates:
            raise UserError(
                f"--resume: no sweep of experiment '{experiment}' under {storage}; "
                "start one without --resume"
            )
        return SweepPaths(storage, candidates[-1])
    return SweepPaths(storage, f"{experiment}-{time.strftime('%Y%m%d-%H%M%S')}")


def start_parent(client, spec: Spec, paths: SweepPaths, experiment_id: str) -> str:
    names = spec.space.names
    run = client.create_run(
        experiment_id,
        run_name=paths.name,
        tags={
            "orch.sweep": paths.name,
            "orch.spec": str(spec.path),
            "orch.sampler": spec.sweep.search.sampler,
            "orch.scheduler": spec.sweep.search.scheduler,
            "orch.objectives": ",".join(str(o) for o in spec.sweep.objectives),
            SEARCHED_TAG: ",".join(names.values()),
            # what each short name stands for: "lr=train.lr,..."
            "orch.param_paths": ",".join(f"{n}={p}" for p, n in names.items() if n != p),
            JOURNAL_TAG: str(paths.journal),
            **({"orch.replay": str(spec.sweep.replay.table)} if spec.sweep.replay.table else {}),
            "mlflow.note.content": f"Sweep of `{spec.path}`: running.",
        },
    )
    run_id = run.info.run_id
    client.log_param(run_id, "num_trials", spec.sweep.search.num_trials)
    client.log_param(run_id, "max_concurrent", spec.sweep.search.max_concurrent)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "spec.yaml"
        path.write_text(yaml.safe_dump(spec.raw, sort_keys=False))
        client.log_artifact(run_id, str(path))
    return run_id


def open_runs(spec: Spec, paths: SweepPaths, uri: str, *, resume: bool) -> TrialRuns:
    """The sweep's experiment and parent run: created, or found again on ``--resume``."""
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=uri)
    name = spec.sweep.tracking.experiment
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    if resume:
        parent = paths.read_state()["parent_run_id"]
        client.set_terminated(parent, status="RUNNING")
    else:
        parent = start_parent(client, spec, paths, experiment_id)
        paths.write_state(
            parent_run_id=parent, tracking_uri=shown_uri(uri), experiment=name, spec=str(spec.path)
        )
    objectives = [o.metric for o in spec.sweep.objectives]
    cell_metrics = spec.sweep.tracking.cell_metrics
    return TrialRuns(
        uri, experiment_id, parent, objectives, spec.space, cell_metrics=cell_metrics,
        fresh=not resume,
    )  # fmt: skip


def gather(
    spec: Spec, runs: TrialRuns, paths: SweepPaths, *, replay: bool, stopped_by: str = "pruned"
) -> SweepResult:
    """The sweep's result as MLflow holds it, after logging whatever MLflow missed."""
    try:
        if replay:
            from orchestrator.search.searcher import ended_trials

            # only a resumed sweep can have orphans: a fresh one's trials are all Tune's
            resumed = not runs.fresh and paths.journal.is_file()
            ended = ended_trials(paths.journal) if resumed else None
            replayed = log_missing(
                runs, paths.experiment, stopped_by=stopped_by, ended_in_study=ended
            )
            if replayed:
                print(f"logged {replayed} trial(s) that MLflow was missing", flush=True)
        return collect(
            runs.client,
            runs.experiment_id,
            runs.parent_run_id,
            spec.sweep.objectives,
            spec.sweep.selection,
            spec.sweep.tracking.experiment,
        )
    except tracking_errors() as exc:
        raise UserError(
            f"MLflow at {shown_uri(runs.uri)} went away during the sweep ({type(exc).__name__}); "
            f"Ray kept every trial's results in {paths.experiment}: once the server is back, "
            f"`orch sweep {spec.path} --resume` logs what is missing"
        ) from None


def mark_interrupted(spec: Spec, runs: TrialRuns, result: SweepResult) -> UserError:
    for trial in result.trials:
        if trial.status == "RUNNING":
            runs.client.set_terminated(trial.run_id, status="KILLED")
    runs.client.set_terminated(runs.parent_run_id, status="KILLED")
    return UserError(f"sweep interrupted; continue it with `orch sweep {spec.path} --resume`")


class Phases:
    """Wall seconds of the driver's phases, logged on the sweep's run as ``time_<phase>_s``:
    where a sweep's time goes besides its trials (``bench/overhead.py`` reads them)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._last = time.perf_counter()

    def done(self, phase: str) -> None:
        now = time.perf_counter()
        self.seconds[phase] = self.seconds.get(phase, 0.0) + now - self._last
        self._last = now


def parent_metrics(result: SweepResult) -> dict[str, float]:
    """The sweep run's numbers: its cost, the front's size, and the selected configuration's
    metrics (validation, test, a refit's) as ``selected_<metric>``, so that sweeps compare
    in MLflow's runs table."""
    metrics = {**result.cost(result.wall_s), "front_size": float(len(result.front))}
    chosen = result.selected
    for key, value in (chosen.metrics if chosen else {}).items():
        if not key.startswith(("loss", "pi_", "cost_", "stage", "pool_")):
            metrics[SELECTED_PREFIX + key] = value
    return metrics


def finish_parent(
    spec: Spec, runs: TrialRuns, result: SweepResult, phases: Phases | None = None
) -> None:
    from mlflow.entities import Metric

    tag_selection(runs.client, result)
    started = runs.client.get_run(runs.parent_run_id).info.start_time / 1000
    result.wall_s = time.time() - started
    now = int(time.time() * 1000)
    metrics = [Metric(k, v, now, 0) for k, v in parent_metrics(result).items() if v == v]
    runs.client.log_batch(runs.parent_run_id, metrics=metrics)
    cost = result.cost(result.wall_s)
    note = description(result, spec=str(spec.path), cost=f"{duration(cost['cost_wall_s'])} wall")
    runs.client.set_tag(runs.parent_run_id, "mlflow.note.content", note)
    with tempfile.TemporaryDirectory() as folder:
        for path in plot_sweep(result, Path(folder)):
            runs.client.log_artifact(runs.parent_run_id, str(path))
    if phases is not None:
        phases.done("finish")
        for phase, seconds in phases.seconds.items():
            runs.client.log_metric(runs.parent_run_id, f"time_{phase}_s", seconds)
    runs.client.set_terminated(runs.parent_run_id, status="FINISHED")


def run_sweep(
    spec: Spec,
    *,
    tracking_uri: str | None = None,
    resume: bool = False,
    storage: str | None = None,
    ray_address: str | None = None,
) -> SweepResult:
    phases = Phases()
    uri = resolve_uri(tracking_uri or spec.sweep.tracking.uri)
    check_reachable(uri)
    # a lost server should cost seconds per call, not MLflow's default minutes of retries
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # each retry would be a log line
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)  # "Creating tables"
    paths = sweep_paths(spec, resolve_storage(storage or spec.sweep.storage.path), resume=resume)
    phases.done("checks")
    ray_init(ray_address)  # before anything is written: a bad address leaves no trace
    check_cluster_fits(spec)
    phases.done("ray_start")
    if resume and not paths.has_state():
        raise UserError(f"--resume: {paths.experiment} has no sweep state; start a new sweep")
    if not spec.sweep.replay.table:  # a replay reads no features
        fill_feature_cache(spec)  # before MLflow: an interrupted or failed fill leaves no run
    phases.done("fill")
    runs = open_runs(spec, paths, uri, resume=resume)
    budget = None
    if spec.sweep.search.time_budget_s:
        from orchestrator.search.budget import TimeBudget

        budget = TimeBudget(spec.sweep.search.time_budget_s)
    callbacks = [
        mlflow_callback(runs, budget),
        progress_callback(
            spec.sweep.search.num_trials,
            spec.space,
            budget,
            max_failures=spec.sweep.search.max_failures,
            objectives=spec.sweep.objective_names,
        ),
    ]
    tuner = build_tuner(spec, paths, callbacks, resume=resume, budget=budget)
    phases.done("mlflow_setup")
    try:
        tuner.fit()
        interrupted = stopped_early(paths)
    except KeyboardInterrupt:
        interrupted = True
    finally:
        mlflow_writer().drain()  # what follows reads MLflow
    phases.done("trials")
    spent = budget is not None and budget.spent
    stopped_by = TIME_BUDGET if spent else "pruned"
    result = gather(spec, runs, paths, replay=not interrupted, stopped_by=stopped_by)
    if interrupted or any(t.status == "RUNNING" for t in result.trials):
        raise mark_interrupted(spec, runs, result)
    phases.done("gather")
    if spent:
        result.ended_by = f"its time budget of {budget.seconds:g} s"
        runs.client.set_tag(runs.parent_run_id, "ended_by", "time budget")
    if spec.sweep.selection.split == "pseudo_new":
        try:
            refit_selected(spec, runs, paths, result)
        except (KeyboardInterrupt, RefitInterrupted):
            raise mark_interrupted(spec, runs, result) from None
        except UserError as exc:  # the selection stands; --resume refits again
            tag_selection(runs.client, result)
            runs.client.set_tag(runs.parent_run_id, "error", str(exc)[:4000])
            note = description(result, spec=str(spec.path)) + f"\n**The refit failed**: {exc}\n"
            runs.client.set_tag(runs.parent_run_id, "mlflow.note.content", note)
            runs.client.set_terminated(runs.parent_run_id, status="FAILED")
            raise
        phases.done("refit")
    finish_parent(spec, runs, result, phases)
    return result
