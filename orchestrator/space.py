"""The spec's search space as an Optuna define-by-run function, and its grid.

Dimensions are sampled in spec order; one with ``when`` is sampled only when the values
decided so far (fixed spec values, a named point's constants, earlier dimensions) match.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from orchestrator.spec import Dimension, Spec
from workers.errors import ConfigError

POINT_ATTR = "orch_point"  # user attribute carrying a named point's name
CONSTANTS_ATTR = "orch_constants"  # and its values that are not search dimensions


def active(dim: Dimension, values: Mapping[str, Any]) -> bool:
    return not dim.when or all(values.get(k) == v for k, v in dim.when.items())


def suggest(trial, space: Mapping[str, Dimension], fixed: Mapping[str, Any]) -> dict[str, Any]:
    """Sample every active dimension on ``trial`` (an Optuna trial). -> {trial path: value}"""
    values = dict(fixed)
    chosen: dict[str, Any] = {}
    for key, dim in space.items():
        if not active(dim, values):
            continue
        if dim.kind == "fixed":
            value = dim.value
        elif dim.kind == "choices":
            value = trial.suggest_categorical(key, dim.choices)
        elif dim.int_:
            value = trial.suggest_int(
                key, int(dim.low), int(dim.high), step=int(dim.step or 1), log=dim.log
            )
        else:
            value = trial.suggest_float(key, dim.low, dim.high, step=dim.step, log=dim.log)
        values[key] = chosen[key] = value
    return chosen


class SpaceSampler:
    """The define-by-run function OptunaSearch calls per trial (a class: Ray pickles it with
    the searcher's state). A named point's constants decide its conditional dimensions."""

    def __init__(self, spec: Spec) -> None:
        self.fixed = spec.trial.flat()
        self.space = dict(spec.sweep.space)

    def __call__(self, trial) -> None:
        constants = dict(trial.user_attrs.get(CONSTANTS_ATTR, {}))
        suggest(trial, self.space, {**self.fixed, **constants})


def grid(space: Mapping[str, Dimension]) -> dict[str, list[Any]]:
    """Every dimension's values for Optuna's GridSampler (ranges need a ``step``)."""
    values = {}
    for key, dim in space.items():
        if dim.kind == "choices":
            values[key] = list(dim.choices)
        elif dim.kind == "range":
            if not dim.step:
                raise ConfigError(f"space.{key}: the grid sampler needs choices or a step")
            count = int(round((dim.high - dim.low) / dim.step)) + 1
            values[key] = [dim.low + i * dim.step for i in range(count)]
            if dim.int_:
                values[key] = [int(v) for v in values[key]]
    return values
