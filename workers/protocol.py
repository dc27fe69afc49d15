"""The papers' protocols: a configuration is scored over cells (datasets x seeds).

A cell is one dataset and one seed of a configuration; the configuration's objective values
are the means over its cells, reported beside their spread and the per-dataset means. Two
kinds: ``base_to_new`` (CoCoOp: learn on a dataset's base classes, evaluate on its base and
new classes; with ``split="pseudo_new"`` both come from inside the base classes, for
leak-free selection) and ``cross_dataset`` (learn on every class of a source, evaluate on
every class of each target). Pure Python: the spec builds a ``Protocol``, the trainable
expands it into cells and combines their metrics here.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workers.config import (
    BASE_TO_NEW_METRICS,
    CROSS_DATASET_METRICS,
    INCREMENTAL_METRICS,
    TrialConfig,
)
from workers.errors import ConfigError

KINDS = ("base_to_new", "cross_dataset", "incremental")
SPLITS = ("val", "pseudo_new")  # what selection validates on: real new classes, or pseudo-new
SESSION_KEYS = ("base_classes", "sessions", "ways", "shots")
KEYS = (
    "kind",
    "seeds",
    "datasets",
    "source",
    "targets",
    *SESSION_KEYS,
    "parallel_cells",
    "split",
)


@dataclass(frozen=True)
class SessionPlan:
    """Few-shot class-incremental sessions: a base session of ``base_classes`` classes (its
    training images ``data.shots`` per class), then ``sessions`` sessions of ``ways`` new
    classes with ``shots`` training images each; classes in the dataset's sorted label order."""

    base_classes: int
    sessions: int
    ways: int
    shots: int

    def classes(self, labels: Sequence[int]) -> list[list[int]]:
        """The labels each session adds. -> [base session, session 1, ...]"""
        need = self.base_classes + self.sessions * self.ways
        if need > len(labels):
            raise ConfigError(
                f"protocol: {self.base_classes} base classes + {self.sessions} sessions x "
                f"{self.ways} ways = {need} classes, but the dataset has {len(labels)}; "
                "lower protocol.base_classes, sessions or ways"
            )
        labels = sorted(labels)
        out = [labels[: self.base_classes]]
        for s in range(self.sessions):
            start = self.base_classes + s * self.ways
            out.append(labels[start : start + self.ways])
        return out


# metrics whose standard deviation over cells is reported
SPREAD = ("hm", "ece", "acc_avg", "ece_last")
# metrics averaged per dataset too
PER_DATASET = ("base_acc", "new_acc", "hm", "ece", "acc_avg", "acc_last", "ece_last")


@dataclass(frozen=True)
class Cell:
    """One dataset and seed. ``targets``: learn on every class of ``dataset`` and evaluate on
    every class of each target (cross-dataset); else base-to-new on ``dataset``, where
    ``pseudo_new`` splits the base classes again and never touches the real new classes."""

    dataset: str
    seed: int
    targets: tuple[str, ...] = ()
    pseudo_new: bool = False
    sessions: SessionPlan | None = None  # class-incremental sessions on ``dataset``

    @property
    def key(self) -> str:
        return f"{self.dataset}/seed{self.seed}"

    def config(self, cfg: TrialConfig) -> TrialConfig:
        return cfg.with_overrides({"data.dataset": self.dataset, "train.seed": self.seed})


@dataclass(frozen=True)
class Protocol:
    """``seeds`` and ``datasets`` default to the trial's own ``train.seed`` and
    ``data.dataset``; ``parallel_cells`` bounds how many cells run at once (None: all).
    ``cross_dataset`` learns on ``source`` and evaluates on ``targets`` instead of datasets."""

    seeds: tuple[int, ...] | None = None  # every configuration runs once per seed
    datasets: tuple[str, ...] | None = None  # and once per dataset; the headline averages them
    parallel_cells: int | None = None  # cells a trial runs at once (None: all)
    kind: str = "base_to_new"  # base_to_new, cross_dataset or incremental
    source: str | None = None  # cross_dataset: the dataset learned on
    targets: tuple[str, ...] | None = None  # cross_dataset: the datasets evaluated on
    split: str = "val"  # the spec's selection.split
    base_classes: int | None = None  # incremental: the session plan
    sessions: int | None = None  # incremental: sessions after the base session
    ways: int | None = None  # incremental: new classes per session
    shots: int | None = None  # incremental: training images per new class

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ConfigError(f"protocol.kind: one of {list(KINDS)} is needed, got {self.kind!r}")
        for key in ("seeds", "datasets", "targets"):
            values = getattr(self, key)
            if values is not None and not values:
                raise ConfigError(
                    f"protocol.{key}: an empty list leaves no cell to run; give at least one "
                    f"value or drop the key"
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
        if self.split not in SPLITS:
            raise ConfigError(
                f"selection.split: one of {list(SPLITS)} is needed, got {self.split!r}"
            )
        if self.kind == "cross_dataset":
            self._check_cross_dataset()
        if self.kind == "incremental":
            self._check_incremental()
        elif any(getattr(self, k) is not None for k in SESSION_KEYS):
            raise ConfigError(
                f"protocol.{'/'.join(SESSION_KEYS)}: only an incremental protocol has sessions; "
                "add 'kind: incremental' to protocol or drop them"
            )
        if self.kind != "cross_dataset" and (self.source is not None or self.targets is not None):
            raise ConfigError(
                "protocol.source/targets: only a cross-dataset protocol has them; add "
                "'kind: cross_dataset' to protocol or drop source and targets"
            )

    def _check_cross_dataset(self) -> None:
        if not self.source:
            raise ConfigError(
                "protocol.source: a cross_dataset protocol learns on one source dataset; "
                "add e.g. 'source: toy_source'"
            )
        if not self.targets:
            raise ConfigError(
                "protocol.targets: a cross_dataset protocol evaluates on target datasets; "
                "add e.g. 'targets: [toyworld, toy_textures]'"
            )
        if self.source in self.targets:
            raise ConfigError(
                f"protocol.targets: the source '{self.source}' is also a target; transfer is "
                "measured on other datasets: remove it from targets"
            )
        if self.datasets is not None:
            raise ConfigError(
                "protocol.datasets: a cross_dataset protocol learns on protocol.source and "
                "evaluates on protocol.targets; drop datasets"
            )
        if self.split == "pseudo_new":
            raise ConfigError(
                "selection.split: pseudo_new holds out base classes of a base_to_new protocol; "
                "a cross_dataset protocol's new classes are its targets: use split: val"
            )

    def _check_incremental(self) -> None:
        for key in SESSION_KEYS:
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ConfigError(
                    f"protocol.{key}: an incremental protocol needs a whole number >= 1, got "
                    f"{value!r} (e.g. base_classes: 60, sessions: 8, ways: 5, shots: 5)"
                )
        if self.split == "pseudo_new":
            raise ConfigError(
                "selection.split: pseudo_new holds out base classes of a base_to_new protocol; "
                "an incremental protocol validates on the classes seen so far: use split: val"
            )

    @property
    def plan(self) -> SessionPlan | None:
        if self.kind != "incremental":
            return None
        return SessionPlan(self.base_classes, self.sessions, self.ways, self.shots)

    @property
    def metrics(self) -> tuple[str, ...]:
        """What each of this protocol's cells reports, per epoch and (``test_``) at its end."""
        return {
            "cross_dataset": CROSS_DATASET_METRICS,
            "incremental": INCREMENTAL_METRICS,
        }.get(self.kind, BASE_TO_NEW_METRICS)

    def cells(self, cfg: TrialConfig) -> list[Cell]:
        """Dataset-major: every seed of the first dataset, then the next dataset's."""
        seeds = self.seeds or (cfg.train.seed,)
        if self.kind == "cross_dataset":
            return [Cell(self.source, s, tuple(self.targets)) for s in seeds]
        datasets = self.datasets or (cfg.data.dataset,)
        pseudo = self.split == "pseudo_new"
        return [Cell(d, s, pseudo_new=pseudo, sessions=self.plan) for d in datasets for s in seeds]

    def parallel(self, cfg: TrialConfig) -> int:
        """How many cells run at once: one bundle of resources each."""
        n = len(self.cells(cfg))
        return min(n, self.parallel_cells or n)

    def to_dict(self) -> dict[str, Any]:
        def listed(values):
            return list(values) if values is not None else None

        return {
            "kind": self.kind,
            "seeds": listed(self.seeds),
            "datasets": listed(self.datasets),
            "source": self.source,
            "targets": listed(self.targets),
            "parallel_cells": self.parallel_cells,
            "split": self.split,
            **{key: getattr(self, key) for key in SESSION_KEYS},
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Protocol:
        raw = dict(raw or {})
        unknown = set(raw) - set(KEYS)
        if unknown:
            raise ConfigError(
                f"protocol: unknown key(s) {sorted(unknown)}; known: {', '.join(KEYS[:-1])}"
            )
        for key in ("seeds", "datasets", "targets"):
            if raw.get(key) is not None and not isinstance(raw[key], list | tuple):
                raise ConfigError(f"protocol.{key}: a list is needed, got {raw[key]!r}")
        if raw.get("source") is not None and not isinstance(raw["source"], str):
            raise ConfigError(f"protocol.source: one dataset name is needed, got {raw['source']!r}")

        def names(key: str) -> tuple[str, ...] | None:
            return tuple(str(d) for d in raw[key]) if raw.get(key) is not None else None

        return cls(
            seeds=tuple(raw["seeds"]) if raw.get("seeds") is not None else None,
            datasets=names("datasets"),
            parallel_cells=raw.get("parallel_cells"),
            kind=raw.get("kind") or "base_to_new",
            source=raw.get("source"),
            targets=names("targets"),
            split=raw.get("split") or "val",
            **{key: raw.get(key) for key in SESSION_KEYS},
        )


def groups(cells: Sequence[Cell], n_groups: int) -> list[list[Cell]]:
    """Cells dealt round-robin to ``n_groups`` workers that step them in lockstep."""
    return [list(cells[i::n_groups]) for i in range(n_groups)]


def _finite_mean(values: list[float]) -> float:
    return statistics.fmean(values) if all(math.isfinite(v) for v in values) else math.nan


def aggregate(per_cell: Sequence[tuple[Cell, Mapping[str, float]]]) -> dict[str, float]:
    """A configuration's numbers from its cells' numbers, as the papers report them.

    Every metric all cells report becomes the mean over datasets of each dataset's mean over
    seeds (a dataset with more seeds weighs no more). ``hm`` and ``ece`` (and their ``test_``
    forms) also get ``<metric>/<dataset>``, that dataset's mean over seeds, and, with two
    seeds or more, ``<metric>_std``: the sample standard deviation over seeds of the
    dataset-averaged figure. It is never a spread over cells, which would mix a hard dataset
    with an easy one and make every configuration look like noise around every other. A
    metric that is not finite in any cell makes the mean not finite: never averaged away.
    """
    if not per_cell:
        raise ValueError("aggregate needs at least one cell")
    shared = set.intersection(*(set(m) for _, m in per_cell))
    keys = [k for k in per_cell[0][1] if k in shared]  # in the order the cells report them
    datasets = list(dict.fromkeys(cell.dataset for cell, _ in per_cell))
    seeds = list(dict.fromkeys(cell.seed for cell, _ in per_cell))
    out: dict[str, float] = {}
    for key in keys:
        by_dataset = {
            d: _finite_mean([float(m[key]) for c, m in per_cell if c.dataset == d])
            for d in datasets
        }
        out[key] = _finite_mean(list(by_dataset.values()))
        base = key.removeprefix("test_")
        if base in SPREAD and len(seeds) > 1:
            per_seed = [
                _finite_mean([float(m[key]) for c, m in per_cell if c.seed == s]) for s in seeds
            ]  # each seed's dataset-averaged figure
            finite = all(math.isfinite(v) for v in per_seed)
            out[f"{key}_std"] = statistics.stdev(per_seed) if finite else math.nan
        if base in PER_DATASET:
            out.update({f"{key}/{d}": v for d, v in by_dataset.items()})
    return out
