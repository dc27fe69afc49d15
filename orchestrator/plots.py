"""The sweep's figures: reliability diagrams per trial, the Pareto front, objectives vs params."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from workers.messages import ReliabilityDiagram

if TYPE_CHECKING:
    from orchestrator.results import SweepResult


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def reliability_png(diagram: ReliabilityDiagram, path: Path) -> None:
    plt = _pyplot()
    edges = diagram.edges
    centers = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
    width = edges[1] - edges[0]
    fig, ax = plt.subplots(figsize=(4, 4))
    filled = [c > 0 for c in diagram.counts]
    ax.bar(
        [c for c, f in zip(centers, filled, strict=True) if f],
        [a for a, f in zip(diagram.accuracy, filled, strict=True) if f],
        width=width * 0.9,
        color="tab:blue",
        edgecolor="black",
        label="accuracy",
    )
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    title = f"{diagram.subset} classes ({diagram.split})"
    ax.set(xlabel="confidence", ylabel="accuracy", xlim=(0, 1), ylim=(0, 1), title=title)
    ax.legend(loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def plot_sweep(result: SweepResult, folder: Path, params: Sequence[str]) -> list[Path]:
    """A Pareto plot (HM vs ECE) and each objective against each of ``params`` (MLflow names
    of the searched settings)."""
    plt = _pyplot()
    finished = [t for t in result.trials if t.finished]
    paths = []
    # the first objective up, the second across (hm and ece unless the protocol's differ)
    y_key = result.objectives[0].metric
    x_key = result.objectives[1].metric if len(result.objectives) > 1 else "ece"
    finished = [t for t in finished if y_key in t.metrics and x_key in t.metrics]
    fig, ax = plt.subplots(figsize=(6, 4.5))
    ax.scatter(
        [t.metrics[x_key] for t in finished],
        [t.metrics[y_key] for t in finished],
        color="lightgray",
        edgecolor="gray",
        label="trial",
    )
    front = sorted((t for t in finished if t.pareto), key=lambda t: t.metrics[x_key])
    ax.plot(
        [t.metrics[x_key] for t in front],
        [t.metrics[y_key] for t in front],
        "o-",
        color="tab:blue",
        label="Pareto front",
    )
    if result.selected and result.selected in finished:
        ax.scatter(
            [result.selected.metrics[x_key]],
            [result.selected.metrics[y_key]],
            marker="*",
            s=250,
            color="tab:red",
            zorder=5,
            label="selected",
        )
    ax.set(
        xlabel=f"{x_key} (validation)",
        ylabel=f"{y_key} (validation)",
        title=result.experiment,
    )
    ax.legend()
    fig.tight_layout()
    paths.append(folder / "pareto.png")
    fig.savefig(paths[-1], dpi=90)
    plt.close(fig)

    if not params:  # a sweep of named points only
        return paths
    metrics = [o.metric for o in result.objectives]
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
            if pairs and all(_is_number(p) for p, _ in pairs):
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
