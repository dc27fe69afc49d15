"""The Ray Tune callback that mirrors every trial into MLflow (what it missed, a resumed
sweep writes: ``missing.py``; progress lines: ``progress.py``)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from orchestrator.tracking.records import result_step, trial_number
from orchestrator.tracking.runs import TIME_BUDGET, TrialRuns
from orchestrator.tracking.uri import tracking_errors
from orchestrator.tracking.writer import mlflow_writer
from workers.messages import TrialRequest, is_final

if TYPE_CHECKING:
    from orchestrator.search.budget import TimeBudget

log = logging.getLogger(__name__)


def _request(trial) -> TrialRequest:
    return TrialRequest.from_ray(trial.config)


@dataclass(frozen=True)
class TrialSeen:
    """What a Tune callback saw of a trial when it was called: Tune goes on changing its
    trial objects while the writer thread logs what was seen."""

    trial_id: str
    config: dict[str, Any]
    last_result: dict[str, Any]
    checkpoint: Any  # a ray.tune.Checkpoint, or None
    error_file: str | None

    @classmethod
    def of(cls, trial) -> TrialSeen:
        return cls(
            trial.trial_id,
            trial.config,
            dict(trial.last_result or {}),
            trial.checkpoint,
            getattr(trial, "error_file", None),
        )


def mlflow_callback(runs: TrialRuns, budget: TimeBudget | None = None):
    """A Tune callback that mirrors every trial into a child run, live.

    A trial stopped before its end is tagged ``stopped_by``: ``time budget`` once ``budget``
    is spent, else ``pruned`` (ASHA); one the budget stopped before it started leaves no run.

    If the tracking server goes away, the callback says so once and stops calling it; the
    trials go on (Ray keeps their results) and ``missing.log_missing`` writes what MLflow
    lacks once the server is back.

    The calls are made by the process's MLflow writer thread (``writer.py``), in order, so
    that no trial's next epoch waits on them; Tune's saves of the experiment's state wait for
    the writes (``get_state``), so MLflow is never behind what a resumed sweep restores.

    Each epoch is logged once. A trial retried after a failure (its node died, say) goes on
    from its last registered checkpoint, and Tune registers a checkpoint only after the
    result that carries it reached the driver: an epoch reported just before the failure is
    trained and reported again (with the same numbers, from the same state) and not logged
    twice.
    """
    from ray.tune import Callback

    errors = tracking_errors()
    writer = mlflow_writer()

    class MlflowTrials(Callback):
        # every attribute but `writer` is read and written by the writer thread only
        def __init__(self) -> None:
            self.by_trial: dict[str, str] = {}  # a cache: MLflow's tags are the truth
            self.cell_runs: dict[str, dict[str, str]] = {}  # trial id -> cell key -> run id
            self.frozen: set[str] = set()  # trials whose runs were already complete
            self.last: dict[str, dict] = {}
            self.logged_step: dict[str, int] = {}  # trial id -> the last step in MLflow
            self.lost: str | None = None  # why the tracking server stopped answering

        # Tuner.restore brings back the callbacks pickled with the experiment, so their state
        # may be stale: run ids are looked up again in MLflow.
        def __getstate__(self) -> dict:
            return {}

        def __setstate__(self, state: dict) -> None:
            self.__init__()

        def get_state(self) -> None:
            """Tune calls this just before it saves the experiment's state: the writes wait
            no longer, so a driver killed after the save left in MLflow all the save holds."""
            writer.drain()
            return None

        def _guard(self, action) -> None:
            writer.submit(lambda: self._logged(action))

        def _logged(self, action) -> None:
            if self.lost:
                return
            try:
                action()
            except errors as exc:
                self.lost = type(exc).__name__
                log.debug("tracking call failed", exc_info=True)
                print(
                    f"warning: MLflow at {runs.uri} stopped answering; the trials go on and "
                    "the runs it misses are logged when the sweep is resumed",
                    flush=True,
                )

        def run_id(self, trial) -> str:
            run_id = self.by_trial.get(trial.trial_id)
            if run_id is not None:
                return run_id
            # a fresh sweep's trial has no run yet, unless this process made it
            found = None if runs.fresh else runs.children(trial.trial_id).get(trial.trial_id)
            cells: dict[str, str] = {}
            if found is None:
                run_id = runs.create(trial.trial_id, _request(trial), trial_number(trial))
            else:  # resumed: the run and its cells' runs exist, reuse them
                run_id = found.info.run_id
                cells = {key: run.info.run_id for key, run in runs.cells(run_id).items()}
                self.logged_step[trial.trial_id] = runs.last_step(run_id)
                if found.info.status == "FINISHED":
                    # finished after the killed driver's last state save: Tune reruns it,
                    # MLflow keeps the first, complete record
                    self.frozen.add(trial.trial_id)
                else:
                    for target in [run_id, *cells.values()]:
                        runs.client.set_terminated(target, status="RUNNING")
            self.by_trial[trial.trial_id] = run_id
            self.cell_runs[trial.trial_id] = cells
            return run_id

        def on_trial_start(self, iteration, trials, trial, **info):
            seen = TrialSeen.of(trial)
            self._guard(lambda: self.run_id(seen))

        def on_trial_result(self, iteration, trials, trial, result, **info):
            trial, result = TrialSeen.of(trial), dict(result)

            def log() -> None:
                run_id = self.run_id(trial)
                step = result_step(result)
                # an epoch retried from an earlier checkpoint is logged already; the final
                # report shares its last epoch's step and adds the test metrics to it
                if step <= self.logged_step.get(trial.trial_id, -1) and not is_final(result):
                    return
                if trial.trial_id not in self.frozen:
                    self.last[trial.trial_id] = result
                    self.logged_step[trial.trial_id] = step
                    request = _request(trial)
                    runs.log_result(run_id, result, cfg=request.config())
                    cells = self.cell_runs.setdefault(trial.trial_id, {})
                    # one_run: a configuration's cells are written by its finish
                    if runs.cell_runs and (runs.cell_epochs or is_final(result)):
                        runs.log_cells(run_id, request, result, cells)

            self._guard(log)

        def on_trial_complete(self, iteration, trials, trial, **info):
            trial = TrialSeen.of(trial)
            stopped_by = TIME_BUDGET if budget is not None and budget.spent else "pruned"

            def log() -> None:
                never_started = trial.trial_id not in self.by_trial and not trial.last_result
                if never_started and not runs.children(trial.trial_id):
                    return
                run_id = self.run_id(trial)
                if trial.trial_id not in self.frozen:
                    result = self.last.get(trial.trial_id) or trial.last_result or {}
                    runs.finish(
                        run_id, _request(trial), result, trial.checkpoint, stopped_by=stopped_by
                    )

            self._guard(log)

        def on_trial_error(self, iteration, trials, trial, **info):
            trial = TrialSeen.of(trial)

            def log() -> None:
                run_id = self.run_id(trial)
                if trial.trial_id not in self.frozen:
                    runs.fail(run_id, trial.error_file)

            self._guard(log)

        def on_experiment_end(self, trials, **info):
            # trials a killed driver finished after its last state save are unknown here:
            # the sweep settles them with the Optuna journal once this returns (missing.py)
            writer.drain()

    return MlflowTrials()
