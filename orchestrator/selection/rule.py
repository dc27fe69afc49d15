"""Choosing configurations on several objectives: the Pareto front, then a stated rule.

Pure functions over plain numbers; the sweep feeds them validation metrics (never test).
``Objective`` and ``SelectionRule`` are also the spec's ``objectives`` and ``selection``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from pydantic import BaseModel, ConfigDict


class Objective(BaseModel):
    """One metric to optimise: ``{metric: hm, mode: max}``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    metric: str  # a metric the protocol reports (hm, ece, base_acc, ...)
    mode: Literal["max", "min"]  # whether more of it is better

    def __str__(self) -> str:
        return f"{self.metric}:{self.mode}"

    @classmethod
    def parse(cls, text: str) -> Objective:
        """The inverse of ``str``: ``"hm:max"`` -> Objective(metric="hm", mode="max")."""
        metric, _, mode = text.partition(":")
        return cls(metric=metric, mode=mode)


def _oriented(point: Mapping[str, float], objectives: Sequence[Objective]) -> list[float]:
    """Objective values flipped so that larger is better on every axis."""
    return [point[o.metric] if o.mode == "max" else -point[o.metric] for o in objectives]


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` is at least as good everywhere and strictly better somewhere (larger is better)."""
    return all(x >= y for x, y in zip(a, b, strict=True)) and any(
        x > y for x, y in zip(a, b, strict=True)
    )


def pareto_front(
    points: Sequence[Mapping[str, float]], objectives: Sequence[Objective]
) -> list[int]:
    """Indices of the non-dominated points (duplicates all stay on the front)."""
    values = [_oriented(p, objectives) for p in points]
    return [
        i
        for i, v in enumerate(values)
        if not any(dominates(w, v) for j, w in enumerate(values) if j != i)
    ]


def knee(
    points: Sequence[Mapping[str, float]], objectives: Sequence[Objective], front: Sequence[int]
) -> int:
    """The front member closest to the utopia point after scaling each objective to [0, 1]."""
    values = {i: _oriented(points[i], objectives) for i in front}
    lows = [min(v[k] for v in values.values()) for k in range(len(objectives))]
    highs = [max(v[k] for v in values.values()) for k in range(len(objectives))]

    def distance(i: int) -> float:
        scaled = [
            (values[i][k] - lows[k]) / (highs[k] - lows[k]) if highs[k] > lows[k] else 1.0
            for k in range(len(objectives))
        ]
        return math.dist(scaled, [1.0] * len(objectives))

    return min(front, key=lambda i: (distance(i), i))


class SelectionRule(BaseModel):
    """``constrained``: best ``metric`` among points with ``bound_metric <= bound``, else the
    knee of the front. ``knee``: the knee of the front."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # how one configuration is picked from the front
    rule: Literal["constrained", "knee"] = "constrained"
    # what configurations are validated on: the real new classes' validation images (what
    # papers do) or pseudo-new classes held out of the base classes, then a refit (leak-free)
    split: Literal["val", "pseudo_new"] = "val"
    metric: str = "hm"  # what constrained maximises (or minimises)
    mode: Literal["max", "min"] = "max"  # whether more of it is better
    bound_metric: str = "ece"  # what constrained bounds
    bound: float = 10.0  # the largest bound_metric a selected configuration may have

    def describe(self) -> str:
        if self.rule == "knee":
            return (
                "knee of the Pareto front (closest to the ideal point, objectives scaled to [0, 1])"
            )
        best = "highest" if self.mode == "max" else "lowest"
        return (
            f"{best} {self.metric} among trials with {self.bound_metric} <= {self.bound:g}, "
            "else the knee of the Pareto front"
        )


@dataclass(frozen=True)
class Selection:
    front: list[int]
    selected: int | None
    reason: str


def select(
    points: Sequence[Mapping[str, float]], objectives: Sequence[Objective], rule: SelectionRule
) -> Selection:
    """Apply ``rule`` to points that carry every objective; returns indices into ``points``."""
    if not points:
        return Selection([], None, "no finished trials")
    front = pareto_front(points, objectives)
    if rule.rule == "constrained":
        feasible = [i for i, p in enumerate(points) if p[rule.bound_metric] <= rule.bound]
        if feasible:
            sign = 1 if rule.mode == "max" else -1
            best = max(  # ties go to the lower bound metric, so the choice is never dominated
                feasible,
                key=lambda i: (sign * points[i][rule.metric], -points[i][rule.bound_metric], -i),
            )
            return Selection(
                front, best, f"{rule.metric} best with {rule.bound_metric} <= {rule.bound:g}"
            )
    reason = (
        "knee of the front"
        if rule.rule == "knee"
        else f"no trial has {rule.bound_metric} <= {rule.bound:g}: knee of the front"
    )
    return Selection(front, knee(points, objectives, front), reason)
