"""Ray Tune callbacks of the driver: every trial mirrored into MLflow, and progress lines."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from orchestrator.runs import TIME_BUDGET, TrialRuns, error_line, result_step, run_name
from orchestrator.tracking import tracking_errors
from workers.messages import TrialRequest, is_final

if TYPE_CHECKING:
    from orchestrator.budget import TimeBudget

log = logging.getLogger(__name__)


def _request(trial) -> TrialRequest:
    return TrialRequest.from_ray(trial.config)


def mlflow_callback(runs: TrialRuns, budget: TimeBudget | None = None):
    """A Tune callback that mirrors every trial into a child run, live.

    A trial stopped before its end is tagged ``stopped_by``: ``time budget`` once ``budget``
    is spent, else ``pruned`` (ASHA); one the budget stopped before it started leaves no run.

    If the tracking server goes away, the callback says so once and stops calling it; the
    trials go on (Ray keeps their results) and ``log_missing`` writes what MLflow lacks once
    the server is back.

    Each epoch is logged once. A trial retried after a failure (its node died, say) goes on
    from its last registered checkpoint, and Tune registers a checkpoint only after the
    result that carries it reached the driver: an epoch reported just before the failure is
    trained and reported again (with the same numbers, from the same state) and not logged
    twice.
    """
    from ray.tune import Callback

    errors = tracking_errors()

    class MlflowTrials(Callback):
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

        def _guard(self, action) -> None:
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
            found = runs.children(trial.trial_id).get(trial.trial_id)
            cells: dict[str, str] = {}
            if found is None:
                run_id = runs.create(trial.trial_id, _request(trial))
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
            self._guard(lambda: self.run_id(trial))

        def on_trial_result(self, iteration, trials, trial, result, **info):
            def log() -> None:
                run_id = self.run_id(trial)
                step = result_step(result)
                if step <= self.logged_step.get(trial.trial_id, -1):
                    return  # an epoch retried from an earlier checkpoint: logged already
                if trial.trial_id not in self.frozen:
                    self.last[trial.trial_id] = result
                    self.logged_step[trial.trial_id] = step
                    runs.log_result(run_id, result)
                    cells = self.cell_runs.setdefault(trial.trial_id, {})
                    runs.log_cells(run_id, _request(trial), result, cells)

            self._guard(log)

        def on_trial_complete(self, iteration, trials, trial, **info):
            def log() -> None:
                never_started = trial.trial_id not in self.by_trial and not trial.last_result
                if never_started and not runs.children(trial.trial_id):
                    return
                run_id = self.run_id(trial)
                if trial.trial_id not in self.frozen:
                    result = self.last.get(trial.trial_id) or trial.last_result or {}
                    stopped_by = TIME_BUDGET if budget is not None and budget.spent else "pruned"
                    runs.finish(
                        run_id, _request(trial), result, trial.checkpoint, stopped_by=stopped_by
                    )

            self._guard(log)

        def on_trial_error(self, iteration, trials, trial, **info):
            def log() -> None:
                run_id = self.run_id(trial)
                if trial.trial_id not in self.frozen:
                    runs.fail(run_id, trial.error_file)

            self._guard(log)

        def on_experiment_end(self, trials, **info):
            """A trial started just before a killed driver's last state save is unknown to the
            restored experiment (Tune starts a fresh one instead): drop its orphaned run."""
            known = {t.trial_id for t in trials}

            def drop() -> None:
                for trial_id, run in runs.children().items():
                    if trial_id not in known:
                        for cell in runs.cells(run.info.run_id).values():
                            runs.client.delete_run(cell.info.run_id)
                        runs.client.delete_run(run.info.run_id)
                        self.by_trial.pop(trial_id, None)

            self._guard(drop)

    return MlflowTrials()


def progress_callback(
    total: int,
    budget: TimeBudget | None = None,
    max_failures: int = 0,
    objectives: Sequence[str] = ("hm", "ece"),
):
    """One line per trial event (``total`` trials; the first two ``objectives`` shown): the
    live view of the sweep. A trial that failed and is retried (at most ``max_failures``
    times) gets one line naming why."""
    first, second = [*objectives, "ece"][:2]
    from ray.tune import Callback

    class Progress(Callback):
        def __init__(self) -> None:
            self.number: dict[str, int] = {}

        def label(self, trial) -> str:
            n = self.number.setdefault(trial.trial_id, len(self.number) + 1)
            return f"[{n:>2}/{total}] {run_name(_request(trial))[:60]:<60}"

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if is_final(result):
                return
            a, b = result.get(first, float("nan")), result.get(second, float("nan"))
            print(
                f"{self.label(trial)} epoch {int(result.get('epoch', 0)):>3}  "
                f"{first} {a:6.2f}  {second} {b:6.2f}  RUNNING",
                flush=True,
            )

        def on_trial_complete(self, iteration, trials, trial, **info):
            last = trial.last_result or {}
            if not last:
                return  # the time budget ran out before it started
            stopped = "STOPPED (time budget)" if budget is not None and budget.spent else "PRUNED"
            status = "DONE" if is_final(last) else stopped
            print(
                f"{self.label(trial)} {status}  {first} {last.get(first, float('nan')):6.2f}  "
                f"{second} {last.get(second, float('nan')):6.2f}",
                flush=True,
            )

        def on_trial_recover(self, iteration, trials, trial, **info):
            error = trial.error_file
            why = error_line(Path(error).read_text()) if error and Path(error).is_file() else ""
            print(
                f"{self.label(trial)} RETRY {trial.num_failures} of {max_failures} from its "
                f"last checkpoint, after: {why[:200]}",
                flush=True,
            )

        def on_trial_error(self, iteration, trials, trial, **info):
            print(f"{self.label(trial)} FAILED (see the MLflow run's 'error' tag)", flush=True)

    return Progress()
