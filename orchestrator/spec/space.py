"""The spec's search space as an Optuna define-by-run function, its grid, and its names.

Dimensions are sampled in spec order; one with ``when`` is sampled only when the values
decided so far (fixed spec values, a named point's constants, earlier dimensions) match. A
dimension that is not sampled has no value anywhere: not in Optuna, not in MLflow.

Every searched dimension has a short name (``method.lam`` -> ``lambda``, ``train.lr`` ->
``lr``), the same in the Optuna study, the MLflow params, the report and the plots.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from orchestrator.spec.schema import Dimension, Spec
from workers.config import TrialConfig
from workers.errors import ConfigError

POINT_ATTR = "orch_point"  # user attribute carrying a named point's name
CONSTANTS_ATTR = "orch_constants"  # and its values that are not search dimensions
# in a trial's Ray config: its Optuna trial number, "#3" in the report as "Trial 3" in
# optuna-dashboard
STUDY_TRIAL = "study_trial"
# short names that are not the path's last part ('lam' reads as a typo of lambda)
SHORT_NAMES = {"method.lam": "lambda", "method.lam_kg": "lambda_kg"}
# settings a protocol replaces per cell: logged on cell runs, never a configuration's own
PER_CELL = ("data.dataset", "train.seed")


def short_names(paths: Iterable[str]) -> dict[str, str]:
    """Trial path -> short name: its last part (or ``SHORT_NAMES``'s), or the whole path
    where two paths would share one."""
    paths = list(paths)
    wanted = {p: SHORT_NAMES.get(p, p.rsplit(".", 1)[-1]) for p in paths}
    taken = list(wanted.values())
    return {p: name if taken.count(name) == 1 else p for p, name in wanted.items()}


def planned_epochs(values: Mapping[str, Any]) -> int:
    """Epochs a configuration of these trial settings (by path) reports: its prompt epochs,
    then its weight epochs when the mixture trains in two stages (as
    ``workers.trial.total_epochs``, which the driver cannot import; a test pins the two)."""
    two_stage = values.get("method.mixture") and values.get("method.optimization") == "two_stage"
    weights = int(values.get("train.weight_epochs") or 0) if two_stage else 0
    return int(values.get("train.epochs") or 0) + weights


def stage(cfg: TrialConfig, epoch: int) -> int:
    """What epoch ``epoch`` (1-based) trained: 1 the prompt, 2 the CoA weights; 0 nothing
    (the evaluation of a configuration without training epochs)."""
    if epoch == 0:
        return 0
    planned = planned_epochs(cfg.flat())  # a class-incremental cell repeats it every session
    local = (epoch - 1) % planned + 1 if planned else epoch
    return 1 if local <= cfg.train.epochs else 2


def trains_nothing(values: Mapping[str, Any]) -> bool:
    """A configuration without a training epoch (the zero-shot reference): no searched
    setting can change its result, so none is sampled."""
    return "train.epochs" in values and planned_epochs(values) == 0


def active(dim: Dimension, values: Mapping[str, Any]) -> bool:
    if trains_nothing(values):
        return False
    return not dim.when or all(values.get(k) == v for k, v in dim.when.items())


def suggest(
    trial,
    space: Mapping[str, Dimension],
    fixed: Mapping[str, Any],
    names: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """Sample every active dimension on ``trial`` (an Optuna trial), each under its name in
    ``names`` (default: its path). -> {trial path: value}"""
    names = names or {}
    values = dict(fixed)
    chosen: dict[str, Any] = {}
    for key, dim in space.items():
        if not active(dim, values):
            continue
        name = names.get(key, key)
        if dim.kind == "fixed":
            value = dim.value
        elif dim.kind == "choices":
            value = trial.suggest_categorical(name, dim.choices)
        elif dim.int_:
            value = trial.suggest_int(
                name, int(dim.low), int(dim.high), step=int(dim.step or 1), log=dim.log
            )
        else:
            value = trial.suggest_float(name, dim.low, dim.high, step=dim.step, log=dim.log)
        values[key] = chosen[key] = value
    return chosen


class SpaceSampler:
    """The define-by-run function OptunaSearch calls per trial (a class: Ray pickles it with
    the searcher's state). A named point's constants decide its conditional dimensions."""

    def __init__(self, spec: Spec) -> None:
        self.fixed = spec.trial.flat()
        self.space = dict(spec.sweep.space)
        self.names = short_names(self.space)

    def __call__(self, trial) -> None:
        constants = dict(trial.user_attrs.get(CONSTANTS_ATTR, {}))
        suggest(trial, self.space, {**self.fixed, **constants}, self.names)


def grid(
    space: Mapping[str, Dimension], names: Mapping[str, str] | None = None
) -> dict[str, list[Any]]:
    """Every dimension's values for Optuna's GridSampler (ranges need a ``step``), keyed by
    the names the sampler's trials use (default: the paths)."""
    names = names or {}
    values = {}
    for key, dim in space.items():
        name = names.get(key, key)
        if dim.kind == "choices":
            values[name] = list(dim.choices)
        elif dim.kind == "range":
            if not dim.step:
                raise ConfigError(f"space.{key}: the grid sampler needs choices or a step")
            count = int(round((dim.high - dim.low) / dim.step)) + 1
            values[name] = [dim.low + i * dim.step for i in range(count)]
            if dim.int_:
                values[name] = [int(v) for v in values[name]]
    return values
