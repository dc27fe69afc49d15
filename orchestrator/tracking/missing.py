"""What writes to MLflow the trials its live callback missed: a tracking server that went
away, a driver killed before its writes were made, and trials a killed driver finished after
its last state save.

Those last ones (orphans) are unknown to the experiment a resumed sweep restores, so Tune
never calls back for them, yet the Optuna journal holds how they ended: asked for and told in
the killed session. Optuna's word is kept: an orphan the journal holds finished (complete or
pruned) stays a configuration in MLflow. Where MLflow's copy is unfinished, it is written from
the trial's folder if Ray synced its ``result.json`` there before the kill, else it ends
KILLED with the epochs it has, tagged ``stopped_by: driver killed`` (so does one whose folder
stops short of the end Optuna heard). An orphan the journal holds failed, or running, leaves
no run, as it would have had it never started. A named point (the zero-shot reference, say)
that ended as an orphan is not asked for again, so dropping its run would drop it from the
sweep.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.tracking.records import trial_number
from orchestrator.tracking.runs import STOPPED_BY, TrialRuns
from workers.messages import TrialRequest, is_final

COMPLETE_IN_MLFLOW = ("FINISHED", "KILLED")  # KILLED: stopped early, tagged why
DRIVER_KILLED = "driver killed"  # an orphan whose last results never reached MLflow


@dataclass(frozen=True)
class RecordedTrial:
    """A trial as Ray left it on disk or in its experiment state, and its reported results."""

    trial_id: str
    config: dict[str, Any]
    status: str  # Ray's: TERMINATED or ERROR
    history: list[dict[str, Any]] = field(default_factory=list)
    checkpoint: Any = None  # a ray.tune.Checkpoint, or None
    error_file: str | None = None

    @property
    def last_result(self) -> dict[str, Any]:
        return self.history[-1] if self.history else {}


def log_missing(
    runs: TrialRuns,
    experiment_path: str,
    *,
    stopped_by: str = "pruned",
    ended_in_study: Mapping[str, str] | None = None,
) -> int:
    """Write to MLflow whatever Ray holds for the sweep's trials and MLflow lacks: runs never
    created, epochs never logged, runs never finished (a trial stopped before its end is
    tagged ``stopped_by``). ``ended_in_study`` (Ray trial id -> the Optuna state it ended in,
    ``searcher.ended_trials``) settles the orphans. Returns how many runs it touched."""
    from ray.tune import ExperimentAnalysis

    analysis = ExperimentAnalysis(experiment_path)
    existing = runs.children()
    touched = 0
    for trial in analysis.trials:
        found = existing.get(trial.trial_id)
        if found is not None and found.info.status != "RUNNING":
            continue  # complete (finished, pruned or failed)
        if trial.status not in ("TERMINATED", "ERROR"):
            continue  # unfinished: an interrupted sweep, resumed later
        if found is None and trial.status == "TERMINATED" and not trial.last_result:
            continue  # stopped before it started (the time budget ran out): nothing to log
        history = analysis.trial_dataframes.get(trial.trial_id)
        rows = history.to_dict("records") if history is not None else []
        recorded = RecordedTrial(trial.trial_id, trial.config, trial.status, rows,
                                 trial.checkpoint, getattr(trial, "error_file", None))  # fmt: skip
        _log(runs, recorded, found, trial.last_result or {}, stopped_by)
        touched += 1
    if ended_in_study is not None:
        known = {trial.trial_id for trial in analysis.trials}
        touched += settle_orphans(
            runs, Path(experiment_path), known, ended_in_study, stopped_by, existing=existing
        )
    return touched


def settle_orphans(
    runs: TrialRuns,
    experiment: Path,
    known: set[str],
    ended_in_study: Mapping[str, str],
    stopped_by: str = "pruned",
    *,
    existing: Mapping[str, Any] | None = None,
) -> int:
    """MLflow's runs of trials the restored experiment does not know, made to agree with the
    Optuna journal (the module's docstring); ``existing``: ``runs.children()``, where the
    caller has it (the runs made since are of known trials). Returns how many runs it wrote
    or dropped."""
    touched = 0
    existing = runs.children() if existing is None else existing
    for trial_id, state in ended_in_study.items():
        found = existing.get(trial_id)
        if trial_id in known:
            continue
        if found is not None and found.info.status in COMPLETE_IN_MLFLOW:
            print(f"kept trial {trial_id}: it ended ({state}) after the killed driver's last "
                  "state save, so the resumed sweep did not know it", flush=True)  # fmt: skip
            continue
        touched += 1
        recorded = trial_on_disk(experiment, trial_id)
        if recorded is not None and recorded.history:
            print(f"logging trial {trial_id}: it ended ({state}) after the killed driver's "
                  "last state save, so the resumed sweep did not know it", flush=True)  # fmt: skip
            # a folder synced before the trial's end holds fewer results than Optuna heard
            stopped = stopped_by if state == "PRUNED" else DRIVER_KILLED
            _log(runs, recorded, found, recorded.last_result, stopped)
        elif found is not None:
            # Ray's results of it stayed in the killed driver's staging folder: MLflow keeps
            # the epochs it got, ended as what it is, never on the front
            print(f"warning: trial {trial_id} ended ({state}) after the killed driver's last "
                  "state save, before its last results reached MLflow; its run ends KILLED, "
                  f"tagged {STOPPED_BY}={DRIVER_KILLED}", flush=True)  # fmt: skip
            _end_unfinished(runs, found.info.run_id)
        else:
            print(f"warning: trial {trial_id} ended ({state}) in the Optuna journal but left "
                  f"no run in MLflow and no results under {experiment}", flush=True)  # fmt: skip
    for trial_id, run in existing.items():
        if trial_id not in known and trial_id not in ended_in_study:
            _drop(runs, run.info.run_id)  # started, never finished, failed: Optuna says FAIL
            touched += 1
    return touched


def trial_on_disk(experiment: Path, trial_id: str) -> RecordedTrial | None:
    """A trial's folder under the experiment, as Ray's driver wrote it: ``params.json``, one
    JSON line per result in ``result.json``, its ``checkpoint_<n>`` folders."""
    folders = [p for p in experiment.glob(f"*_{trial_id}_*") if (p / "params.json").is_file()]
    if len(folders) != 1:
        return None
    (folder,) = folders
    config = json.loads((folder / "params.json").read_text())
    lines = (
        (folder / "result.json").read_text().splitlines()
        if (folder / "result.json").is_file()
        else []
    )
    history = [json.loads(line) for line in lines if line.strip()]
    saved = sorted(folder.glob("checkpoint_*"), key=lambda p: p.name)
    checkpoint = None
    if saved:
        from ray.tune import Checkpoint

        checkpoint = Checkpoint.from_directory(str(saved[-1]))
    return RecordedTrial(trial_id, config, "TERMINATED", history, checkpoint)


def _log(runs: TrialRuns, trial: RecordedTrial, found, last: dict, stopped_by: str) -> None:
    request = TrialRequest.from_ray(trial.config)
    number = trial_number(trial)
    run_id = found.info.run_id if found else runs.create(trial.trial_id, request, number)
    logged = runs.logged_points(run_id) if found else set()
    cell_runs = {k: r.info.run_id for k, r in (runs.cells(run_id) if found else {}).items()}
    for row in trial.history:
        runs.log_result(run_id, row, skip=logged, cfg=request.config())
        if runs.cell_epochs or is_final(row):
            runs.log_cells(run_id, request, row, cell_runs, replay=True)
    if trial.status == "ERROR":
        runs.fail(run_id, trial.error_file)
    else:
        runs.finish(run_id, request, last, trial.checkpoint, stopped_by=stopped_by)


def _end_unfinished(runs: TrialRuns, run_id: str) -> None:
    from mlflow.entities import RunTag

    for target in [*(r.info.run_id for r in runs.cells(run_id).values()), run_id]:
        runs.client.log_batch(target, tags=[RunTag(STOPPED_BY, DRIVER_KILLED)])
        runs.client.set_terminated(target, status="KILLED")


def _drop(runs: TrialRuns, run_id: str) -> None:
    for cell in runs.cells(run_id).values():
        runs.client.delete_run(cell.info.run_id)
    runs.client.delete_run(run_id)
