"""Leak-free selection's last step: the selected configuration refit on every base class.

With ``selection.split: pseudo_new`` no trial of the sweep reads anything of the real new
classes. Once the selection is made, the selected configuration is trained again on all base
classes of every cell (a one-trial Tune run of its own, whose MLflow run and cell runs nest
under the selected configuration's run) and evaluated once on the real base and new test
split. Its test metrics, logged on the selected configuration's run as ``refit_test_*``, are
the sweep's reported result.
"""

from __future__ import annotations

import dataclasses
import math
import time

from orchestrator.report.progress import progress_callback
from orchestrator.search.tuner import STOP_REQUESTED, placed_trainable
from orchestrator.selection.results import SweepResult
from orchestrator.spec.load import Spec
from orchestrator.spec.storage import SweepPaths
from orchestrator.tracking.callbacks import mlflow_callback
from orchestrator.tracking.records import epoch_metrics
from orchestrator.tracking.runs import TRIAL_ID_TAG, TrialRuns
from orchestrator.tracking.writer import mlflow_writer
from workers.errors import UserError
from workers.messages import TrialRequest, is_final

REFIT_POINT = "refit"  # the refit run's name starts "refit: "
REFIT_TAG = "orch.refit_run_id"  # on the selected configuration's run
PREFIX = "refit_"


class RefitInterrupted(Exception):
    """Ctrl-C or SIGTERM while the refit ran: the sweep ends KILLED, --resume refits again."""


def refit_request(paths: SweepPaths, trial_id: str) -> TrialRequest:
    """The selected trial's request, on the real base and new classes."""
    from ray.tune import ExperimentAnalysis

    trial = next(t for t in ExperimentAnalysis(paths.experiment).trials if t.trial_id == trial_id)
    request = TrialRequest.from_ray(trial.config)
    protocol = dataclasses.replace(request.protocol, split="val")
    return dataclasses.replace(request, point=REFIT_POINT, protocol=protocol)


def _drop_unfinished(refit_runs: TrialRuns) -> None:
    """An interrupted refit's runs: replaced by the new refit's."""
    for run in refit_runs.children().values():
        for cell in refit_runs.cells(run.info.run_id).values():
            refit_runs.client.delete_run(cell.info.run_id)
        refit_runs.client.delete_run(run.info.run_id)


def refit_selected(spec: Spec, runs: TrialRuns, paths: SweepPaths, result: SweepResult) -> None:
    """Refit the selected configuration (once: a resumed sweep skips a finished refit) and
    add its ``refit_test_*`` metrics to the selected trial's record and run."""
    from ray import tune
    from ray.tune import RunConfig, TuneConfig, Tuner
    from ray.tune.logger import CSVLoggerCallback, JsonLoggerCallback

    chosen = result.selected
    if chosen is None or f"{PREFIX}test_hm" in chosen.metrics:
        return
    request = refit_request(paths, chosen.tags[TRIAL_ID_TAG])
    refit_runs = TrialRuns(
        runs.uri, runs.experiment_id, chosen.run_id, runs.objectives, runs.space,
        cell_metrics=runs.cell_metrics,
    )  # fmt: skip
    _drop_unfinished(refit_runs)
    cells = len(request.cells())
    print(f"refitting the selected configuration on all base classes ({cells} cell(s))...")
    tuner = Tuner(
        placed_trainable(spec),
        param_space=request.to_ray(),
        tune_config=TuneConfig(num_samples=1),
        run_config=RunConfig(
            name=f"{paths.name}-refit-{time.strftime('%Y%m%d-%H%M%S')}",
            storage_path=paths.storage,
            callbacks=[
                mlflow_callback(refit_runs),
                progress_callback(
                    1,
                    runs.space,
                    max_failures=spec.sweep.search.max_failures,
                    objectives=spec.sweep.objective_names,
                ),
                JsonLoggerCallback(),
                CSVLoggerCallback(),
            ],
            failure_config=tune.FailureConfig(max_failures=spec.sweep.search.max_failures),
            verbose=0,
        ),
    )
    try:
        outcome = tuner.fit()[0]
    finally:
        mlflow_writer().drain()  # what follows reads and writes MLflow
    if outcome.error is not None:
        last = str(outcome.error).strip().splitlines()[-1][:300]
        raise UserError(
            f"the refit of the selected configuration failed: {last}; fix the cause and run "
            f"`orch sweep {spec.path} --resume` to refit again (the selection stands)"
        )
    if STOP_REQUESTED.is_set() or not is_final(outcome.metrics or {}):
        raise RefitInterrupted()
    refit = {
        PREFIX + key: value
        for key, value in epoch_metrics(outcome.metrics).items()
        if key.startswith(("test_", "cost_")) and math.isfinite(value)
    }
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    batch = [Metric(key, value, now, 0) for key, value in refit.items()]
    runs.client.log_batch(chosen.run_id, metrics=batch)
    made = refit_runs.children()
    if made:
        runs.client.set_tag(chosen.run_id, REFIT_TAG, next(iter(made.values())).info.run_id)
    chosen.metrics.update(refit)
