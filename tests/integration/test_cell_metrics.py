"""``tracking.cell_metrics``, in a real MLflow store: with ``every_epoch`` a cell run gets each
epoch's point; with ``final`` it is written once, when its configuration ends (finished or
stopped by ASHA), with the same last numbers, and the callback sends it nothing before; with
``one_run`` a configuration's cells are one run under it, each cell's last numbers its
``cells/<cell>/<metric>``, once, and the configuration run itself carries none."""

from types import SimpleNamespace

from mlflow.tracking import MlflowClient

from orchestrator.tracking.callbacks import mlflow_callback
from orchestrator.tracking.runs import TrialRuns
from workers.config import TrialConfig
from workers.messages import CELLS, FINAL, TrialRequest
from workers.protocol import Protocol

PROTOCOL = Protocol(datasets=("dtd", "eurosat"), seeds=(1, 2))


def result(epoch: int, final: bool = False) -> dict:
    """A configuration's report over the 4 cells of PROTOCOL, as a trial makes one."""
    cells = []
    for dataset in PROTOCOL.datasets:
        for seed in PROTOCOL.seeds:
            metrics = {"hm": 60.0 + epoch + seed, "ece": 9.0 - epoch}
            if final:
                metrics |= {"test_hm": 58.0 + seed, "test_ece": 7.0}
            cells.append({"dataset": dataset, "seed": seed, "metrics": metrics})
    config = {"hm": 61.5 + epoch, "ece": 9.0 - epoch, "epoch": epoch, CELLS: cells}
    return config | ({FINAL: 1, "test_hm": 59.5, "test_ece": 7.0} if final else {})


def sweep_runs(tmp_path, cell_metrics: str) -> tuple[MlflowClient, TrialRuns]:
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(tracking_uri=uri)
    experiment = client.create_experiment("cells")
    parent = client.create_run(experiment, tags={"orch.sweep": "s"}).info.run_id
    return client, TrialRuns(uri, experiment, parent, ["hm", "ece"], cell_metrics=cell_metrics)


def play(runs: TrialRuns, request: TrialRequest, epochs: int, *, finishes: bool) -> str:
    """One trial's reports, then its end, through the sweep's own MLflow callback (the trial
    as Tune hands it: an id, its config, its last result)."""
    callback = mlflow_callback(runs)
    trial = SimpleNamespace(trial_id="t", config=request.to_ray(), last_result={}, checkpoint=None)
    reports = [result(e) for e in range(1, epochs + 1)]
    reports += [result(epochs, final=True)] if finishes else []
    callback.on_trial_start(0, [trial], trial)
    for report in reports:
        trial.last_result = report
        callback.on_trial_result(0, [trial], trial, report)
    callback.on_trial_complete(0, [trial], trial)
    callback.on_experiment_end([trial])  # as Tune ends a sweep: the writes are made by then
    assert callback.lost is None  # no MLflow call failed
    return runs.children("t")["t"].info.run_id


def cell_runs(client: MlflowClient, runs: TrialRuns, run_id: str) -> dict:
    return {key: client.get_run(r.info.run_id) for key, r in runs.cells(run_id).items()}


def test_final_cells_are_written_once_with_the_last_numbers(tmp_path):
    request = TrialRequest(TrialConfig(), {"method.w": 1.0}, protocol=PROTOCOL)
    (tmp_path / "every").mkdir(), (tmp_path / "once").mkdir()
    client, every = sweep_runs(tmp_path / "every", cell_metrics="every_epoch")
    final_client, once = sweep_runs(tmp_path / "once", cell_metrics="final")
    kept = cell_runs(client, every, play(every, request, 3, finishes=True))
    written = cell_runs(final_client, once, play(once, request, 3, finishes=True))
    assert set(kept) == set(written) == {"dtd/seed1", "dtd/seed2", "eurosat/seed1", "eurosat/seed2"}
    for key, run in written.items():
        assert run.info.status == "FINISHED" and run.data.params["data.dataset"] in key
        assert len(final_client.get_metric_history(run.info.run_id, "hm")) == 1
        assert len(client.get_metric_history(kept[key].info.run_id, "hm")) == 3
        # the same last numbers either way: test metrics, and the last epoch's validation
        assert run.data.metrics == {k: v for k, v in kept[key].data.metrics.items() if k != "stage"}


def test_a_stopped_configurations_cells_are_written_once_and_say_so(tmp_path):
    request = TrialRequest(TrialConfig(), {"method.w": 1.0}, protocol=PROTOCOL)
    client, runs = sweep_runs(tmp_path, cell_metrics="final")
    run_id = play(runs, request, 2, finishes=False)  # ASHA stopped it after epoch 2
    cells = cell_runs(client, runs, run_id)
    assert len(cells) == 4
    for run in cells.values():
        assert (run.info.status, run.data.tags["stopped_by"]) == ("KILLED", "pruned")
        history = client.get_metric_history(run.info.run_id, "hm")
        assert [(m.step, m.value) for m in history] == [(2, 60.0 + 2 + int(run.data.tags["seed"]))]
    assert client.get_run(run_id).data.tags["stopped_by"] == "pruned"


def test_a_finish_after_a_killed_driver_makes_only_the_missing_cells(tmp_path):
    """The driver died halfway through writing a stopped configuration's cells: the resumed
    sweep's finish makes the other cells, never a second run of one already there."""
    request = TrialRequest(TrialConfig(), {"method.w": 1.0}, protocol=PROTOCOL)
    client, runs = sweep_runs(tmp_path, cell_metrics="final")
    run_id = runs.create("t", request)
    last = result(2)
    half = {**last, CELLS: last[CELLS][:2]}
    runs.log_cells(run_id, request, half, {})  # what the killed driver got to write
    runs.finish(run_id, request, last, checkpoint=None)  # the resumed sweep's
    cells = cell_runs(client, runs, run_id)
    assert len(cells) == 4 and len(client.search_runs([runs.experiment_id])) == 1 + 1 + 4
    assert {run.info.status for run in cells.values()} == {"KILLED"}
    assert {run.data.tags["stopped_by"] for run in cells.values()} == {"pruned"}


def cells_run(client: MlflowClient, runs: TrialRuns, run_id: str):
    """The one run under a configuration that holds its cells (``one_run``)."""
    (under,) = client.search_runs(
        [runs.experiment_id], filter_string=f"tags.mlflow.parentRunId = '{run_id}'"
    )
    assert under.data.tags["orch.cells"] == "all"
    return under


def test_one_run_holds_every_cells_last_metrics_written_once(tmp_path):
    request = TrialRequest(TrialConfig(), {"method.w": 1.0}, protocol=PROTOCOL)
    (tmp_path / "runs").mkdir(), (tmp_path / "one").mkdir()
    runs_client, as_runs = sweep_runs(tmp_path / "runs", cell_metrics="final")
    client, one = sweep_runs(tmp_path / "one", cell_metrics="one_run")
    kept = cell_runs(runs_client, as_runs, play(as_runs, request, 3, finishes=True))
    run_id = play(one, request, 3, finishes=True)
    # the sweep, its configuration and the configuration's cells: three runs, not 1 + 1 + 4
    assert len(client.search_runs([one.experiment_id])) == 3
    config = client.get_run(run_id)
    assert config.info.status == "FINISHED"
    assert not any(k.startswith("cells/") for k in config.data.metrics)  # report reads it
    holder = cells_run(client, one, run_id)
    assert holder.info.status == "FINISHED"
    assert holder.info.run_name == f"{config.info.run_name} cells"
    metrics = holder.data.metrics
    cells = {k.removeprefix("cells/"): v for k, v in metrics.items() if k.startswith("cells/")}
    expected = {
        f"{key}/{name}": value
        for key, cell in kept.items()
        for name, value in cell.data.metrics.items()
        if name not in ("stage", FINAL)
    }
    assert cells == expected and len(cells) == 4 * 4  # hm, ece, test_hm, test_ece of 4 cells
    for key in cells:
        history = client.get_metric_history(holder.info.run_id, f"cells/{key}")
        assert [m.step for m in history] == [3]
    # a resumed sweep finishing it again (its driver killed after the end) adds no point, and
    # no second cells run
    one.finish(run_id, request, result(3, final=True), checkpoint=None)
    assert len(client.get_metric_history(holder.info.run_id, "cells/dtd/seed1/hm")) == 1
    assert cells_run(client, one, run_id).info.run_id == holder.info.run_id


def test_a_stopped_configurations_one_cells_run_is_its_last_report(tmp_path):
    request = TrialRequest(TrialConfig(), {"method.w": 1.0}, protocol=PROTOCOL)
    client, runs = sweep_runs(tmp_path, cell_metrics="one_run")
    run_id = play(runs, request, 2, finishes=False)  # ASHA stopped it after epoch 2
    run = client.get_run(run_id)
    assert (run.info.status, run.data.tags["stopped_by"]) == ("KILLED", "pruned")
    holder = cells_run(client, runs, run_id)
    assert (holder.info.status, holder.data.tags["stopped_by"]) == ("KILLED", "pruned")
    history = client.get_metric_history(holder.info.run_id, "cells/eurosat/seed2/hm")
    assert [(m.step, m.value) for m in history] == [(2, 60.0 + 2 + 2)]
    assert not any("test_" in k for k in holder.data.metrics)
