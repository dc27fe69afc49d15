"""What the terminal shows while a sweep runs.

On a terminal: a live table of the running configurations (their searched settings, epoch,
HM, ECE, status) under the lines of the finished ones, and a line with trials done / total,
the time elapsed and an estimate of the time left. Elsewhere (a pipe, a log file, CI): plain
lines, one per event, each whole: a configuration's settings once when it starts, then its
epochs, then its end.

``ProgressView`` knows nothing of Ray (tests drive it directly); ``progress_callback`` feeds
it Ray Tune's events.
"""

from __future__ import annotations

import math
import shutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from orchestrator.report.summary import duration
from orchestrator.spec.space import SearchSpace, planned_epochs, stage
from orchestrator.tracking.records import error_line, trial_label, trial_number
from workers.messages import TrialRequest, is_final

if TYPE_CHECKING:
    from orchestrator.search.budget import TimeBudget

STAGES = {0: "no training", 1: "prompt", 2: "weights"}


@dataclass
class Row:
    label: str
    settings: dict[str, str]  # short name -> value, as shown
    planned: int
    epoch: int = 0
    stage: int = 0
    hm: float = math.nan
    ece: float = math.nan
    status: str = "PENDING"
    started: float = field(default_factory=time.monotonic)


class ProgressView:
    """The sweep's progress, as a live table (``live``) or as plain lines."""

    def __init__(
        self,
        total: int,
        space: SearchSpace,
        *,
        stream: TextIO | None = None,
        live: bool | None = None,
        clock: Callable[[], float] = time.monotonic,
        width: int | None = None,
        objectives: Sequence[str] = ("hm", "ece"),
    ) -> None:
        self.total = total
        self.shown = [*objectives, "ece"][:2]  # the two metrics shown: the first objectives
        self.space = space
        self.names = space.names  # searched path -> short name: the table's columns
        self.stream = stream or sys.stdout
        self.live = self.stream.isatty() if live is None else live
        self.clock = clock
        self.began = clock()
        self.width = width
        self.rows: dict[str, Row] = {}
        self.done = 0
        self.drawn = 0  # lines of the live table now on screen

    # events
    def start(self, key: str, number: int | None, request: TrialRequest) -> Row:
        if key in self.rows:
            return self.rows[key]
        cfg = request.config()
        flat = cfg.flat()
        unsampled = set(self.space.unsampled(flat))
        values = {  # what the configuration sampled: a setting it did not has no value
            self.names[p]: f"{v:.3g}" if isinstance(v, float) else str(v)
            for p, v in request.overrides.items()
            if p in self.space and p not in unsampled
        }
        plan = request.protocol.plan  # class-incremental: every session trains its epochs
        sessions = plan.sessions + 1 if plan is not None else 1
        row = Row(trial_label(request.point, number), values, planned_epochs(flat) * sessions)
        row.status = "RUNNING"
        self.rows[key] = row
        settings = self.space.describe(request.overrides) or "the spec's fixed settings"
        self.emit(f"{self.prefix(row)} started: {settings}", permanent=False)
        return row

    def epoch(self, key: str, epoch: int, cfg_stage: int, hm: float, ece: float) -> None:
        row = self.rows[key]
        row.epoch, row.stage, row.hm, row.ece = epoch, cfg_stage, hm, ece
        first, second = self.shown
        self.emit(
            f"{self.prefix(row)} epoch {epoch}/{row.planned} ({STAGES[cfg_stage]})  "
            f"{first} {hm:6.2f}  {second} {ece:6.2f}",
            permanent=False,
        )

    def end(self, key: str, status: str, metrics: Mapping[str, Any] | None = None) -> None:
        row = self.rows.get(key)
        if row is None:
            return
        metrics = metrics or {}
        row.status = status
        self.done += 1
        line = f"{self.prefix(row)} {status}"
        first, second = self.shown
        if first in metrics and second in metrics:
            line += (
                f"  {first} {float(metrics[first]):6.2f}  {second} {float(metrics[second]):6.2f}"
            )
        if f"test_{first}" in metrics and f"test_{second}" in metrics:
            a, b = metrics[f"test_{first}"], metrics[f"test_{second}"]
            line += f"  (test {first} {a:.2f}, {second} {b:.2f})"
        if self.live:  # the table's row goes; the finished line stays, with its settings
            line += "  " + " ".join(f"{k}={v}" for k, v in row.settings.items())
        del self.rows[key]
        self.emit(line)
        if not self.live:  # the live table has it in its last line
            self.emit(self.summary())

    # rendering
    def prefix(self, row: Row) -> str:
        return f"[{row.label:>9}]"

    def summary(self) -> str:
        elapsed = self.clock() - self.began
        line = f"progress: {self.done}/{self.total} done, {duration(elapsed)} elapsed"
        if not self.done:  # no configuration has ended: nothing to estimate from
            return line
        # what the ended ones took, on average, for each one left
        return line + f", about {duration(elapsed / self.done * (self.total - self.done))} left"

    def table(self) -> list[str]:
        """The running configurations, one row each, never wider than the terminal: searched
        settings that do not fit are left out whole, never cut."""
        width = self.width or shutil.get_terminal_size((120, 24)).columns
        rows = list(self.rows.values())
        columns: list[tuple[str, list[str]]] = [
            ("trial", [r.label for r in rows]),
            ("epoch", [f"{r.epoch}/{r.planned}" for r in rows]),
            ("stage", [STAGES[r.stage] if r.epoch else "" for r in rows]),
            (self.shown[0], [f"{r.hm:.2f}" if r.epoch else "" for r in rows]),
            (self.shown[1], [f"{r.ece:.2f}" if r.epoch else "" for r in rows]),
            ("status", [r.status for r in rows]),
        ]
        columns += [(n, [r.settings.get(n, "-") for r in rows]) for n in self.names.values()]
        shown, used = [], 0
        for name, cells in columns:
            size = max(len(name), *(len(c) for c in cells)) if cells else len(name)
            if used + size + 2 > width:
                break
            shown.append((name, cells, size))
            used += size + 2
        lines = ["  ".join(f"{name:<{size}}" for name, _, size in shown)]
        for i in range(len(rows)):
            lines.append("  ".join(f"{cells[i]:<{size}}" for _, cells, size in shown))
        return [line.rstrip() for line in lines] + [self.summary()]

    def emit(self, line: str, *, permanent: bool = True) -> None:
        """``line`` as a plain line; or, live, above the redrawn table when ``permanent``."""
        if not self.live:
            print(line, file=self.stream, flush=True)
            return
        out = []
        if self.drawn:  # back to the table's first line, and clear down
            out.append(f"\x1b[{self.drawn}F\x1b[J")
        if permanent:
            out.append(line + "\n")
        table = self.table() if self.rows else [self.summary()]
        out.append("\n".join(table) + "\n")
        self.drawn = len(table)
        self.stream.write("".join(out))
        self.stream.flush()


def progress_callback(
    total: int,
    space: SearchSpace | None = None,
    budget: TimeBudget | None = None,
    *,
    max_failures: int = 0,
    objectives: Sequence[str] = ("hm", "ece"),
):
    """A Tune callback that shows the sweep's ``total`` trials in a ``ProgressView`` (the
    first two ``objectives`` per epoch). A trial that failed and is retried (at most
    ``max_failures`` times) gets one line naming why."""
    from ray.tune import Callback

    class Progress(Callback):
        def __init__(self) -> None:
            self.view = ProgressView(total, space or SearchSpace(), objectives=objectives)

        def _start(self, trial):
            return self.view.start(
                trial.trial_id, trial_number(trial), TrialRequest.from_ray(trial.config)
            )

        def on_trial_start(self, iteration, trials, trial, **info):
            self._start(trial)

        def on_trial_result(self, iteration, trials, trial, result, **info):
            if is_final(result):
                return
            self._start(trial)
            epoch = int(result.get("epoch", 0))
            cfg = TrialRequest.from_ray(trial.config).config()
            first, second = self.view.shown
            a, b = result.get(first, math.nan), result.get(second, math.nan)
            self.view.epoch(trial.trial_id, epoch, stage(cfg, epoch), a, b)

        def on_trial_complete(self, iteration, trials, trial, **info):
            last = trial.last_result or {}
            if not last:
                return  # the time budget ran out before it started
            stopped = "STOPPED (time budget)" if budget is not None and budget.spent else "PRUNED"
            self._start(trial)
            self.view.end(trial.trial_id, "DONE" if is_final(last) else stopped, last)

        def on_trial_recover(self, iteration, trials, trial, **info):
            error = trial.error_file
            why = error_line(Path(error).read_text()) if error and Path(error).is_file() else ""
            row = self._start(trial)
            self.view.emit(
                f"{self.view.prefix(row)} RETRY {trial.num_failures} of {max_failures} from its "
                f"last checkpoint, after: {why[:200]}"
            )

        def on_trial_error(self, iteration, trials, trial, **info):
            self._start(trial)
            self.view.end(trial.trial_id, "FAILED (see the MLflow run's 'error' tag)")

    return Progress()
