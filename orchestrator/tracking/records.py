"""What a trial's settings and reports become in MLflow: its name, its params, the metrics
kept from a result and the step they go at. Pure: no MLflow calls."""

from __future__ import annotations

from typing import Any

from orchestrator.spec.space import PER_CELL, STUDY_TRIAL, SearchSpace
from workers.config import REPORTED_METRICS
from workers.messages import CELLS, CellResult, TrialRequest


def shown(value: Any) -> Any:
    """A setting as MLflow shows it: floats to 4 significant digits (the trial's config
    artifact keeps every digit)."""
    return float(f"{value:.4g}") if isinstance(value, float) else value


def trial_number(trial) -> int | None:
    """A Ray trial's number in the sweep's Optuna study (None outside a study: a refit)."""
    number = (getattr(trial, "config", None) or {}).get(STUDY_TRIAL)
    return number if isinstance(number, int) else None


def trial_label(point: str | None, number: int | str | None) -> str:
    """How a configuration is called in the report, the plots and the progress lines."""
    return point or (f"#{number}" if number not in (None, "") else "?")


def trial_params(request: TrialRequest, space: SearchSpace | None = None) -> dict[str, Any]:
    """Every fixed setting under its path, every sampled one under its short name, and the
    protocol. A searched setting the configuration did not sample is left out, as in the
    Optuna study: no value stands for it."""
    space = space or SearchSpace()
    names, skipped = space.names, set(space.unsampled(request.config().flat()))
    cells = request.cells()
    params = {}
    for path, value in request.config().flat().items():
        if path in PER_CELL or path in skipped:
            continue
        params[names.get(path, path)] = shown(value)
    params["protocol.datasets"] = ",".join(dict.fromkeys(c.dataset for c in cells))
    params["protocol.seeds"] = ",".join(str(s) for s in dict.fromkeys(c.seed for c in cells))
    params["protocol.cells"] = len(cells)
    params["protocol.kind"] = request.protocol.kind
    params["selection.split"] = request.protocol.split
    if request.protocol.targets:
        params["protocol.targets"] = ",".join(request.protocol.targets)
    return params


def run_name(request: TrialRequest, space: SearchSpace, number: int | None = None) -> str:
    """``#3 w=0.97 d=1.68 ...`` or ``coop: w=0 lambda=0 ...``: what the searcher decided."""
    label = trial_label(request.point, number)
    return f"{label}{':' if request.point else ''} " + (
        space.describe(request.overrides) or "fixed"
    )


def epoch_metrics(result: dict[str, Any]) -> dict[str, float]:
    """The numbers of a reported result that MLflow keeps: metrics, losses, weights."""
    keep = {}
    for key, value in result.items():
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        # hm, test_hm, hm_std, hm/<dataset>: every form of a reported metric
        base = key.removeprefix("test_").split("/")[0].removesuffix("_std")
        if (
            base in REPORTED_METRICS
            or key.startswith(("loss", "pi_", "cost_", "div_"))
            or base.startswith("acc_s")  # accuracy after each class-incremental session
            or key == "pool_new_class_overlap"
        ):
            keep[key] = float(value)
    return keep


def reported(result: dict[str, Any], key: str, default: Any) -> Any:
    """``result[key]``, where a replayed history marks keys not reported at a step by NaN."""
    value = result.get(key)
    return default if value is None or value != value else value


def result_step(result: dict[str, Any]) -> int:
    """The step a reported result is logged at: its epoch (the final report: Tune's count)."""
    return int(reported(result, "epoch", reported(result, "training_iteration", 0)))


def error_line(text: str) -> str:
    """The line that names a failure: the last of Ray's error text (the exception's own)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return (lines[-1] if lines else text)[:4000]


def cell_results(result: dict[str, Any]) -> list[CellResult]:
    cells = result.get(CELLS)
    return [CellResult.from_dict(c) for c in cells] if isinstance(cells, list) else []
