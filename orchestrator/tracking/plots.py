"""The sweep's figures: reliability diagrams per cell, the Pareto front, objectives vs params.

Saved at 150 dpi, so that they stay sharp when the MLflow UI or a screen shows them at 2x.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from workers.messages import ReliabilityDiagram

if TYPE_CHECKING:
    from orchestrator.selection.results import SweepResult, TrialRecord

DPI = 150
SPLITS = {"val": "validation", "test": "test"}


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


def reliability_png(diagrams: Sequence[ReliabilityDiagram], path: Path) -> None:
    """One split's diagrams side by side (base and new classes): accuracy per confidence bin
    against the diagonal, the gap shaded, ECE in the title, and each bin's count below."""
    plt = _pyplot()
    fig, axes = plt.subplots(
        2,
        len(diagrams),
        figsize=(4.2 * len(diagrams), 5.2),
        squeeze=False,
        gridspec_kw={"height_ratios": [3, 1]},
        sharex="col",
    )
    for col, diagram in enumerate(diagrams):
        top, bottom = axes[0][col], axes[1][col]
        edges = diagram.edges
        centers = [(a + b) / 2 for a, b in zip(edges[:-1], edges[1:], strict=True)]
        width = edges[1] - edges[0]
        filled = [i for i, c in enumerate(diagram.counts) if c > 0]
        top.bar(
            [centers[i] for i in filled],
            [diagram.accuracy[i] for i in filled],
            width=width * 0.9,
            color="tab:blue",
            edgecolor="black",
            label="accuracy",
        )
        top.bar(  # the gap between confidence and accuracy: what ECE averages
            [centers[i] for i in filled],
            [diagram.confidence[i] - diagram.accuracy[i] for i in filled],
            bottom=[diagram.accuracy[i] for i in filled],
            width=width * 0.9,
            color="tab:red",
            alpha=0.3,
            edgecolor="tab:red",
            label="gap to confidence",
        )
        top.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
        split = SPLITS.get(diagram.split, diagram.split)
        top.set(ylabel="accuracy", xlim=(0, 1), ylim=(0, 1))
        top.set_title(f"{diagram.subset} classes, {split}: ECE {diagram.ece:.2f} %")
        top.legend(loc="upper left", fontsize=8)
        bottom.bar(centers, diagram.counts, width=width * 0.9, color="gray")
        for x, count in zip(centers, diagram.counts, strict=True):
            if count:
                bottom.annotate(
                    str(count), (x, count), ha="center", va="bottom", fontsize=7,
                    xytext=(0, 1), textcoords="offset points",
                )  # fmt: skip
        bottom.set(xlabel="confidence", ylabel="images", xlim=(0, 1))
        bottom.set_ylim(0, max([1, *diagram.counts]) * 1.3)
    # fixed margins (inches) where tight_layout measured every text: a third of the time
    width = 4.2 * len(diagrams)
    fig.subplots_adjust(
        left=0.65 / width, right=1 - 0.2 / width, top=1 - 0.4 / 5.2, bottom=0.55 / 5.2,
        wspace=0.35, hspace=0.08,
    )  # fmt: skip
    fig.savefig(path, dpi=DPI)
    plt.close(fig)


def _scatter_panel(ax, result: SweepResult, prefix: str, title: str) -> None:
    """The first objective against the second (HM against ECE unless the protocol's differ;
    ``prefix`` "" validation, "test_" test) for the finished trials, the front (of the
    validation metrics) joined and labelled, and the selection."""
    names = [o.metric for o in result.objectives] + ["ece"]
    hm, ece = prefix + names[0], prefix + names[1]
    finished = [t for t in result.trials if t.finished and hm in t.metrics and ece in t.metrics]
    ax.scatter(
        [t.metrics[ece] for t in finished],
        [t.metrics[hm] for t in finished],
        color="lightgray",
        edgecolor="gray",
        label="configuration",
    )
    front = sorted((t for t in finished if t.pareto), key=lambda t: t.metrics[names[1]])
    ax.plot(
        [t.metrics[ece] for t in front],
        [t.metrics[hm] for t in front],
        "o-" if not prefix else "o",
        color="tab:blue",
        label="Pareto front (validation)",
    )
    labelled: list[TrialRecord] = [*front, *(t for t in finished if t.tags.get("point"))]
    for trial in {t.run_id: t for t in labelled}.values():
        ax.annotate(
            trial.label,
            (trial.metrics[ece], trial.metrics[hm]),
            xytext=(5, 4),
            textcoords="offset points",
            fontsize=8,
        )
    chosen = result.selected
    if chosen is not None and hm in chosen.metrics:
        ax.scatter(
            [chosen.metrics[ece]],
            [chosen.metrics[hm]],
            marker="*",
            s=250,
            color="tab:red",
            zorder=5,
            label=f"selected ({chosen.label})",
        )
    rule = result.rule
    if rule.rule == "constrained" and rule.bound_metric == names[1] and not prefix:
        bound = f"{names[1]} <= {rule.bound:g}"
        ax.axvline(rule.bound, color="tab:red", linestyle=":", label=bound)
        ax.axvspan(rule.bound, max([rule.bound, *ax.get_xlim()]), color="tab:red", alpha=0.06)
    what = "validation, lower is better" if not prefix else "test, lower is better"
    ax.set(
        xlabel=f"{names[1]} (%, {what})",
        ylabel=f"{names[0]} (%, {what.split(',')[0]})",
        title=title,
    )
    ax.legend(fontsize=8)


def plot_sweep(result: SweepResult, folder: Path) -> list[Path]:
    """A Pareto plot (validation, the rule's bound drawn; test beside) and each objective
    against each searched setting (``result.searched``), over the trials that sampled it."""
    plt = _pyplot()
    paths = []
    fig, axes = plt.subplots(1, 2, figsize=(12, 5))
    _scatter_panel(axes[0], result, "", f"{result.experiment}: validation (selects)")
    _scatter_panel(axes[1], result, "test_", "test (reported, never selects)")
    fig.tight_layout()
    paths.append(folder / "pareto.png")
    fig.savefig(paths[-1], dpi=DPI)
    plt.close(fig)

    params = result.searched
    if not params:  # a sweep of named points only
        return paths
    finished = [t for t in result.trials if t.finished]
    metrics = [o.metric for o in result.objectives]
    fig, axes = plt.subplots(
        len(metrics), len(params), figsize=(3.4 * len(params), 3 * len(metrics)), squeeze=False
    )
    for row, metric in enumerate(metrics):
        for col, param in enumerate(params):
            ax = axes[row][col]
            pairs = [  # a trial that did not sample the setting has no value for it
                (t.params[param], t.metrics[metric])
                for t in finished
                if param in t.params and metric in t.metrics
            ]
            if pairs and all(_is_number(p) for p, _ in pairs):
                xs = [float(p) for p, _ in pairs]
                ax.scatter(xs, [m for _, m in pairs], color="tab:blue")
                if min(xs) > 0 and max(xs) / min(xs) > 30:
                    ax.set_xscale("log")
            elif pairs:
                labels = sorted({p for p, _ in pairs})
                ax.scatter(
                    [labels.index(p) for p, _ in pairs], [m for _, m in pairs], color="tab:blue"
                )
                ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right", fontsize=7)
            skipped = len([t for t in finished if param not in t.params])
            note = f" ({skipped} not sampled)" if skipped else ""
            ax.set(xlabel=param + note, ylabel=metric)
    fig.tight_layout()
    paths.append(folder / "objectives_vs_params.png")
    fig.savefig(paths[-1], dpi=DPI)
    plt.close(fig)
    return paths
