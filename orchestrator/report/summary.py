"""A sweep's result as tables: the Pareto front (validation, test beside, the searched
settings as columns) and its references, for the terminal (wrapped to a width) and as the
markdown of the sweep run's MLflow description.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from orchestrator.selection.results import SweepResult, TrialRecord
from orchestrator.tracking.links import compare_link, run_link, runs_link

WIDTH = 120  # the terminal report's widest line, unless --wide
BASE_TO_NEW = (("hm", "hm"), ("ece", "ece"), ("base_acc", "base"), ("new_acc", "new"))
TRANSFER = (("hm", "hm"), ("ece", "ece"), ("source_acc", "source"), ("target_acc", "target"))
INCREMENTAL = (
    ("acc_avg", "acc avg"),
    ("ece_last", "ece last"),
    ("acc_last", "acc last"),
    ("pd", "drop"),
)
SPREAD = ("hm", "ece", "acc_avg", "ece_last")  # the metrics whose spread over cells is recorded


@dataclass(frozen=True)
class Column:
    header: str
    cells: list[str]
    right: bool = True  # numbers align right, names left

    @property
    def width(self) -> int:
        return max([len(self.header), *(len(c) for c in self.cells)])

    def cell(self, text: str) -> str:
        return f"{text:>{self.width}}" if self.right else f"{text:<{self.width}}"


def duration(seconds: float) -> str:
    """``"1 h 4 min"``, ``"6 min 1 s"``, ``"47 s"``; ``"?"`` when unknown."""
    if not math.isfinite(seconds):
        return "?"
    minutes, rest = divmod(round(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes} min"
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def shown_metrics(result: SweepResult) -> tuple[tuple[str, str], ...]:
    kinds = {t.params.get("protocol.kind") for t in result.trials}
    if "incremental" in kinds:
        return INCREMENTAL
    return TRANSFER if "cross_dataset" in kinds else BASE_TO_NEW


def cells_per_configuration(result: SweepResult) -> int:
    counts = {t.params.get("protocol.cells") for t in result.trials if t.finished} - {None}
    return max((int(c) for c in counts), default=1)


def value(trial: TrialRecord, metric: str, spread: bool) -> str:
    number = trial.metrics.get(metric, math.nan)
    if not math.isfinite(number):
        return "-"
    std = trial.metrics.get(f"{metric}_std")
    return f"{number:.2f}" + (f" ± {std:.2f}" if spread and std is not None else "")


def setting(text: str | None) -> str:
    """A logged setting as the tables show it: numbers to 3 significant digits; ``-`` where
    the configuration did not sample it."""
    if text is None:
        return "-"
    try:
        return f"{float(text):.3g}"
    except ValueError:
        return text


def rows(result: SweepResult) -> list[TrialRecord]:
    """The front (best first), then the named points off it."""
    return [*result.front, *result.references]


def per_dataset(result: SweepResult) -> list[str]:
    """The datasets the configurations were scored on, as their ``hm/<dataset>`` metrics name
    them (none for one dataset)."""
    found = {k.split("/", 1)[1] for t in result.trials for k in t.metrics if k.startswith("hm/")}
    return sorted(found) if len(found) > 1 else []


def front_columns(
    result: SweepResult, *, links: str | None = None, datasets: bool = False
) -> list[Column]:
    """Mark, trial, validation metrics, test metrics, searched settings, and with
    ``datasets`` each dataset's validation and test hm and ece. ``links``: a base for MLflow
    links on the trial names (markdown)."""
    shown, spread = rows(result), cells_per_configuration(result) > 1
    marks = ["*" if t.selected else "" if t.pareto else "ref" for t in shown]
    names = [t.label for t in shown]
    if links is not None:
        names = [f"[{t.label}]({run_link(links, result.experiment_id, t.run_id)})" for t in shown]
    columns = [Column("", marks, right=False), Column("trial", names, right=False)]
    for prefix, title in (("", ""), ("test_", "test ")):
        for metric, header in shown_metrics(result):
            cells = [value(t, prefix + metric, spread and metric in SPREAD) for t in shown]
            columns.append(Column(title + header, cells))
    for name in result.searched:
        columns.append(Column(name, [setting(t.params.get(name)) for t in shown], right=False))
    for dataset in per_dataset(result) if datasets else []:
        for prefix, title in (("", ""), ("test_", "test ")):
            for metric in ("hm", "ece"):
                key = f"{prefix}{metric}/{dataset}"
                cells = [value(t, key, False) for t in shown]
                columns.append(Column(f"{title}{metric} {dataset}", cells))
    return columns


def text_table(columns: Sequence[Column], width: int | None = WIDTH, keep: int = 2) -> list[str]:
    """Columns side by side; where they would pass ``width`` characters, the rest go in a
    further block under it that repeats the first ``keep`` columns (None: one block)."""
    blocks: list[list[Column]] = []
    for column in columns[keep:]:
        block = blocks[-1] if blocks else None
        if block is None or (
            width is not None and sum(c.width + 2 for c in block) + column.width > width
        ):
            block = list(columns[:keep])
            blocks.append(block)
        block.append(column)
    lines: list[str] = []
    for number, block in enumerate(blocks or [list(columns[:keep])]):
        if number:
            lines.append("")
        lines.append("  ".join(c.cell(c.header) for c in block).rstrip())
        for i in range(len(block[0].cells)):
            lines.append("  ".join(c.cell(c.cells[i]) for c in block).rstrip())
    return lines


def markdown_table(columns: Sequence[Column]) -> list[str]:
    lines = ["| " + " | ".join(c.header or " " for c in columns) + " |"]
    lines.append("|" + "|".join("---:" if c.right else ":---" for c in columns) + "|")
    for i in range(len(columns[0].cells)):
        lines.append("| " + " | ".join(c.cells[i] or " " for c in columns) + " |")
    return lines


def front_title(result: SweepResult) -> str:
    cells = cells_per_configuration(result)
    datasets = len(per_dataset(result))
    if datasets > 1 and cells % datasets == 0:
        seeds = cells // datasets
        over = f", mean over {datasets} datasets x {seeds} seed{'s' * (seeds > 1)}"
    else:
        over = f", mean over {cells} cells" if cells > 1 else ""
    finished = sum(t.finished for t in result.trials)
    return (
        f"Pareto front (validation{over}; test beside): {len(result.front)} of {finished} "
        "finished configurations"
    )


def spread_note(result: SweepResult) -> str | None:
    """What ``±`` is, where the table shows one: never a spread over datasets."""
    if not any(k.endswith("_std") for t in rows(result) for k in t.metrics):
        return None
    return "±: the standard deviation over seeds of the mean over datasets"


def reference_lines(result: SweepResult) -> list[str]:
    """How the selection compares with each named point (``zero_shot``: doing nothing)."""
    chosen = result.selected
    if chosen is None:
        return []
    lines = []
    for ref in (t for t in result.trials if t.finished and t.tags.get("point")):
        if ref.run_id == chosen.run_id:
            continue
        parts = []
        for prefix, split in (("", "validation"), ("test_", "test")):
            deltas = []
            for metric in [o.metric for o in result.objectives][:2]:
                a = chosen.metrics.get(prefix + metric, math.nan)
                b = ref.metrics.get(prefix + metric, math.nan)
                deltas.append(f"{metric} {a - b:+.2f}")
            parts.append(f"{', '.join(deltas)} ({split})")
        lines.append(f"selected vs {ref.label}: {'; '.join(parts)}")
    return lines


def description(result: SweepResult, *, spec: str = "", cost: str = "") -> str:
    """The sweep run's markdown description (``mlflow.note.content``)."""
    chosen, exp = result.selected, result.experiment_id
    lines = [f"**Sweep of `{spec or result.experiment}`**" + (f": cost {cost}" if cost else "")]
    lines += ["", f"**Selection rule**: {result.rule.describe()}."]
    if any(t.params.get("selection.split") == "pseudo_new" for t in result.trials):
        lines.append(
            "**Validated on pseudo-new classes** held out of the base classes (leak-free); the "
            "selection's refit on all base classes gives the reported `refit_test_*` metrics."
        )
    if chosen is not None:
        link = run_link("", exp, chosen.run_id)
        lines.append(f"**Selected**: [{chosen.label}]({link}) ({result.reason}): {chosen.name}")
    else:
        lines.append(f"**Selected**: none ({result.reason})")
    lines += [""] + [f"- {line}" for line in reference_lines(result)]
    if rows(result):
        lines += ["", f"### {front_title(result)}", ""]
        lines += markdown_table(front_columns(result, links=""))
        lines += ["", "`*` selected, `ref` a named point off the front."]
        note = spread_note(result)
        lines += [note.replace("±:", "`±`:")] if note else []
    front = [t.run_id for t in result.front]
    lines += [
        "",
        f"[Compare the front]({compare_link('', exp, front)}) · "
        f"[All configurations]({runs_link('', exp)})",
    ]
    if result.journal:
        lines += ["", f"Optuna study: `optuna-dashboard {result.journal}`"]
    return "\n".join(lines) + "\n"
