"""The MLflow runs of a sweep, three levels deep: the sweep's parent run, one run per
configuration (a Ray trial: its metrics are means over cells) under it, and one run per cell
(a dataset and a seed: its own metrics) under each configuration run; or, with
``tracking.cell_metrics: one_run``, one run under each configuration holding its cells' last
metrics as ``cells/<dataset>/seed<k>/<metric>`` (the configuration runs, which `orch report`
reads, stay small).

Configuration runs carry the trial's Ray id as a tag and cell runs their cell, so a resumed
sweep finds and finishes the runs it already made instead of writing a second copy; MLflow's
tags are the truth.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from orchestrator.spec.space import SearchSpace, planned_epochs, stage
from orchestrator.tracking.plots import reliability_png
from orchestrator.tracking.records import (
    cell_results,
    epoch_metrics,
    error_line,
    reported,
    result_step,
    run_name,
    trial_params,
)
from workers.config import TrialConfig
from workers.messages import CELLS, CHECKPOINT, FINAL, CellResult, TrialRequest, is_final
from workers.protocol import Cell

TRIAL_ID_TAG = "ray_trial_id"
TRIAL_NUMBER_TAG = "orch.trial_number"  # its Optuna trial number: "#3" is "Trial 3" there
INACTIVE_TAG = "orch.inactive"  # searched settings this configuration never sampled
CELL_TAG = "orch.cell"
STOPPED_BY = "stopped_by"  # why a configuration ended before its last epoch
TIME_BUDGET = "time budget"
# what only a trial's last report adds; its validation metrics repeat its last epoch's
FINAL_ONLY = ("test_", "cost_", "pool_new_class_overlap")
CELL_METRIC_PREFIX = "cells/"  # a cell's metric on its configuration's one cells run
ONE_RUN = "one_run"  # tracking.cell_metrics: a configuration's cells in one run
ALL_CELLS = "all"  # that run's key among a configuration's cells, and its ALL_CELLS_TAG
ALL_CELLS_TAG = "orch.cells"


class TrialRuns:
    """The child runs of one sweep, keyed by Ray trial id."""

    def __init__(
        self,
        uri: str,
        experiment_id: str,
        parent_run_id: str,
        objectives: list[str],
        space: SearchSpace | None = None,
        *,
        cell_metrics: str = "every_epoch",
        fresh: bool = False,
    ) -> None:
        from mlflow.tracking import MlflowClient

        self.uri = uri
        self.experiment_id, self.parent_run_id = experiment_id, parent_run_id
        self.objectives = objectives  # a configuration whose objective is not finite failed
        self.space = space or SearchSpace()  # the sweep's searched dimensions
        self.cell_metrics = cell_metrics  # tracking.cell_metrics
        # the parent run was made by this process: no child of it predates this one, so a
        # trial's run need not be looked up before it is made
        self.fresh = fresh
        self.client = MlflowClient(tracking_uri=uri)
        # configuration runs made by this process, and their one cells runs (one_run): what
        # MLflow holds under them is known without asking
        self._made: dict[str, str] = {}  # configuration run id -> its name
        self._cells_run: dict[str, Any] = {}  # configuration run id -> its cells run
        self._cells_logged: dict[str, set[str]] = {}  # cells run id -> metric keys sent

    def __getstate__(self) -> dict:
        # Tune pickles the sweep's callbacks, this with them, and a resumed sweep runs the
        # restored copy: it must look in MLflow again, not trust what it knew when pickled
        return {**self.__dict__, "fresh": False, "_made": {}, "_cells_run": {}, "_cells_logged": {}}

    @property
    def cell_epochs(self) -> bool:
        """Cells get every epoch (else their configuration's last result only)."""
        return self.cell_metrics == "every_epoch"

    @property
    def cell_runs(self) -> bool:
        """A cell is a run of its own (else metrics of its configuration's one cells run)."""
        return self.cell_metrics != ONE_RUN

    def children(self, trial_id: str | None = None) -> dict:
        """Trial id -> MLflow run, for every child run (or the one of ``trial_id``)."""
        query = f"tags.mlflow.parentRunId = '{self.parent_run_id}'"
        if trial_id:
            query += f" and tags.{TRIAL_ID_TAG} = '{trial_id}'"
        found = self.client.search_runs(
            [self.experiment_id], filter_string=query, max_results=10000
        )
        return {r.data.tags[TRIAL_ID_TAG]: r for r in found if TRIAL_ID_TAG in r.data.tags}

    def create(self, trial_id: str, request: TrialRequest, number: int | None = None) -> str:
        unsampled = self.space.unsampled(request.config().flat())
        skipped = [self.space.names[path] for path in unsampled]
        run = self.client.create_run(
            self.experiment_id,
            run_name=run_name(request, self.space, number),
            tags={
                "mlflow.parentRunId": self.parent_run_id,
                TRIAL_ID_TAG: trial_id,
                **({TRIAL_NUMBER_TAG: str(number)} if number is not None else {}),
                **({"point": request.point} if request.point else {}),
                **({INACTIVE_TAG: ",".join(skipped)} if skipped else {}),
            },
        )
        from mlflow.entities import Param

        params = [Param(k, str(v)) for k, v in trial_params(request, self.space).items()]
        self.client.log_batch(run.info.run_id, params=params)  # one request, not one a param
        self._made[run.info.run_id] = run.info.run_name
        return run.info.run_id

    def cells(self, config_run_id: str) -> dict[str, Any]:
        """Cell key -> MLflow run, for the cell runs under one configuration run (with
        ``one_run``: ALL_CELLS -> its one cells run, once made)."""
        if not self.cell_runs and config_run_id in self._made:
            made = self._cells_run.get(config_run_id)
            return {ALL_CELLS: made} if made else {}
        found = self.client.search_runs(
            [self.experiment_id],
            filter_string=f"tags.mlflow.parentRunId = '{config_run_id}'",
            max_results=10000,
        )
        tag = CELL_TAG if self.cell_runs else ALL_CELLS_TAG
        return {r.data.tags[tag]: r for r in found if tag in r.data.tags}

    def create_cell(
        self, config_run_id: str, cell: Cell, metrics: list | None = None, tags: dict | None = None
    ) -> str:
        """A cell's run, its params and its first ``metrics`` (and ``tags``) in two requests."""
        from mlflow.entities import Param, RunTag

        run = self.client.create_run(
            self.experiment_id,
            run_name=f"{cell.dataset} seed {cell.seed}",
            tags={
                "mlflow.parentRunId": config_run_id,
                CELL_TAG: cell.key,
                "dataset": cell.dataset,
                "seed": str(cell.seed),
            },
        )
        params = [Param("data.dataset", cell.dataset), Param("train.seed", str(cell.seed))]
        extra = [RunTag(k, v) for k, v in (tags or {}).items()]
        self.client.log_batch(run.info.run_id, metrics=metrics or [], params=params, tags=extra)
        return run.info.run_id

    def log_result(
        self,
        run_id: str,
        result: dict[str, Any],
        skip: set | None = None,
        *,
        step: int | None = None,
        cfg: TrialConfig | None = None,
    ) -> None:
        """One reported result as metrics at its epoch (or ``step``); ``skip`` holds (key,
        step) already logged, so a replay never writes a point twice.

        Every metric has one point per epoch: the last report adds its test metrics and its
        final cost at its last epoch's step (that epoch's own cost is left to it), and its
        validation metrics only where they are not the last epoch's already. With
        ``cfg`` (the configuration's), each epoch also gets ``stage`` (1 prompt, 2 weights).
        """
        batch = self.metric_batch(run_id, result, skip, step=step, cfg=cfg)
        if batch:  # one request per result, not one per metric
            self.client.log_batch(run_id, metrics=batch)

    def metric_batch(
        self,
        run_id: str | None,
        result: dict[str, Any],
        skip: set | None = None,
        *,
        step: int | None = None,
        cfg: TrialConfig | None = None,
    ) -> list:
        """``log_result``'s metrics, unsent; ``run_id`` None: a run that has none yet."""
        from mlflow.entities import Metric

        step = result_step(result) if step is None else step
        metrics = epoch_metrics(result)
        if is_final(result):  # its validation metrics where its last epoch left other ones
            logged = self.client.get_run(run_id).data.metrics if run_id else {}
            metrics = {
                k: v
                for k, v in metrics.items()
                if k.startswith(FINAL_ONLY) or not math.isclose(logged.get(k, math.nan), v)
            }
        else:
            last = cfg is not None and step == planned_epochs(cfg.flat())
            drop = ("test_", "cost_") if last else ("test_",)
            metrics = {k: v for k, v in metrics.items() if not k.startswith(drop)}
            if cfg is not None:
                metrics["stage"] = float(stage(cfg, step))
        now = int(time.time() * 1000)
        return [
            Metric(key, value, now, step)
            for key, value in metrics.items()
            if value == value and (key, step) not in (skip or ())
        ]

    def log_cells(
        self,
        config_run_id: str,
        request: TrialRequest,
        result: dict[str, Any],
        cell_runs: dict[str, str],
        *,
        replay: bool = False,
        tags: dict[str, str] | None = None,
    ) -> None:
        """Each cell's numbers of one result into its own run, made on first sight;
        ``cell_runs`` (cell key -> run id) is updated in place. ``tags`` go on the runs made
        here. With ``cell_epochs`` off, only a configuration's last result reaches its cells
        (``finish`` hands it over)."""
        step, final = result_step(result), is_final(result)
        if not self.cell_runs:  # one_run: written once, by the configuration's finish
            return
        cfg = request.config()  # once: building it validates the whole trial
        for cell in cell_results(result):
            run_id = cell_runs.get(cell.cell.key)
            metrics = {**cell.metrics, FINAL: int(final)}
            if run_id is None:
                batch = self.metric_batch(None, metrics, step=step, cfg=cfg)
                run_id = self.create_cell(config_run_id, cell.cell, batch, tags)
                cell_runs[cell.cell.key] = run_id
                continue
            skip = self.logged_points(run_id) if replay else None
            self.log_result(run_id, metrics, skip, step=step, cfg=cfg)

    def _log_cells_in_one_run(
        self, config_run_id: str, result: dict[str, Any], step: int, found: Any | None
    ) -> Any:
        """Each cell's metrics of one result as ``cells/<cell>/<metric>`` of the
        configuration's one cells run (``found``, or made now), in batches of MLflow's 1,000
        metrics a request, leaving out the keys a killed driver's finish logged already.
        -> that run."""
        from mlflow.entities import Metric

        if found is None:
            label = self._made.get(config_run_id)
            label = label or self.client.get_run(config_run_id).info.run_name
            found = self.client.create_run(
                self.experiment_id,
                run_name=f"{label} cells",
                tags={"mlflow.parentRunId": config_run_id, ALL_CELLS_TAG: ALL_CELLS},
            )
            self._cells_run[config_run_id] = found
        logged = self._cells_logged.setdefault(found.info.run_id, set(found.data.metrics))
        now = int(time.time() * 1000)
        batch = [
            Metric(f"{CELL_METRIC_PREFIX}{cell.cell.key}/{name}", float(value), now, step)
            for cell in cell_results(result)
            for name, value in cell.metrics.items()
            if isinstance(value, int | float) and value == value
            and f"{CELL_METRIC_PREFIX}{cell.cell.key}/{name}" not in logged
        ]  # fmt: skip
        for start in range(0, len(batch), 1000):
            self.client.log_batch(found.info.run_id, metrics=batch[start : start + 1000])
        logged.update(m.key for m in batch)
        return found

    def last_step(self, run_id: str) -> int:
        """The highest step of the run's first objective in MLflow (-1: none yet)."""
        history = self.client.get_metric_history(run_id, self.objectives[0])
        return max((m.step for m in history), default=-1)

    def logged_points(self, run_id: str) -> set[tuple[str, int]]:
        keys = self.client.get_run(run_id).data.metrics
        return {(key, m.step) for key in keys for m in self.client.get_metric_history(run_id, key)}

    def finish(
        self,
        run_id: str,
        request: TrialRequest,
        result: dict,
        checkpoint,
        *,
        stopped_by: str = "pruned",
    ) -> None:
        """A completed trial: its final artifacts, or, when it was stopped before its end
        (ASHA pruned it, or the sweep's time budget ran out), the tag ``stopped_by``.

        A configuration whose objective came out NaN or infinite ends FAILED with the reason
        in its ``error`` tag: it never enters the front.
        """
        final = is_final(result)
        stopped = {STOPPED_BY: stopped_by, **({"pruned": "true"} if stopped_by == "pruned" else {})}
        cells = self.cells(run_id)
        if not self.cell_runs:  # its cells' only record: this last result, in one run
            made = self._log_cells_in_one_run(
                run_id, result, result_step(result), cells.get(ALL_CELLS)
            )
            cells = {ALL_CELLS: made}
        elif not self.cell_epochs:  # its cells' only record: this last result
            # only the cells not made yet: a driver killed halfway through this made some
            missing = [c for c in cell_results(result) if c.cell.key not in cells]
            if missing:
                made: dict[str, str] = {}
                rest = {**result, CELLS: [c.to_dict() for c in missing]}
                self.log_cells(run_id, request, rest, made, tags=None if final else stopped)
                cells = self.cells(run_id)
        if not final:
            from mlflow.entities import RunTag

            for run in [*cells.values(), None]:
                target = run.info.run_id if run else run_id
                self.client.log_batch(target, tags=[RunTag(k, v) for k, v in stopped.items()])
                self.client.set_terminated(target, status="KILLED")
            return
        self.client.set_tag(run_id, "node", result.get("node", "unknown"))
        self._artifacts(run_id, request, checkpoint)
        cfg = request.config()
        for cell in cell_results(result):
            if cell.cell.key in cells:
                self._cell_artifacts(cells[cell.cell.key].info.run_id, cfg, cell)
                self.client.set_terminated(cells[cell.cell.key].info.run_id, status="FINISHED")
        if ALL_CELLS in cells:  # one_run
            self.client.set_terminated(cells[ALL_CELLS].info.run_id, status="FINISHED")
        bad = [m for m in self.objectives if not math.isfinite(reported(result, m, math.nan))]
        if bad:
            values = ", ".join(f"{m}={result.get(m)}" for m in bad)
            self.client.set_tag(run_id, "error", f"objective not finite: {values}")
            self.client.set_terminated(run_id, status="FAILED")
            return
        self.client.set_terminated(run_id, status="FINISHED")

    def fail(self, run_id: str, error_file: str | None) -> None:
        """A trial that raised: its exception's line in the ``error`` tag (its own and its
        cells'), the whole traceback as the artifact ``error.txt``."""
        text = "unknown error"
        if error_file and Path(error_file).is_file():
            text = Path(error_file).read_text()
        summary = error_line(text)
        for run in [*self.cells(run_id).values(), None]:
            target = run.info.run_id if run else run_id
            self.client.set_tag(target, "error", summary)
            self.client.set_terminated(target, status="FAILED")
        with tempfile.TemporaryDirectory() as folder:
            (Path(folder) / "error.txt").write_text(text)
            self.client.log_artifact(run_id, str(Path(folder) / "error.txt"))

    def _cell_artifacts(self, run_id: str, cfg: TrialConfig, cell: CellResult) -> None:
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder)
            config = cell.cell.config(cfg).to_dict()
            (out / "trial_config.json").write_text(json.dumps(config, indent=2))
            for split in dict.fromkeys(d.split for d in cell.reliability):
                diagrams = [d for d in cell.reliability if d.split == split]
                reliability_png(diagrams, out / f"reliability_{split}.png")
            self.client.log_artifacts(run_id, str(out))

    def _artifacts(self, run_id: str, request: TrialRequest, checkpoint) -> None:
        with tempfile.TemporaryDirectory() as folder:
            out = Path(folder)
            config = {**request.config().to_dict(), "protocol": request.protocol.to_dict()}
            (out / "trial_config.json").write_text(json.dumps(config, indent=2))
            if checkpoint is not None:
                with checkpoint.as_directory() as ckpt:
                    if (Path(ckpt) / CHECKPOINT).is_file():
                        (out / "prompt_state.pt").write_bytes(
                            (Path(ckpt) / CHECKPOINT).read_bytes()
                        )
            self.client.log_artifacts(run_id, str(out))
