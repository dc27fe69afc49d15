"""A configuration's cells trained in lockstep: every cell one epoch, then one report.

A ``CellGroup`` holds the cells one process trains (one model, each cell's episode and
trainer); the same class runs in the caller's process or as a Ray actor in its own bundle
of resources (``workers.trainable``). ``run_protocol`` steps every group an epoch at a
time, so a configuration reports its mean over cells each epoch and a scheduler can stop
the whole configuration.
"""

from __future__ import annotations

import platform
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import torch

from workers.config import TrialConfig
from workers.errors import OutOfMemory
from workers.incremental import start_incremental
from workers.messages import CellResult
from workers.model import load_clip, resolve_device
from workers.protocol import Cell, Protocol, aggregate
from workers.trial import (
    Trainer,
    TrialResult,
    finish_trial,
    start_trial,
    total_epochs,
    train_epoch,
)

COST = "cost_s"  # a cell's own seconds so far, in each of its reports
COMPUTE = "compute_s"  # of those, training and evaluation only (no episode set-up)

# after each epoch: the configuration's metrics, each cell's, and the state to resume from
ProtocolReport = Callable[[dict[str, float], list[CellResult], dict], None]


class TrialRun:
    """A base-to-new or cross-dataset cell: one ``Trainer``, stepped through ``workers.trial``."""

    def __init__(self, trainer: Trainer) -> None:
        self.trainer = trainer
        self.epochs = total_epochs(trainer.cfg)

    def train_epoch(self, epoch: int) -> dict[str, float]:
        return train_epoch(self.trainer, epoch)

    def evaluate(self) -> dict[str, float]:
        return {"epoch": 0, **self.trainer.evaluate("val")}

    def state(self, epoch: int) -> dict:
        return self.trainer.state(epoch)

    def finish(self) -> TrialResult:
        return finish_trial(self.trainer)


def start_run(cfg: TrialConfig, cell: Cell, clip, state: dict | None):
    """A cell's run and the epoch it starts at: class-incremental sessions or one trial."""
    if cell.sessions is not None:
        return start_incremental(cfg, cell, clip=clip, resume_state=state)
    trainer, start = start_trial(cfg, cell, clip=clip, resume_state=state)
    return TrialRun(trainer), start


class CellGroup:
    """The cells one process trains; built once, then stepped epoch by epoch.

    Every cell's own seconds (its episode, training and evaluation) are counted and reported
    as its ``cost_s``: the cell-seconds a configuration spends.
    """

    def __init__(
        self,
        cfg: TrialConfig,
        cells: Sequence[Cell],
        states: Mapping[str, dict] | None = None,
        *,
        threads: int | None = None,
    ) -> None:
        if threads:  # the CPUs this process's bundle holds: more threads only oversubscribe
            torch.set_num_threads(threads)
        clip = load_clip(cfg.model)  # every cell of a configuration shares the model
        self.runs = {}
        self.seconds: dict[Cell, float] = {}
        self.compute: dict[Cell, float] = {}
        starts = set()
        for cell in cells:
            began = time.perf_counter()
            state = (states or {}).get(cell.key)
            self.runs[cell], start = start_run(cell.config(cfg), cell, clip, state)
            # a restored cell goes on counting from its checkpoint's seconds
            self.seconds[cell] = (state or {}).get(COST, 0.0) + time.perf_counter() - began
            self.compute[cell] = (state or {}).get(COMPUTE, 0.0)
            starts.add(start)
        assert len(starts) == 1, f"cells resumed at different epochs: {starts}"
        self.start = starts.pop()

    def _timed(self, cell: Cell, work: Callable[[], dict]) -> dict:
        began = time.perf_counter()
        metrics = work()
        self.seconds[cell] += time.perf_counter() - began
        self.compute[cell] += time.perf_counter() - began
        return {**metrics, COST: self.seconds[cell], COMPUTE: self.compute[cell]}

    def first_epoch(self) -> int:
        """The epoch training starts at: 0, or the one after a restored state's."""
        return self.start

    def epochs(self) -> int:
        """How many epochs every cell trains (the same for all cells of a protocol)."""
        return max(run.epochs for run in self.runs.values())

    def epoch(self, epoch: int) -> list[tuple[Cell, dict[str, float], dict]]:
        """Each cell's epoch: (cell, its validation metrics and losses, its state)."""
        out = []
        for cell, run in self.runs.items():
            metrics = self._timed(cell, lambda r=run: r.train_epoch(epoch))
            times = {COST: self.seconds[cell], COMPUTE: self.compute[cell]}
            out.append((cell, metrics, {**run.state(epoch), **times}))
        return out

    def evaluate(self) -> list[tuple[Cell, dict[str, float], dict]]:
        """Validation metrics without training (a configuration with nothing to train)."""
        return [
            (cell, self._timed(cell, run.evaluate), run.state(-1))
            for cell, run in self.runs.items()
        ]

    def finish(self) -> list[tuple[CellResult, dict]]:
        """Each cell's final result and learned state."""
        out = []
        for cell, run in self.runs.items():
            result = run.finish()
            metrics = self._timed(cell, lambda r=result: r.metrics)
            out.append((CellResult(cell, metrics, tuple(result.reliability)), result.state))
        return out


# a group's method called with arguments -> a function that waits for its result
Submit = Callable[..., Callable[[], object]]


def local(group: CellGroup) -> Submit:
    """Runs in this process, when its result is asked for (after remote groups started)."""
    return lambda method, *args: lambda: getattr(group, method)(*args)


@dataclass
class ProtocolResult:
    metrics: dict[str, float]  # the configuration's final metrics: means over cells, spread
    cells: list[CellResult]  # each cell's final metrics and reliability diagrams
    state: dict  # {"cells": {cell key: state}, "wall_s": the trial's wall seconds so far}


def _with_cost(per_cell: list[tuple[Cell, Mapping[str, float]]], cost: Cost) -> dict[str, float]:
    """The configuration's metrics and what it has cost so far: ``cost_cell_s`` (the sum of
    its cells' own seconds), ``cost_wall_s`` and ``cost_gpu_s`` (wall time x GPUs held)."""
    metrics = aggregate(per_cell)
    metrics.pop(COST, None)  # a mean of cells' seconds means nothing
    metrics.pop(COMPUTE, None)
    wall = time.monotonic() - cost.started
    return {
        **metrics,
        "cost_wall_s": wall,
        "cost_cell_s": sum(m.get(COST, 0.0) for _, m in per_cell),
        "cost_compute_s": sum(m.get(COMPUTE, 0.0) for _, m in per_cell),
        "cost_gpu_s": wall * cost.gpus,
    }


@dataclass(frozen=True)
class Cost:
    started: float  # time.monotonic() when the configuration's trial began
    gpus: float = 0.0  # GPUs the configuration holds while it runs

    @classmethod
    def resumed(cls, state: dict | None, gpus: float = 0.0, *, began: float | None = None) -> Cost:
        """A trial's cost clock from ``began`` (default: now), going on from a restored
        state's wall seconds: the time between a failure and its retry is not counted."""
        began = time.monotonic() if began is None else began
        return cls(began - (state or {}).get("wall_s", 0.0), gpus)


# how torch's CPU allocator and older CUDA paths word a failed allocation
MEMORY_WORDS = ("can't allocate memory", "not enough memory", "out of memory")


def memory_error(exc: BaseException) -> OutOfMemory | None:
    """The one-line error for a failed allocation, in this process or a cell group's actor
    (whose exception Ray hands over wrapped, with the original as ``cause``); else None."""
    cause = getattr(exc, "cause", None) or exc
    words = str(cause).strip()
    if not isinstance(cause, MemoryError | torch.OutOfMemoryError) and not (
        isinstance(cause, RuntimeError) and any(w in words for w in MEMORY_WORDS)
    ):
        return None
    first = words.splitlines()[0] if words else type(cause).__name__
    return OutOfMemory(
        f"out of memory on {platform.node()}: {first} -- a setting asks for more than the trial's "
        "process can get: lower train.batch_size, data.n_views, protocol.parallel_cells or "
        "train.n_bins, use a smaller model, or give the trial a node with more memory"
    )


def run_groups(
    submits: Sequence[Submit],
    cfg: TrialConfig,
    *,
    report: ProtocolReport | None,
    cost: Cost | None = None,
) -> ProtocolResult:
    """Step every group in lockstep; ``submits[i]`` calls group ``i``'s methods."""
    cost = cost or Cost(time.monotonic())

    def each(method: str, *args) -> list:
        waits = [submit(method, *args) for submit in submits]  # remote groups start now
        try:
            return [wait() for wait in waits]
        except Exception as exc:
            if (oom := memory_error(exc)) is not None:
                raise oom from exc
            raise

    def merged(method: str, *args) -> list:
        return [item for part in each(method, *args) for item in part]

    start = each("first_epoch")[0]  # the same for every group: one checkpoint holds them all
    epochs = each("epochs")[0]
    steps = [("evaluate", ())] if epochs == 0 else [("epoch", (e,)) for e in range(start, epochs)]
    for method, args in steps:
        results = merged(method, *args)
        if report:
            metrics = _with_cost([(cell, m) for cell, m, _ in results], cost)
            cells = [CellResult(cell, m) for cell, m, _ in results]
            states = {cell.key: s for cell, _, s in results}
            report(metrics, cells, {"cells": states, "wall_s": metrics["cost_wall_s"]})
    finished = merged("finish")
    return ProtocolResult(
        metrics=_with_cost([(r.cell, r.metrics) for r, _ in finished], cost),
        cells=[r for r, _ in finished],
        state={"cells": {r.cell.key: s for r, s in finished}},
    )


def run_protocol(
    cfg: TrialConfig,
    protocol: Protocol,
    *,
    report: ProtocolReport | None = None,
    resume_state: dict | None = None,
) -> ProtocolResult:
    """Every cell of ``cfg`` in this process, in lockstep (``orch trial``, benchmarks)."""
    gpus = 1.0 if resolve_device(cfg.model.device).type == "cuda" else 0.0
    cost = Cost.resumed(resume_state, gpus)
    states = (resume_state or {}).get("cells")
    group = CellGroup(cfg, protocol.cells(cfg), states)
    return run_groups([local(group)], cfg, report=report, cost=cost)


__all__ = ["CellGroup", "Cost", "ProtocolResult", "local", "run_groups", "run_protocol"]
