"""The papers' protocol: a configuration is scored over cells (datasets x seeds).

A cell is one dataset and one seed of a configuration; the configuration's objective values
are the means over its cells, reported beside their spread and the per-dataset means. Pure
Python: the spec builds a ``Protocol``, the trainable expands it into cells and combines
their metrics here.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workers.config import TrialConfig
from workers.errors import ConfigError

SPREAD = ("hm", "ece")  # metrics whose standard deviation over cells is reported
PER_DATASET = ("base_acc", "new_acc", "hm", "ece")  # metrics averaged per dataset too


@dataclass(frozen=True)
class Cell:
    dataset: str
    seed: int

    @property
    def key(self) -> str:
        return f"{self.dataset}/seed{self.seed}"

    def config(self, cfg: TrialConfig) -> TrialConfig:
        return cfg.with_overrides({"data.dataset": self.dataset, "train.seed": self.seed})


@dataclass(frozen=True)
class Protocol:
    """``seeds`` and ``datasets`` default to the trial's own ``train.seed`` and
    ``data.dataset``; ``parallel_cells`` bounds how many cells run at once (None: all)."""

    seeds: tuple[int, ...] | None = None
    datasets: tuple[str, ...] | None = None
    parallel_cells: int | None = None

    def __post_init__(self) -> None:
        for key, values in (("seeds", self.seeds), ("datasets", self.datasets)):
            if values is not None and not values:
                raise ConfigError(
                    f"protocol.{key}: an empty list leaves no cell to run; give at least one "
                    f"value or drop the key (default: the trial's own)"
                )
            if values is not None and len(set(values)) != len(values):
                raise ConfigError(f"protocol.{key}: values must be distinct, got {list(values)}")
        if self.seeds is not None and not all(
            isinstance(s, int) and not isinstance(s, bool) for s in self.seeds
        ):
            raise ConfigError(f"protocol.seeds: seeds are integers, got {list(self.seeds)}")
        if self.parallel_cells is not None and (
            not isinstance(self.parallel_cells, int) or self.parallel_cells < 1
        ):
            raise ConfigError(
                f"protocol.parallel_cells: parallel_cells >= 1 must hold, but got "
                f"{self.parallel_cells!r}"
            )

    def cells(self, cfg: TrialConfig) -> list[Cell]:
        """Dataset-major: every seed of the first dataset, then the next dataset's."""
        datasets = self.datasets or (cfg.data.dataset,)
        seeds = self.seeds or (cfg.train.seed,)
        return [Cell(d, s) for d in datasets for s in seeds]

    def parallel(self, cfg: TrialConfig) -> int:
        """How many cells run at once: one bundle of resources each."""
        n = len(self.cells(cfg))
        return min(n, self.parallel_cells or n)

    def to_dict(self) -> dict[str, Any]:
        return {
            "seeds": list(self.seeds) if self.seeds is not None else None,
            "datasets": list(self.datasets) if self.datasets is not None else None,
            "parallel_cells": self.parallel_cells,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Protocol:
        raw = dict(raw or {})
        unknown = set(raw) - {"seeds", "datasets", "parallel_cells"}
        if unknown:
            raise ConfigError(
                f"protocol: unknown key(s) {sorted(unknown)}; known: seeds, datasets, "
                "parallel_cells"
            )
        for key in ("seeds", "datasets"):
            if raw.get(key) is not None and not isinstance(raw[key], list | tuple):
                raise ConfigError(f"protocol.{key}: a list is needed, got {raw[key]!r}")
        return cls(
            seeds=tuple(raw["seeds"]) if raw.get("seeds") is not None else None,
            datasets=tuple(str(d) for d in raw["datasets"])
            if raw.get("datasets") is not None
            else None,
            parallel_cells=raw.get("parallel_cells"),
        )


def groups(cells: Sequence[Cell], n_groups: int) -> list[list[Cell]]:
    """Cells dealt round-robin to ``n_groups`` workers that step them in lockstep."""
    return [list(cells[i::n_groups]) for i in range(n_groups)]


def _finite_mean(values: list[float]) -> float:
    return statistics.fmean(values) if all(math.isfinite(v) for v in values) else math.nan


def aggregate(per_cell: Sequence[tuple[Cell, Mapping[str, float]]]) -> dict[str, float]:
    """A configuration's numbers from its cells' numbers.

    Every metric all cells report becomes its mean over cells; ``hm`` and ``ece`` (and their
    ``test_`` forms) also get ``<metric>_std``, the sample standard deviation over cells (0
    for one cell), and ``<metric>/<dataset>``, the mean over that dataset's seeds. A metric
    that is not finite in any cell makes the mean not finite: it is never averaged away.
    """
    if not per_cell:
        raise ValueError("aggregate needs at least one cell")
    shared = set.intersection(*(set(m) for _, m in per_cell))
    keys = [k for k in per_cell[0][1] if k in shared]  # in the order the cells report them
    out = {k: _finite_mean([float(m[k]) for _, m in per_cell]) for k in keys}
    datasets = list(dict.fromkeys(cell.dataset for cell, _ in per_cell))
    for key in keys:
        base = key.removeprefix("test_")
        if base in SPREAD:
            values = [float(m[key]) for _, m in per_cell]
            if not all(math.isfinite(v) for v in values):
                out[f"{key}_std"] = math.nan
            else:
                out[f"{key}_std"] = statistics.stdev(values) if len(values) > 1 else 0.0
        if base in PER_DATASET:
            for dataset in datasets:
                values = [float(m[key]) for c, m in per_cell if c.dataset == dataset]
                out[f"{key}/{dataset}"] = _finite_mean(values)
    return out
