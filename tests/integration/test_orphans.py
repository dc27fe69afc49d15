"""A resumed sweep's orphans (trials a killed driver ended after its last state save, unknown
to the restored experiment) settled against the Optuna journal, in a real MLflow store: kept
where the journal holds them ended, written from Ray's trial folder where MLflow's copy is
unfinished, ended KILLED where there is no folder, dropped where the journal says FAIL."""

import json

from mlflow.tracking import MlflowClient

from orchestrator.tracking.missing import DRIVER_KILLED, settle_orphans
from orchestrator.tracking.runs import TrialRuns
from tests.integration.test_cell_metrics import result
from workers.config import TrialConfig
from workers.messages import TrialRequest
from workers.protocol import Protocol

PROTOCOL = Protocol(datasets=("dtd", "eurosat"), seeds=(1, 2))


def request() -> TrialRequest:
    return TrialRequest(TrialConfig(), {"train.epochs": 2}, protocol=PROTOCOL)


def test_orphans_agree_with_the_journal(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("orphans")
    parent = client.create_run(experiment, tags={"orch.sweep": "s"}).info.run_id
    runs = TrialRuns(uri, experiment, parent, ["hm", "ece"], cell_metrics="final")
    made = {}
    for trial_id in ("known", "complete", "partial", "folder", "stale", "failed"):
        made[trial_id] = runs.create(trial_id, request(), number=len(made))
        runs.log_result(made[trial_id], result(1))
    runs.finish(made["complete"], request(), result(2, final=True), None)
    # Ray synced this one's folder to the experiment before the kill
    folder = tmp_path / "experiment" / "train_folder_3_w=0_2026-12-07"
    folder.mkdir(parents=True)
    (folder / "params.json").write_text(json.dumps(request().to_ray()))
    reports = [result(1), result(2), result(2, final=True)]
    (folder / "result.json").write_text("".join(json.dumps(r) + "\n" for r in reports))
    # this one's was synced after its first epoch only: Optuna heard more than Ray's folder
    stale = tmp_path / "experiment" / "train_stale_4_w=0_2026-12-07"
    stale.mkdir()
    (stale / "params.json").write_text(json.dumps(request().to_ray()))
    (stale / "result.json").write_text(json.dumps(result(1)) + "\n")
    ended = {"known": "COMPLETE", "complete": "COMPLETE", "partial": "PRUNED",
             "folder": "COMPLETE", "stale": "COMPLETE"}  # fmt: skip

    touched = settle_orphans(runs, tmp_path / "experiment", {"known"}, ended)

    assert touched == 4  # partial, folder, stale, failed; known and complete stay as they are
    status = {t: client.get_run(r).info.status for t, r in made.items()}
    assert status["known"] == "RUNNING"  # Tune goes on with it: not an orphan's business
    assert status["complete"] == "FINISHED"
    partial = client.get_run(made["partial"])
    assert partial.info.status == "KILLED" and partial.data.tags["stopped_by"] == DRIVER_KILLED
    assert "test_hm" not in partial.data.metrics  # never on the front
    folder_run = client.get_run(made["folder"])
    assert folder_run.info.status == "FINISHED"
    assert folder_run.data.metrics["test_hm"] == 59.5
    steps = [m.step for m in client.get_metric_history(made["folder"], "hm")]
    assert steps == [1, 2]  # epoch 1 was in MLflow already: not written twice
    assert len(runs.cells(made["folder"])) == 4  # its cells, from its last result
    stale_run = client.get_run(made["stale"])  # complete in Optuna, not in what Ray kept
    assert stale_run.info.status == "KILLED"
    assert stale_run.data.tags["stopped_by"] == DRIVER_KILLED
    assert client.get_run(made["failed"]).info.lifecycle_stage == "deleted"
    assert sorted(runs.children()) == ["complete", "folder", "known", "partial", "stale"]
