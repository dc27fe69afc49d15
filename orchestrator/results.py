"""A sweep's trials as MLflow recorded them, the selection over them, and its plots."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from orchestrator.selection import Objective, SelectionRule, select
from workers.config import FINAL_KEY


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
        return self.status == "FINISHED" and FINAL_KEY in self.metrics

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
            "objectives": [{"metric": m, "mode": d} for m, d in self.objectives],
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
    finished = [t for t in trials if t.finished]
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


def plot_sweep(result: SweepResult, folder: Path) -> list[Path]:
    """A Pareto plot (HM vs ECE) and each objective against w, d, lambda, outlier_vocab."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    finished = [t for t in result.trials if t.finished]
    paths = []
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter(
        [t.metrics["ece"] for t in finished],
        [t.metrics["hm"] for t in finished],
        color="lightgray",
        edgecolor="gray",
        label="trial",
    )
    front = sorted((t for t in finished if t.pareto), key=lambda t: t.metrics["ece"])
    ax.plot(
        [t.metrics["ece"] for t in front],
        [t.metrics["hm"] for t in front],
        "o-",
        color="tab:blue",
        label="Pareto front",
    )
    if result.selected:
        ax.scatter(
            [result.selected.metrics["ece"]],
            [result.selected.metrics["hm"]],
            marker="*",
            s=250,
            color="tab:red",
            zorder=5,
            label="selected",
        )
    ax.set(
        xlabel="ECE (%, validation, lower is better)",
        ylabel="HM (%, validation)",
        title=result.experiment,
    )
    ax.legend()
    fig.tight_layout()
    paths.append(folder / "pareto.png")
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)

    params = ("w", "d", "lambda", "outlier_vocab")
    metrics = [m for m, _ in result.objectives]
    fig, axes = plt.subplots(
        len(metrics), len(params), figsize=(3.2 * len(params), 2.8 * len(metrics)), squeeze=False
    )
    for row, metric in enumerate(metrics):
        for col, param in enumerate(params):
            ax = axes[row][col]
            pairs = [
                (t.params.get(param), t.metrics.get(metric))
                for t in finished
                if param in t.params and metric in t.metrics
            ]
            if pairs and param != "outlier_vocab":
                ax.scatter([float(p) for p, _ in pairs], [m for _, m in pairs], color="tab:blue")
            elif pairs:
                labels = sorted({p for p, _ in pairs})
                ax.scatter(
                    [labels.index(p) for p, _ in pairs], [m for _, m in pairs], color="tab:blue"
                )
                ax.set_xticks(range(len(labels)), labels, rotation=30, fontsize=7)
            ax.set(xlabel=param, ylabel=metric)
    fig.tight_layout()
    paths.append(folder / "objectives_vs_params.png")
    fig.savefig(paths[-1], dpi=80)
    plt.close(fig)
    return paths
