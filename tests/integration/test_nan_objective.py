"""A finished configuration whose objective is NaN or infinite, in a real MLflow store: marked
FAILED with the reason, never on the front, and the report and plots still work."""

import math

from mlflow.tracking import MlflowClient

from orchestrator.report.sweep_report import print_result
from orchestrator.selection.results import collect
from orchestrator.selection.rule import Objective, SelectionRule
from orchestrator.tracking.plots import plot_sweep
from orchestrator.tracking.runs import TrialRuns
from workers.config import TrialConfig
from workers.messages import FINAL, TrialRequest

OBJECTIVES = [Objective(metric="hm", mode="max"), Objective(metric="ece", mode="min")]


def test_nan_objective_is_marked_and_kept_off_the_front(tmp_path, capsys):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("nan")
    parent = client.create_run(experiment, tags={"orch.sweep": "s"}).info.run_id
    runs = TrialRuns(uri, experiment, parent, [o.metric for o in OBJECTIVES])
    finals = {
        "good": {"hm": 60.0, "ece": 5.0, "test_hm": 58.0, "test_ece": 6.0},
        "diverged": {"hm": math.nan, "ece": 5.0, "test_hm": math.nan, "test_ece": 6.0},
        "infinite": {"hm": 50.0, "ece": math.inf, "test_hm": 50.0, "test_ece": math.inf},
    }
    ids = {}
    for name, metrics in finals.items():
        request = TrialRequest(TrialConfig(), {"method.w": 1.0}, name)
        ids[name] = runs.create(name, request)
        result = {**metrics, "epoch": 1, FINAL: 1}
        runs.log_result(ids[name], result)
        runs.finish(ids[name], request, result, checkpoint=None)

    assert client.get_run(ids["good"]).info.status == "FINISHED"
    for name in ("diverged", "infinite"):
        run = client.get_run(ids[name])
        assert run.info.status == "FAILED"
        assert "objective not finite" in run.data.tags["error"]
    assert "hm=nan" in client.get_run(ids["diverged"]).data.tags["error"]

    result = collect(client, experiment, parent, OBJECTIVES, SelectionRule(), "nan")
    on_front = [t.name for t in result.trials if t.pareto]
    assert on_front == [result.selected.name] and result.selected.run_id == ids["good"]
    print_result(result, uri)
    assert "failed" in capsys.readouterr().out
    result.searched = ["w"]
    assert [p.name for p in plot_sweep(result, tmp_path)] == [
        "pareto.png",
        "objectives_vs_params.png",
    ]
