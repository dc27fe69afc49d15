"""A sweep's trials as MLflow recorded them, and the selection over them."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

from orchestrator.selection.rule import Objective, SelectionRule, select

SEARCHED_TAG = "orch.searched"  # on the sweep's run: the searched settings' short names
JOURNAL_TAG = "orch.optuna_journal"  # on the sweep's run: the Optuna study's journal file
# the parent run's copy of the selected configuration's numbers: selected_hm, selected_test_hm
SELECTED_PREFIX = "selected_"


@dataclass
class TrialRecord:
    run_id: str
    name: str
    status: str
    params: dict[str, str]
    metrics: dict[str, float]
    tags: dict[str, str]
    pareto: bool = False
    selected: bool = False

    @property
    def finished(self) -> bool:
        return self.status == "FINISHED"  # pruned runs end KILLED, failed ones FAILED

    @property
    def label(self) -> str:
        """``coop`` for a named point, else ``#3`` (Trial 3 of the Optuna study)."""
        number = self.tags.get("orch.trial_number")
        return self.tags.get("point") or (f"#{number}" if number else self.name)

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "label": self.label,
            "name": self.name,
            "status": self.status,
            "params": self.params,
            "metrics": self.metrics,
            "pareto": self.pareto,
            "selected": self.selected,
            "pruned": self.tags.get("pruned") == "true",
            "stopped_by": self.tags.get("stopped_by"),
            "node": self.tags.get("node"),
        }


@dataclass
class SweepResult:
    experiment: str
    parent_run_id: str
    objectives: list[Objective]
    rule: SelectionRule
    trials: list[TrialRecord] = field(default_factory=list)
    reason: str = ""
    ended_by: str = ""  # set when the sweep ended before its last trial: "its time budget ..."
    wall_s: float = math.nan  # from the sweep's start to its end (or now, while it runs)
    experiment_id: str = ""
    searched: list[str] = field(default_factory=list)  # short names, in the spec's order
    journal: str = ""  # the Optuna study's journal file, where the sweep wrote one

    @property
    def front(self) -> list[TrialRecord]:
        """The front's configurations, best first on the first objective."""
        first = self.objectives[0]
        sign = -1 if first.mode == "max" else 1
        front = [t for t in self.trials if t.pareto]
        return sorted(front, key=lambda t: sign * t.metrics.get(first.metric, math.nan))

    @property
    def references(self) -> list[TrialRecord]:
        """Finished named points off the front (the zero-shot and CoOp references)."""
        return [t for t in self.trials if t.finished and not t.pareto and t.tags.get("point")]

    @property
    def selected(self) -> TrialRecord | None:
        return next((t for t in self.trials if t.selected), None)

    def cost(self, wall_s: float) -> dict[str, float]:
        """The sweep's cost: ``wall_s`` and the sum over its configuration runs (finished,
        stopped or failed, with a refit's) of their cell-seconds and GPU-seconds."""
        total = {"cost_wall_s": wall_s, "cost_cell_s": 0.0, "cost_gpu_s": 0.0}
        for trial in self.trials:
            for key in ("cost_cell_s", "cost_gpu_s"):
                for name in (key, "refit_" + key):
                    value = trial.metrics.get(name, 0.0)
                    total[key] += value if math.isfinite(value) else 0.0
        replayed = [t.metrics.get("cost_replayed_s", math.nan) for t in self.trials]
        replayed = [v for v in replayed if math.isfinite(v)]
        if replayed:  # a replayed sweep: the training time its table stood in for
            total["cost_replayed_s"] = sum(replayed)
        return total

    def as_json(self) -> dict[str, Any]:
        chosen = self.selected
        return {
            "experiment": self.experiment,
            "parent_run_id": self.parent_run_id,
            "objectives": [o.model_dump() for o in self.objectives],
            "rule": self.rule.describe(),
            "reason": self.reason,
            "searched": self.searched,
            "front_size": len(self.front),
            "trials": [t.as_json() for t in self.trials],
            "selected": chosen.run_id if chosen else None,
            "refit": {k: v for k, v in chosen.metrics.items() if k.startswith("refit_")}
            if chosen
            else {},
        }


def collect(
    client,
    experiment_id: str,
    parent_run_id: str,
    objectives: list[Objective],
    rule: SelectionRule,
    experiment: str,
) -> SweepResult:
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{parent_run_id}'",
        max_results=10000,
        order_by=["attributes.start_time ASC"],
    )
    trials = [
        TrialRecord(
            r.info.run_id,
            r.info.run_name or r.info.run_id,
            r.info.status,
            dict(r.data.params),
            dict(r.data.metrics),
            dict(r.data.tags),
        )
        for r in runs
    ]
    result = SweepResult(experiment, parent_run_id, objectives, rule, trials)
    parent = client.get_run(parent_run_id)
    started, ended = parent.info.start_time, parent.info.end_time or time.time() * 1000
    result.wall_s = (ended - started) / 1000
    tags = parent.data.tags
    if tags.get("ended_by") == "time budget":
        result.ended_by = "its time budget"
    result.experiment_id = experiment_id
    result.searched = [n for n in tags.get(SEARCHED_TAG, "").split(",") if n]
    result.journal = tags.get(JOURNAL_TAG, "")
    # a finished trial enters the front only with every objective a finite number
    finished = [
        t
        for t in trials
        if t.finished and all(math.isfinite(t.metrics.get(o.metric, math.nan)) for o in objectives)
    ]
    chosen = select([t.metrics for t in finished], objectives, rule)
    for i in chosen.front:
        finished[i].pareto = True
    if chosen.selected is not None:
        finished[chosen.selected].selected = True
    result.reason = chosen.reason
    return result


def tag_selection(client, result: SweepResult) -> None:
    for trial in result.trials:
        client.set_tag(trial.run_id, "pareto", str(trial.pareto).lower())
        client.set_tag(trial.run_id, "selected", str(trial.selected).lower())
    chosen = result.selected
    client.set_tag(result.parent_run_id, "selection_rule", result.rule.describe())
    if chosen:
        client.set_tag(result.parent_run_id, "selected_run_id", chosen.run_id)
