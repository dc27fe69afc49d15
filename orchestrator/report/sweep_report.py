"""Reading a finished sweep back from MLflow: the front, the selection, the exported spec."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import yaml

from orchestrator.report.summary import (
    WIDTH,
    duration,
    front_columns,
    front_title,
    reference_lines,
    rows,
    spread_note,
    text_table,
)
from orchestrator.selection.results import SweepResult, collect
from orchestrator.selection.rule import Objective, SelectionRule
from orchestrator.tracking.links import compare_link, runs_link, ui_base
from orchestrator.tracking.uri import check_reachable, resolve_uri, shown_uri
from workers.errors import TrackingError


def load_result(experiment: str | None, uri: str | None) -> SweepResult:
    """The newest sweep (parent run) of ``experiment`` (default: the newest sweep anywhere)."""
    from mlflow.tracking import MlflowClient

    uri = resolve_uri(uri)
    check_reachable(uri)
    client = MlflowClient(tracking_uri=uri)
    if experiment:
        found = client.get_experiment_by_name(experiment)
        if found is None:
            raise TrackingError(f"no experiment '{experiment}' in {shown_uri(uri)}")
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
            f"no sweep found in {shown_uri(uri)}"
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


def report_width(wide: bool) -> int | None:
    """None (one table however wide) for ``--wide``; else the terminal's width when printing
    to one, else WIDTH."""
    if wide:
        return None
    if sys.stdout.isatty():
        return max(40, shutil.get_terminal_size((WIDTH, 24)).columns)
    return WIDTH


def mean_std(metrics: dict[str, float], name: str) -> str:
    """``"71.20 ± 1.30"`` where the spread over seeds is recorded, else the value alone."""
    value = metrics.get(name, float("nan"))
    spread = metrics.get(f"{name}_std")
    return f"{value:.2f}" + (f" ± {spread:.2f}" if spread is not None else "")


def uri_flag(uri: str) -> str:
    """`` --tracking-uri URI`` unless ``uri`` is the default a command in this folder uses."""
    return "" if uri == resolve_uri(None) else f" --tracking-uri {shown_uri(uri)}"


def print_result(
    result: SweepResult, uri: str | None = None, *, width: int | None = WIDTH, port: int = 5000
) -> None:
    """The sweep's summary, front table and selection; lines of at most ``width`` characters
    (None: no limit) but for links, which a terminal opens only whole."""
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
    if any(t.params.get("selection.split") == "pseudo_new" for t in finished):
        print("validation and test columns: pseudo-new classes held out of the base classes")
    if rows(result):
        print()
        print(front_title(result))
        for line in text_table(front_columns(result, datasets=width is None), width):
            print(line)
        print("* selected; ref: a named point off the front; -: not sampled for that trial")
        note = spread_note(result)
        if note:
            print(note + ("" if width is None else "; per dataset: `orch report --wide`"))
        print()
    chosen = result.selected
    if chosen:
        print(f"selected {chosen.label} ({result.reason}): run {chosen.run_id}")
        print(f"  {chosen.name}")
    for line in reference_lines(result):
        print(line)
    if chosen and "refit_test_hm" in chosen.metrics:
        refit = "  ".join(
            f"{m} {mean_std(chosen.metrics, 'refit_test_' + m)}"
            for m in ("hm", "ece", "base_acc", "new_acc")
            if "refit_test_" + m in chosen.metrics
        )
        print(f"refit on all base classes, test on the real base and new classes: {refit}")
    if result.ended_by:
        print(f"ended by {result.ended_by}: {len(stopped)} running trial(s) stopped")
    cost = result.cost(result.wall_s)
    print(
        f"cost: {duration(cost['cost_wall_s'])} wall, {cost['cost_cell_s']:.1f} cell-seconds, "
        f"{cost['cost_gpu_s']:.1f} GPU-seconds"
    )
    if cost.get("cost_replayed_s"):  # the reports were served from a table
        print(
            f"replayed: {duration(cost['cost_replayed_s'])} of recorded trial time served "
            "from the table (the cell-seconds above are the recorded ones)"
        )
    print_links(result, resolve_uri(uri), port)


def print_links(result: SweepResult, uri: str, port: int = 5000) -> None:
    """Where to look next: the MLflow UI's runs table and compare page, the Optuna study,
    and the commands, each with the tracking URI this sweep used."""
    server = uri.startswith(("http://", "https://"))
    base = ui_base(uri, port)
    flag = uri_flag(uri)
    print(f"MLflow: {shown_uri(uri)}" + ("" if server else f" (serve it with `orch ui{flag}`)"))
    print(f"  runs table: {runs_link(base, result.experiment_id)}")
    if result.front:
        front = [t.run_id for t in result.front]
        print(f"  compare the front: {compare_link(base, result.experiment_id, front)}")
    if result.journal:
        journal = Path(result.journal)
        if journal.is_relative_to(Path.cwd()):  # shorter, and copied as is from here
            journal = journal.relative_to(Path.cwd())
        print(f"Optuna study: optuna-dashboard {journal}")
    print(f"next: `orch report{flag}`")
    print(f"      `orch export{flag} [--run RUN_ID] -o FILE` (then `orch trial FILE`)")


def export_spec(result: SweepResult, uri: str | None, out: Path, run_id: str | None = None) -> Path:
    """A trial's full configuration (the selected one, or ``run_id``'s) as a spec that
    `orch trial` runs as is."""
    from mlflow.tracking import MlflowClient

    if run_id is None:
        chosen = result.selected
        if chosen is None:
            raise TrackingError(
                f"sweep {result.experiment} has no selected trial to export; pick one with "
                "--run RUN_ID (`orch report --json` lists them)"
            )
    else:
        chosen = next((t for t in result.trials if t.run_id == run_id), None)
        if chosen is None:
            raise TrackingError(
                f"--run {run_id}: no configuration run of sweep {result.experiment} has that id; "
                "`orch report --json` lists them"
            )
    client = MlflowClient(tracking_uri=resolve_uri(uri))
    config = json.loads(
        Path(client.download_artifacts(chosen.run_id, "trial_config.json")).read_text()
    )
    header = f"# exported from sweep {result.experiment}, run {chosen.run_id} ({chosen.name})\n"
    out.write_text(header + yaml.safe_dump(config, sort_keys=False))
    return out
