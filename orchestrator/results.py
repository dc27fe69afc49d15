"""A sweep's trials as MLflow recorded them, and the selection over them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from orchestrator.selection import Objective, SelectionRule, select


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

    def as_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "name": self.name,
            "status": self.status,
            "params": self.params,
            "metrics": self.metrics,
            "pareto": self.pareto,
            "selected": self.selected,
            "pruned": self.tags.get("pruned") == "true",
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

    @property
    def selected(self) -> TrialRecord | None:
        return next((t for t in self.trials if t.selected), None)

    def as_json(self) -> dict[str, Any]:
        chosen = self.selected
        return {
            "experiment": self.experiment,
            "parent_run_id": self.parent_run_id,
            "objectives": [o.model_dump() for o in self.objectives],
            "rule": self.rule.describe(),
            "trials": [t.as_json() for t in self.trials],
            "selected": chosen.run_id if chosen else None,
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
