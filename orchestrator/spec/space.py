"""The spec's search space as one object: its dimensions, short names and conditions.

Dimensions are sampled in spec order; one with ``when`` is sampled only when the values
decided so far (fixed spec values, a named point's constants, earlier dimensions) match. A
dimension that is not sampled has no value anywhere: not in Optuna, not in MLflow.

Every searched dimension has a short name (``method.lam`` -> ``lambda``, ``train.lr`` ->
``lr``), the same in the Optuna study, the MLflow params, the report and the plots.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from orchestrator.spec.schema import Dimension
from workers.config import TrialConfig

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


class SearchSpace(Mapping[str, Dimension]):
    """The sweep's searched dimensions (trial path -> ``Dimension``, in spec order), their
    short names and their conditions. Built once, when the spec is loaded (``Spec.space``),
    and carried to the searcher, the MLflow runs, the progress lines and the sweep's tags, so
    that each names a setting the same way and skips the same unsampled ones."""

    def __init__(self, dims: Mapping[str, Dimension] | None = None) -> None:
        self._dims = dict(dims or {})
        self.names = short_names(self._dims)  # searched path -> short name

    def __getitem__(self, path: str) -> Dimension:
        return self._dims[path]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dims)

    def __len__(self) -> int:
        return len(self._dims)

    def name(self, path: str) -> str:
        """A setting's short name: a searched one's, or any other path's by the same rule."""
        return self.names.get(path) or short_names([path])[path]

    def unsampled(self, values: Mapping[str, Any]) -> list[str]:
        """The searched paths a configuration of these trial settings (by path) does not
        sample: a conditional dimension whose condition fails, or every dimension of a
        configuration that trains nothing."""
        return [path for path, dim in self._dims.items() if not active(dim, values)]

    def describe(self, overrides: Mapping[str, Any]) -> str:
        """``w=0.97 d=1.68 lambda=1.54``: a configuration's own settings, by short name."""
        shown = (f"{v:.3g}" if isinstance(v, float) else str(v) for v in overrides.values())
        return " ".join(f"{self.name(p)}={v}" for p, v in zip(overrides, shown, strict=True))
