"""A finished sweep as a table, replayed through the real `orch sweep`: the same MLflow runs,
the recorded numbers exactly, the same report."""

import json

from orchestrator.spec.load import load_spec
from tests.integration.test_sweep import SPEC, TINY, cells_of, children, client_for, orch
from workers.table import read_table

# the report's numbers that a replay must give back as recorded
REPORTED = ("hm", "ece", "base_acc", "new_acc", "test_hm", "test_ece")


def recorded_space(table) -> list[str]:
    """--set overrides that make every searched dimension a choice among its recorded values,
    so that every point the searcher proposes is a recorded one."""
    searched = next(c for c in table.configurations if c.point is None).overrides
    seen: dict[str, list] = {path: [] for path in searched}  # a point's constants are not
    for configuration in table.configurations:
        for path, value in configuration.overrides.items():
            if path in seen and value not in seen[path]:
                seen[path].append(value)
    space = load_spec(SPEC).sweep.space
    dims = {
        path: {"choices": values, **({"when": space[path].when} if space[path].when else {})}
        for path, values in seen.items()
    }
    return [a for path, dim in dims.items() for a in ("--set", f"space.{path}={dim}")]


def test_a_replayed_sweep_gives_back_the_recorded_runs_exactly(tiny_sweep, tmp_path):
    assert tiny_sweep.returncode == 0, tiny_sweep.stderr[-3000:]
    made = orch(tmp_path, "table", "--storage", str(tiny_sweep.cwd / "orch_runs"), "-o", "t.pq")
    assert made.returncode == 0, made.stderr
    table = read_table(tmp_path / "t.pq")
    assert len(table.configurations) == 3
    assert {c.point for c in table.configurations} == {"coop", "zero_shot", None}

    replayed = orch(
        tmp_path, "sweep", SPEC, *TINY, *recorded_space(table),
        "--set", "search.num_trials=3", "--replay", "t.pq",
    )  # fmt: skip
    assert replayed.returncode == 0, replayed.stderr[-3000:]
    assert "replayed:" in replayed.stdout

    live_client, replay_client = client_for(tiny_sweep.cwd), client_for(tmp_path)
    (_,), live = children(live_client)
    (parent,), kids = children(replay_client)
    assert len(kids) == 3 and {k.info.status for k in kids} == {"FINISHED"}
    live_by_params = {
        tuple(sorted((k, v) for k, v in run.data.params.items())): run for run in live
    }
    for kid in kids:
        # the replayed configuration is a recorded one: its params and numbers are that run's
        twin = live_by_params[tuple(sorted(kid.data.params.items()))]
        assert kid.data.tags.get("point") == twin.data.tags.get("point")
        for name in REPORTED:
            assert kid.data.metrics[name] == twin.data.metrics[name], name
        history = [m.value for m in replay_client.get_metric_history(kid.info.run_id, "hm")]
        assert history == [m.value for m in live_client.get_metric_history(twin.info.run_id, "hm")]
        (cell,) = cells_of(replay_client, kid)
        (live_cell,) = cells_of(live_client, twin)
        assert cell.data.tags["dataset"] == live_cell.data.tags["dataset"]
        assert cell.data.metrics["test_hm"] == live_cell.data.metrics["test_hm"]
        assert kid.data.metrics["cost_replayed_s"] > 0 or kid.data.tags.get("point") == "zero_shot"

    live_report = json.loads(orch(tiny_sweep.cwd, "report", "--json").stdout)
    report = json.loads(orch(tmp_path, "report", "--json").stdout)
    assert report["rule"] == live_report["rule"]

    def by_point(data):
        return {
            (t["label"], t["pareto"], t["selected"]): {k: t["metrics"][k] for k in REPORTED}
            for t in data["trials"]
        }

    assert by_point(report) == by_point(live_report)
