"""Reading a finished sweep back from MLflow: the front, the selection, the exported spec."""

from __future__ import annotations

import json
import math
from pathlib import Path

import yaml

from orchestrator.results import SweepResult, collect
from orchestrator.selection import Objective, SelectionRule
from orchestrator.tracking import check_reachable, resolve_uri
from workers.errors import TrackingError

SHOWN = ("hm", "ece", "base_acc", "new_acc")
SHOWN_TRANSFER = ("hm", "ece", "source_acc", "target_acc")
SHOWN_INCREMENTAL = ("acc_avg", "ece_last", "acc_last", "pd")


def load_result(experiment: str | None, uri: str | None) -> SweepResult:
    """The newest sweep (parent run) of ``experiment`` (default: the newest sweep anywhere)."""
    from mlflow.tracking import MlflowClient

    uri = resolve_uri(uri)
    check_reachable(uri)
    client = MlflowClient(tracking_uri=uri)
    if experiment:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise TrackingError(f"no experiment '{experiment}' in {uri}")
        experiments = [found]
    else:
        experiments = client.search_experiments()
    parents = client.search_runs(
        [e.experiment_id for e in experiments],
        filter_string="tags.`orch.sweep` != ''",
        order_by=["attributes.start_time DESC"],
        max_results=1,
    )
    if not parents:
        raise TrackingError(
            f"no sweep found in {uri}"
            + (f" for '{experiment}'" if experiment else "")
            + ": run `orch sweep SPEC` first"
        )
    parent = parents[0]
    objectives = [Objective.parse(o) for o in parent.data.tags["orch.objectives"].split(",")]
    rule = _rule_from_spec(client, parent.info.run_id)
    name = client.get_experiment(parent.info.experiment_id).name
    return collect(client, parent.info.experiment_id, parent.info.run_id, objectives, rule, name)


def _rule_from_spec(client, parent_run_id: str) -> SelectionRule:
    path = client.download_artifacts(parent_run_id, "spec.yaml")
    selection = (yaml.safe_load(Path(path).read_text()) or {}).get("selection") or {}
    return SelectionRule(**selection)


def mean_std(metrics: dict[str, float], name: str) -> str:
    """``"71.20 ± 1.30"`` where the spread over cells is recorded, else the value alone."""
    value = metrics.get(name, float("nan"))
    spread = metrics.get(f"{name}_std")
    return f"{value:.2f}" + (f" ± {spread:.2f}" if spread is not None else "")


def _duration(seconds: float) -> str:
    if not math.isfinite(seconds):
        return "?"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest} s" if minutes else f"{rest} s"


def print_result(result: SweepResult, uri: str | None = None) -> None:
    finished = [t for t in result.trials if t.finished]
    pruned = [t for t in result.trials if t.tags.get("pruned") == "true"]
    stopped = [t for t in result.trials if t.tags.get("stopped_by") == "time budget"]
    failed = [t for t in result.trials if t.status == "FAILED"]
    print(
        f"sweep {result.experiment}: {len(finished)} finished, {len(pruned)} pruned, "
        f"{len(stopped)} stopped, {len(failed)} failed"
    )
    nodes: dict[str, int] = {}
    for t in finished:
        nodes[t.tags.get("node", "?")] = nodes.get(t.tags.get("node", "?"), 0) + 1
    if nodes:
        print("trials per node: " + ", ".join(f"{n} {c}" for n, c in sorted(nodes.items())))
    print(f"selection: {result.rule.describe()}")
    cells = {t.params.get("protocol.cells") for t in finished} - {None}
    if cells:
        print(f"each configuration: mean ± std over {', '.join(sorted(cells))} cell(s)")
    transfer = any(t.params.get("protocol.kind") == "cross_dataset" for t in finished)
    incremental = any(t.params.get("protocol.kind") == "incremental" for t in finished)
    shown = SHOWN_INCREMENTAL if incremental else SHOWN_TRANSFER if transfer else SHOWN
    if any(t.params.get("selection.split") == "pseudo_new" for t in finished):
        print("validation and test_ columns: pseudo-new classes held out of the base classes")
    header = (
        "  ".join(f"{m:>13}" for m in shown) + "  " + "  ".join(f"{'test_' + m:>13}" for m in shown)
    )
    print(f"{'':2}{'trial':<48}{header}")
    for t in sorted(finished, key=lambda t: -t.metrics.get(shown[0], 0)):
        if not t.pareto:
            continue
        mark = "* " if t.selected else "  "
        values = "  ".join(f"{mean_std(t.metrics, m):>13}" for m in shown)
        tests = "  ".join(f"{mean_std(t.metrics, 'test_' + m):>13}" for m in shown)
        print(f"{mark}{t.name[:46]:<48}{values}  {tests}")
    chosen = result.selected
    if chosen:
        print(f"selected ({result.reason}): {chosen.name}  run {chosen.run_id}")
    if chosen and "refit_test_hm" in chosen.metrics:
        refit = "  ".join(
            f"{m} {mean_std(chosen.metrics, 'refit_test_' + m)}"
            for m in SHOWN
            if "refit_test_" + m in chosen.metrics
        )
        print(f"refit on all base classes, test on the real base and new classes: {refit}")
    if result.ended_by:
        print(f"ended by {result.ended_by}: {len(stopped)} running trial(s) stopped")
    cost = result.cost(result.wall_s)
    print(
        f"cost: {_duration(cost['cost_wall_s'])} wall, {cost['cost_cell_s']:.1f} cell-seconds, "
        f"{cost['cost_gpu_s']:.1f} GPU-seconds"
    )
    uri = resolve_uri(uri)
    server = uri.startswith(("http://", "https://"))  # its own UI, and not the default store
    ui, flag = ("its UI", f" --tracking-uri {uri}") if server else ("`orch ui`", "")
    print(f"results: MLflow {uri} ({ui}), `orch report{flag}`, `orch export{flag}`")


def export_spec(result: SweepResult, uri: str | None, out: Path) -> Path:
    """The selected trial's full configuration as a spec that `orch trial` runs as is."""
    from mlflow.tracking import MlflowClient

    chosen = result.selected
    if chosen is None:
        raise TrackingError(f"sweep {result.experiment} has no selected trial to export")
    client = MlflowClient(tracking_uri=resolve_uri(uri))
    config = json.loads(
        Path(client.download_artifacts(chosen.run_id, "trial_config.json")).read_text()
    )
    header = f"# exported from sweep {result.experiment}, run {chosen.run_id} ({chosen.name})\n"
    out.write_text(header + yaml.safe_dump(config, sort_keys=False))
    return out
