"""A configuration's cells trained in lockstep: every cell one epoch, then one report.

A ``CellGroup`` holds the cells one process trains (one model, each cell's episode and
trainer); the same class runs in the caller's process or as a Ray actor in its own bundle
of resources (``workers.trainable``). ``run_protocol`` steps every group an epoch at a
time, so a configuration reports its mean over cells each epoch and a scheduler can stop
the whole configuration.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from workers.config import TrialConfig
from workers.messages import CellResult
from workers.model import load_clip
from workers.protocol import Cell, Protocol, aggregate
from workers.trial import finish_trial, start_trial, total_epochs, train_epoch

# after each epoch: the configuration's metrics, each cell's, and the state to resume from
ProtocolReport = Callable[[dict[str, float], list[CellResult], dict], None]


class CellGroup:
    """The cells one process trains; built once, then stepped epoch by epoch."""

    def __init__(
        self, cfg: TrialConfig, cells: Sequence[Cell], states: Mapping[str, dict] | None = None
    ) -> None:
        clip = load_clip(cfg.model)  # every cell of a configuration shares the model
        self.trainers = {}
        starts = set()
        for cell in cells:
            trainer, start = start_trial(
                cell.config(cfg), clip=clip, resume_state=(states or {}).get(cell.key)
            )
            self.trainers[cell] = trainer
            starts.add(start)
        assert len(starts) == 1, f"cells resumed at different epochs: {starts}"
        self.start = starts.pop()

    def first_epoch(self) -> int:
        """The epoch training starts at: 0, or the one after a restored state's."""
        return self.start

    def epoch(self, epoch: int) -> list[tuple[Cell, dict[str, float], dict]]:
        """Each cell's epoch: (cell, its validation metrics and losses, its state)."""
        out = []
        for cell, trainer in self.trainers.items():
            metrics = train_epoch(trainer, epoch)
            out.append((cell, metrics, trainer.state(epoch)))
        return out

    def evaluate(self) -> list[tuple[Cell, dict[str, float], dict]]:
        """Validation metrics without training (a configuration with nothing to train)."""
        return [
            (cell, {"epoch": 0, **t.evaluate(t.ep.val)}, t.state(-1))
            for cell, t in self.trainers.items()
        ]

    def finish(self) -> list[tuple[CellResult, dict]]:
        """Each cell's final result and learned state."""
        out = []
        for cell, trainer in self.trainers.items():
            result = finish_trial(trainer)
            out.append((CellResult(cell, result.metrics, tuple(result.reliability)), result.state))
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
    state: dict  # {"cells": {cell key: state}}


def run_groups(
    submits: Sequence[Submit], cfg: TrialConfig, *, report: ProtocolReport | None
) -> ProtocolResult:
    """Step every group in lockstep; ``submits[i]`` calls group ``i``'s methods."""

    def each(method: str, *args) -> list:
        waits = [submit(method, *args) for submit in submits]  # remote groups start now
        return [wait() for wait in waits]

    def merged(method: str, *args) -> list:
        return [item for part in each(method, *args) for item in part]

    start = each("first_epoch")[0]  # the same for every group: one checkpoint holds them all
    epochs = total_epochs(cfg)
    steps = [("evaluate", ())] if epochs == 0 else [("epoch", (e,)) for e in range(start, epochs)]
    for method, args in steps:
        results = merged(method, *args)
        if report:
            metrics = aggregate([(cell, m) for cell, m, _ in results])
            cells = [CellResult(cell, m) for cell, m, _ in results]
            report(metrics, cells, {"cells": {cell.key: s for cell, _, s in results}})
    finished = merged("finish")
    return ProtocolResult(
        metrics=aggregate([(r.cell, r.metrics) for r, _ in finished]),
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
    states = (resume_state or {}).get("cells")
    return run_groups([local(CellGroup(cfg, protocol.cells(cfg), states))], cfg, report=report)


__all__ = ["CellGroup", "ProtocolResult", "local", "run_groups", "run_protocol"]
