"""One sweep end to end: check, fill the feature cache, search, track, select, summarise."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from pathlib import Path

import yaml

from orchestrator.results import SweepResult, collect, plot_sweep, tag_selection
from orchestrator.selection import SelectionRule
from orchestrator.spec import Spec
from orchestrator.storage import SweepPaths, resolve_storage, sweep_names
from orchestrator.tracking import (
    TrialRuns,
    check_reachable,
    log_missing,
    make_callback,
    resolve_uri,
    tracking_errors,
)
from orchestrator.tuner import build_tuner, cache_fill_configs, fill, ray_init
from workers.errors import UserError

log = logging.getLogger(__name__)


def rule_of(spec: Spec) -> SelectionRule:
    s = spec.sweep.selection
    return SelectionRule(
        rule=s.rule, metric=s.metric, mode=s.mode, bound_metric=s.bound_metric, bound=s.bound
    )


def objectives_of(spec: Spec) -> list[tuple[str, str]]:
    return [(o.metric, o.mode) for o in spec.sweep.objectives]


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
    run = client.create_run(
        experiment_id,
        run_name=paths.name,
        tags={
            "orch.sweep": paths.name,
            "orch.spec": str(spec.path),
            "orch.sampler": spec.sweep.search.sampler,
            "orch.scheduler": spec.sweep.search.scheduler,
            "orch.objectives": ",".join(f"{o.metric}:{o.mode}" for o in spec.sweep.objectives),
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


def run_sweep(
    spec: Spec,
    *,
    tracking_uri: str | None = None,
    resume: bool = False,
    storage: str | None = None,
    ray_address: str | None = None,
    cache_dir: str | None = None,
) -> SweepResult:
    from mlflow.tracking import MlflowClient

    uri = resolve_uri(tracking_uri or spec.sweep.tracking.uri)
    check_reachable(uri)
    # a lost server should cost seconds per call, not MLflow's default minutes of retries
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    logging.getLogger("urllib3").setLevel(logging.ERROR)  # each retry would be a log line
    paths = sweep_paths(spec, resolve_storage(storage or spec.sweep.storage.path), resume=resume)
    client = MlflowClient(tracking_uri=uri)
    ray_init(ray_address)  # before anything is written: a bad address leaves no trace
    if resume and not paths.has_state():
        raise UserError(f"--resume: {paths.experiment} has no sweep state; start a new sweep")

    name = spec.sweep.tracking.experiment
    experiment = client.get_experiment_by_name(name)
    experiment_id = experiment.experiment_id if experiment else client.create_experiment(name)
    if resume:
        parent = paths.read_state()["parent_run_id"]
        client.set_terminated(parent, status="RUNNING")
    else:
        parent = start_parent(client, spec, paths, experiment_id)
        paths.write_state(
            parent_run_id=parent, tracking_uri=uri, experiment=name, spec=str(spec.path)
        )

    import ray

    configs = cache_fill_configs(spec)
    print(f"filling the feature cache for {len(configs)} episode(s)...", flush=True)
    resources = spec.sweep.resources
    ray.get(
        ray.remote(fill)
        .options(num_cpus=resources.cpu, num_gpus=resources.gpu)
        .remote(configs, cache_dir)
    )

    runs = TrialRuns(spec, uri, experiment_id, parent)
    callback = make_callback(runs)
    tuner = build_tuner(
        spec, paths, [callback, progress_callback(spec)], resume=resume, cache_dir=cache_dir
    )
    interrupted = False
    try:
        tuner.fit()
    except KeyboardInterrupt:
        interrupted = True
    try:
        if not interrupted:
            replayed = log_missing(runs, paths.experiment)
            if replayed:
                print(f"logged {replayed} trial(s) that MLflow was missing", flush=True)
        result = collect(client, experiment_id, parent, objectives_of(spec), rule_of(spec), name)
    except tracking_errors() as exc:
        raise UserError(
            f"MLflow at {uri} went away during the sweep ({type(exc).__name__}); "
            f"Ray kept every trial's results in {paths.experiment}: once the server is back, "
            f"`orch sweep {spec.path} --resume` logs what is missing"
        ) from None
    if interrupted or any(t.status == "RUNNING" for t in result.trials):
        for trial in result.trials:
            if trial.status == "RUNNING":
                client.set_terminated(trial.run_id, status="KILLED")
        client.set_terminated(parent, status="KILLED")
        raise UserError(f"sweep interrupted; continue it with `orch sweep {spec.path} --resume`")
    tag_selection(client, result)
    with tempfile.TemporaryDirectory() as folder:
        for path in plot_sweep(result, Path(folder)):
            client.log_artifact(parent, str(path))
    client.set_terminated(parent, status="FINISHED")
    return result


def progress_callback(spec: Spec):
    """One line per trial event: the live view of the sweep in the terminal."""
    from ray.tune import Callback

    from orchestrator.tracking import run_name

    total = spec.sweep.search.num_trials

    class Progress(Callback):
        def __init__(self) -> None:
            self.number: dict[str, int] = {}

        def label(self, trial) -> str:
            n = self.number.setdefault(trial.trial_id, len(self.number) + 1)
            return f"[{n:>2}/{total}] {run_name(dict(trial.config))[:60]:<60}"

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if result.get("final"):
                return
            hm, ece = result.get("hm", float("nan")), result.get("ece", float("nan"))
            print(
                f"{self.label(trial)} epoch {int(result.get('epoch', 0)):>3}  "
                f"hm {hm:6.2f}  ece {ece:6.2f}  RUNNING",
                flush=True,
            )

        def on_trial_complete(self, iteration, trials, trial, **info):
            last = trial.last_result or {}
            status = "DONE" if "test_hm" in last else "PRUNED"
            print(
                f"{self.label(trial)} {status}  hm {last.get('hm', float('nan')):6.2f}  "
                f"ece {last.get('ece', float('nan')):6.2f}",
                flush=True,
            )

        def on_trial_error(self, iteration, trials, trial, **info):
            print(f"{self.label(trial)} FAILED (see the MLflow run's 'error' tag)", flush=True)

    return Progress()
