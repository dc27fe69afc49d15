"""What a spec is: the typed, validated objects a spec file becomes (pydantic models).

A spec has the trial's sections (``model``, ``data``, ``prompt``, ``method``, ``train``: the
fixed values of every trial), the ``protocol`` (the cells, datasets x seeds, that score each
configuration) and the sweep's (``search``, ``space``, ``objectives``, ``selection``,
``resources``, ``tracking``, ``storage``). Every error names the file and the key path.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from orchestrator.selection.rule import Objective, SelectionRule
from workers.config import TrialConfig

TRIAL_SECTIONS = ("model", "data", "prompt", "method", "train")
SWEEP_SECTIONS = (
    "search",
    "space",
    "objectives",
    "selection",
    "resources",
    "tracking",
    "storage",
    "replay",
)
SECTIONS = (*TRIAL_SECTIONS, "protocol", *SWEEP_SECTIONS)
SAMPLERS = ("tpe", "nsga2", "gp", "random", "grid")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Dimension(_Strict):
    """One search dimension: a range (``low``/``high``), ``choices``, or a fixed ``value``."""

    low: float | None = None  # a range's lower end
    high: float | None = None  # and upper end
    log: bool = False  # sample the range on a log scale
    step: float | None = None  # a range's grid step (grid sampler, discretised ranges)
    int_: bool = Field(False, alias="int")  # sample whole numbers
    choices: list[Any] | None = None  # a categorical dimension's values
    value: Any = None  # a fixed value: logged as searched, never varied
    when: dict[str, Any] | None = None  # only sampled when these trial paths have these values

    @model_validator(mode="after")
    def _one_kind(self) -> Dimension:
        kinds = [
            self.low is not None or self.high is not None,
            self.choices is not None,
            self.value is not None,
        ]
        if sum(kinds) != 1:
            raise ValueError("give exactly one of low/high, choices or value")
        if kinds[0]:
            if self.low is None or self.high is None:
                raise ValueError("a range needs both low and high")
            if self.low > self.high:
                raise ValueError(
                    f"low <= high must hold, but got (low={self.low}, high={self.high})"
                )
            if self.log and self.low <= 0:
                raise ValueError(f"log=true needs low > 0, but got low={self.low}")
        if self.choices is not None and not self.choices:
            raise ValueError("choices must not be empty")
        return self

    @property
    def kind(self) -> str:
        return (
            "range" if self.low is not None else "choices" if self.choices is not None else "fixed"
        )


class NamedPoint(_Strict):
    name: str  # shown in the report and the runs
    values: dict[str, Any]  # trial path -> value


class Asha(_Strict):
    """ASHA's settings; moasha shares its rungs (grace period, reduction factor) and ranks on
    the objectives instead of ``metric``."""

    metric: str = "hm"  # the metric ASHA ranks a rung on
    mode: Literal["max", "min"] = "max"  # whether more of it is better
    grace_period: int = Field(2, ge=1)  # epochs before the first rung
    reduction_factor: float = Field(2.0, gt=1)  # a rung keeps 1 in this many


class Search(_Strict):
    num_trials: int = Field(12, ge=1)  # configurations the searcher proposes
    max_concurrent: int = Field(2, ge=1)  # configurations running at once
    sampler: Literal["tpe", "nsga2", "gp", "random", "grid"] = "tpe"  # Optuna's sampler
    # moasha: ASHA that ranks a rung on every objective by non-dominated sorting
    scheduler: Literal["none", "asha", "moasha"] = "none"
    asha: Asha = Asha()
    seed: int = 0  # the sampler's seed
    max_failures: int = Field(1, ge=0)  # retries of a failed trial
    # wall seconds after which the sweep ends: running trials are stopped, none started
    time_budget_s: float | None = Field(None, gt=0)
    points_to_evaluate: list[NamedPoint] = []  # named configurations run first (baselines)


class Resources(_Strict):
    cpu: float = Field(1.0, gt=0)  # CPUs per configuration (torch's threads follow)
    gpu: float = Field(0.0, ge=0)  # GPUs per configuration (fractions share one)


class Tracking(_Strict):
    uri: str | None = None  # None: sqlite:///<cwd>/mlflow.db
    experiment: str = "orch"  # the MLflow experiment the runs go to
    # every_epoch: each cell run gets every epoch's metrics; final: a cell run is written
    # once, when its configuration ends (at 33 cells, a tenth of the writes); one_run: a
    # configuration's cells are one run under it, written once, its cells' last metrics as
    # `cells/<cell>/<metric>` (two runs per configuration instead of 34, and the configuration
    # runs `orch report` reads stay small; for sweeps of hundreds of configurations)
    cell_metrics: Literal["every_epoch", "final", "one_run"] = "every_epoch"


class Storage(_Strict):
    """Ray Tune's experiment storage. On a cluster every node must reach the same one: a bucket
    (``s3://``, ``gs://``) or a folder on a shared disk, declared with ``shared: true``."""

    path: str | None = None  # None: ./orch_runs
    shared: bool = False  # path is a folder every node of the cluster sees


class Replay(_Strict):
    """Serve a table's recorded reports instead of training (``orch table`` makes tables):
    each trial replays the recorded configuration nearest the searcher's point."""

    table: str | None = None  # a Parquet table; None: train for real
    # seconds waited per recorded second (0: none; the recorded seconds are still summed)
    time_scale: float = Field(0.0, ge=0)


class SweepSections(_Strict):
    search: Search = Search()
    space: dict[str, Dimension] = {}  # trial path -> the dimension it is searched over
    # what the searcher optimises and the Pareto front is drawn on
    objectives: list[Objective] = [
        Objective(metric="hm", mode="max"),
        Objective(metric="ece", mode="min"),
    ]
    selection: SelectionRule = SelectionRule()
    resources: Resources = Resources()
    tracking: Tracking = Tracking()
    storage: Storage = Storage()
    replay: Replay = Replay()

    @property
    def objective_names(self) -> list[str]:
        return [o.metric for o in self.objectives]


def trial_paths() -> list[str]:
    return list(TrialConfig().flat())
