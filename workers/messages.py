"""What crosses between the planes: a trial's request into Ray, and what its report carries.

Pure Python (no torch): the driver builds these, Ray carries them as plain data
(``to_ray`` / ``to_dict``), and each side rebuilds the typed object once, at its edge.

A trial's config in Ray is ``{"trial": <TrialConfig as dict>, "protocol": <Protocol as
dict>}`` (the sweep's param space) merged with what the searcher adds, ``{"overrides":
{trial path: value}, "point": name}``. Each report of a trial carries its configuration's
metrics (means over cells) and, under ``cells``, each cell's own (``CellResult``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from workers.config import TrialConfig
from workers.protocol import Cell, Protocol

FINAL = "final"  # present (1) only in a trial's last report: early-stopped trials lack it
CHECKPOINT = "trial_state.pt"  # a trial's state in a Tune checkpoint: every cell's
CELLS = "cells"  # each report's per-cell results, as dicts


def is_final(result: Mapping[str, Any]) -> bool:
    """Whether ``result`` is a trial's last report (a replayed history marks gaps by NaN)."""
    value = result.get(FINAL)
    return value is not None and value == value and bool(value)


def searched(overrides: Mapping[str, Any], point: str | None = None) -> dict[str, Any]:
    """The part of a trial's Ray config that the searcher decides."""
    return {"overrides": dict(overrides), "point": point}


@dataclass(frozen=True)
class TrialRequest:
    """One configuration to train: the spec's fixed trial plus searched values by path."""

    trial: TrialConfig
    overrides: Mapping[str, Any] = field(default_factory=dict)
    point: str | None = None  # the named point (e.g. "coop") this trial replays, if any
    protocol: Protocol = field(default_factory=Protocol)

    def config(self) -> TrialConfig:
        return self.trial.with_overrides(dict(self.overrides))

    def cells(self) -> list[Cell]:
        return self.protocol.cells(self.config())

    def to_ray(self) -> dict[str, Any]:
        return {
            "trial": self.trial.to_dict(),
            "protocol": self.protocol.to_dict(),
            **searched(self.overrides, self.point),
        }

    @classmethod
    def from_ray(cls, config: Mapping[str, Any]) -> TrialRequest:
        return cls(
            trial=TrialConfig.from_dict(config["trial"]),
            overrides=dict(config.get("overrides") or {}),
            point=config.get("point"),
            protocol=Protocol.from_dict(config.get("protocol")),
        )


REPLAY = "replay"  # in a replayed sweep's trial config: its ``ReplayRequest``


@dataclass(frozen=True)
class ReplayRequest:
    """What a replayed trial serves: one configuration of a table (``workers.table``), each
    report after its recorded seconds times ``time_scale``. The sweep's param space carries
    the table and the scale; the searcher adds the configuration that answers its point."""

    table: str  # an absolute path every worker reads
    time_scale: float = 0.0
    configuration: int | None = None

    def to_ray(self) -> dict[str, Any]:
        return {REPLAY: asdict(self)}

    @classmethod
    def from_ray(cls, config: Mapping[str, Any]) -> ReplayRequest | None:
        raw = config.get(REPLAY)
        return None if raw is None else cls(**raw)


@dataclass(frozen=True)
class ReliabilityDiagram:
    """Equal-width confidence bins of one split and class subset (fractions, not %)."""

    split: str  # "val" or "test"
    subset: str  # "base" or "new"
    edges: tuple[float, ...]  # (n_bins + 1,)
    counts: tuple[int, ...]  # (n_bins,)
    accuracy: tuple[float, ...]  # (n_bins,) 0 where a bin is empty
    confidence: tuple[float, ...]  # (n_bins,)

    @property
    def ece(self) -> float:
        """The expected calibration error these bins give, in %."""
        total = sum(self.counts) or 1
        return 100 * sum(
            n / total * abs(a - c)
            for n, a, c in zip(self.counts, self.accuracy, self.confidence, strict=True)
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ReliabilityDiagram:
        return cls(
            split=str(raw["split"]),
            subset=str(raw["subset"]),
            edges=tuple(float(v) for v in raw["edges"]),
            counts=tuple(int(v) for v in raw["counts"]),
            accuracy=tuple(float(v) for v in raw["accuracy"]),
            confidence=tuple(float(v) for v in raw["confidence"]),
        )


@dataclass(frozen=True)
class CellResult:
    """One cell's numbers in a report: per-epoch validation metrics, or its final metrics
    (validation and ``test_``) with its reliability diagrams (validation and test)."""

    cell: Cell
    metrics: Mapping[str, float]
    reliability: tuple[ReliabilityDiagram, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.cell.dataset,
            "seed": self.cell.seed,
            "metrics": dict(self.metrics),
            "reliability": [d.to_dict() for d in self.reliability],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> CellResult:
        return cls(
            cell=Cell(str(raw["dataset"]), int(raw["seed"])),
            metrics={k: float(v) for k, v in raw["metrics"].items()},
            reliability=tuple(ReliabilityDiagram.from_dict(d) for d in raw.get("reliability", ())),
        )
