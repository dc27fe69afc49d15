"""`orch sweep` on real Ray and a real MLflow store (SQLite), judged by what MLflow holds."""

import json
import os
import signal
import subprocess
import sys
import time

import pytest
import yaml
from mlflow.tracking import MlflowClient

from tests.helpers import ROOT, assert_one_line_error, run_orch

SPEC = str(ROOT / "search_spaces" / "cocoa.yaml")
TINY = [
    "--set",
    "protocol.datasets=[toyworld]",  # one dataset: the protocol's own tests cover several
    "--set",
    "data.shots=2",
    "--set",
    "data.n_views=1",
    "--set",
    "train.epochs=2",
    "--set",
    "train.weight_epochs=1",
    "--set",
    "method.pool_size=200",
    "--set",
    "space.method.outlier_vocab.choices=[random_words, random_strings]",
]
PARAMS = {"w", "lambda", "outlier_vocab", "train.lr", "method.resample_every", "train.epochs"}


def orch(cwd, *args):
    return run_orch(*args, cwd=cwd)


def client_for(cwd):
    return MlflowClient(tracking_uri=f"sqlite:///{cwd / 'mlflow.db'}")


def children(client, experiment="cocoa-toyworld"):
    """(sweep runs, configuration runs): a configuration run's parent is a sweep run."""
    exp = client.get_experiment_by_name(experiment)
    runs = client.search_runs([exp.experiment_id], max_results=1000)
    parents = [r for r in runs if "orch.sweep" in r.data.tags]
    ids = {p.info.run_id for p in parents}
    kids = [r for r in runs if r.data.tags.get("mlflow.parentRunId") in ids]
    return parents, kids


def cells_of(client, config_run):
    """The cell runs nested under one configuration run."""
    return client.search_runs(
        [config_run.info.experiment_id],
        filter_string=f"tags.mlflow.parentRunId = '{config_run.info.run_id}'",
        max_results=1000,
    )


@pytest.mark.slow
def test_sweep_leaves_parent_and_children_in_mlflow(tmp_path):
    result = orch(tmp_path, "sweep", SPEC, *TINY, "--set", "search.num_trials=3")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "selected" in result.stdout and "orch report" in result.stdout

    client = client_for(tmp_path)
    parents, kids = children(client)
    assert len(parents) == 1 and len(kids) == 3
    parent = parents[0]
    assert {k.data.tags["mlflow.parentRunId"] for k in kids} == {parent.info.run_id}
    assert {k.info.status for k in kids} == {"FINISHED"}
    coop = [k for k in kids if k.data.tags.get("point") == "coop"]
    assert (
        len(coop) == 1
        and coop[0].data.params["w"] == "0.0"
        and coop[0].data.params["lambda"] == "0.0"
    )
    for kid in kids:
        assert PARAMS <= set(kid.data.params)
        history = client.get_metric_history(kid.info.run_id, "hm")
        assert len(history) >= 2 and sorted(m.step for m in history) == [m.step for m in history]
        for name in (
            "base_acc",
            "new_acc",
            "hm",
            "ece_base",
            "ece_new",
            "ece",
            "loss_ce",
            "test_hm",
            "test_ece",
        ):
            assert name in kid.data.metrics, name
        assert not any(
            k.startswith(("time_", "training_iteration", "timestamp")) for k in kid.data.metrics
        )
        artifacts = {a.path for a in client.list_artifacts(kid.info.run_id)}
        assert {"trial_config.json", "prompt_state.pt"} <= artifacts
        assert kid.data.tags["node"]
        (cell,) = cells_of(client, kid)  # one cell: the spec's own dataset and seed
        assert cell.info.status == "FINISHED"
        assert (cell.data.tags["dataset"], cell.data.tags["seed"]) == ("toyworld", "1")
        assert cell.data.metrics["test_hm"] == pytest.approx(kid.data.metrics["test_hm"])
        assert {"reliability_base.png", "reliability_new.png", "trial_config.json"} <= {
            a.path for a in client.list_artifacts(cell.info.run_id)
        }
    assert {"spec.yaml", "pareto.png", "objectives_vs_params.png"} <= {
        a.path for a in client.list_artifacts(parent.info.run_id)
    }

    report = orch(tmp_path, "report", "--json")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert set(data) >= {"experiment", "objectives", "trials", "selected"}
    front = [t for t in data["trials"] if t["pareto"]]
    assert front and sum(t["selected"] for t in data["trials"]) == 1
    for a in front:  # non-dominated
        for b in data["trials"]:
            assert not (
                b["metrics"]["hm"] >= a["metrics"]["hm"]
                and b["metrics"]["ece"] <= a["metrics"]["ece"]
                and (
                    b["metrics"]["hm"] > a["metrics"]["hm"]
                    or b["metrics"]["ece"] < a["metrics"]["ece"]
                )
            )
    selected = next(t for t in data["trials"] if t["selected"])
    assert client.get_run(selected["run_id"]).data.tags["selected"] == "true"

    exported = orch(tmp_path, "export", "-o", str(tmp_path / "best.yaml"))
    assert exported.returncode == 0 and (tmp_path / "best.yaml").is_file()


@pytest.mark.slow
def test_asha_pruned_trials_are_tagged_and_never_on_the_front(tmp_path):
    # the first configuration barely moves the context; the second takes steps so large that
    # its first epoch already falls behind: ASHA's first rung stops it
    raw = yaml.safe_load((ROOT / "search_spaces" / "cocoa.yaml").read_text())
    del raw["space"]["train.lr"]
    plain = {"method.mixture": False, "method.w": 0.0, "method.lam": 0.0}
    raw["search"]["points_to_evaluate"] = [
        {"name": "gentle", "values": {**plain, "train.lr": 0.0001}},
        {"name": "reckless", "values": {**plain, "train.lr": 0.5}},
    ]
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(raw))
    result = orch(
        tmp_path,
        "sweep",
        str(spec),
        *TINY,
        "--set",
        "search.num_trials=4",
        "--set",
        "search.max_concurrent=1",
        "--set",
        "search.scheduler=asha",
        "--set",
        "search.asha.grace_period=1",
        "--set",
        "search.asha.reduction_factor=2",
        "--set",
        "train.epochs=3",
        "--set",
        "train.warmup_epochs=0",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    data = json.loads(orch(tmp_path, "report", "--json").stdout)
    pruned = [t for t in data["trials"] if t["pruned"]]
    assert len(data["trials"]) == 4 and pruned
    assert not any(t["pareto"] or t["selected"] for t in pruned)
    assert all(t["status"] == "KILLED" and "test_hm" not in t["metrics"] for t in pruned)


TWO_SEEDS = ["--set", "protocol.seeds=[1, 2]", "--set", "protocol.parallel_cells=2"]


@pytest.mark.slow
def test_killed_sweep_resumes_with_every_trial_and_cell_once(tmp_path):
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    args = [
        sys.executable,
        "-m",
        "orchestrator.cli",
        "sweep",
        SPEC,
        *TINY,
        *TWO_SEEDS,
        "--set",
        "search.num_trials=4",
        "--set",
        "search.max_concurrent=1",
        "--set",
        "train.epochs=3",
    ]
    proc = subprocess.Popen(
        args,
        cwd=tmp_path,
        env=env,
        stdout=open(tmp_path / "sweep.log", "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    # wait on the sweep's own output: a second MLflow client initialising the fresh SQLite
    # store while the sweep does would race MLflow's schema migration
    deadline = time.time() + 300
    while time.time() < deadline and " DONE " not in (tmp_path / "sweep.log").read_text():
        time.sleep(2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    client = client_for(tmp_path)
    assert " DONE " in (tmp_path / "sweep.log").read_text(), (tmp_path / "sweep.log").read_text()
    _, before = children(client)
    finished_before = {k.data.tags["ray_trial_id"] for k in before if k.info.status == "FINISHED"}
    assert finished_before

    resumed = orch(tmp_path, "sweep", SPEC, *TINY, *TWO_SEEDS, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _, after = children(client)
    ids = [k.data.tags["ray_trial_id"] for k in after]
    assert len(ids) == len(set(ids)) == 4
    assert {k.info.status for k in after} == {"FINISHED"}
    for kid in after:  # no trial or cell was rerun from scratch: no epoch history is doubled
        cells = cells_of(client, kid)
        assert sorted(c.data.tags["orch.cell"] for c in cells) == [
            "toyworld/seed1",
            "toyworld/seed2",
        ]
        assert {c.info.status for c in cells} == {"FINISHED"}
        for run in [kid, *cells]:
            steps = [m.step for m in client.get_metric_history(run.info.run_id, "hm")]
            assert len(steps) == len(set(steps)) and len(steps) >= 3


@pytest.mark.slow
def test_sigterm_ends_the_sweep_killed_and_a_resume_runs_every_configuration_once(tmp_path):
    # what a scheduler or a container runtime sends: the driver's own pid, SIGTERM
    args = [*TINY, "--set", "search.num_trials=3", "--set", "search.max_concurrent=1"]
    args += ["--set", "train.epochs=10"]
    log = tmp_path / "sweep.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "sweep", SPEC, *args],
        cwd=tmp_path,
        env={**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)},
        stdout=open(log, "w"),
        stderr=open(tmp_path / "sweep.err", "w"),
        start_new_session=True,
    )
    try:
        deadline = time.time() + 300
        while time.time() < deadline and proc.poll() is None:  # the second trial under way
            text = log.read_text()
            if " DONE " in text and "RUNNING" in text.split(" DONE ", 1)[1]:
                break
            time.sleep(0.2)
        os.kill(proc.pid, signal.SIGTERM)
        proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    err = (tmp_path / "sweep.err").read_text()
    assert "Traceback" not in err, err
    ended = subprocess.CompletedProcess(proc.args, proc.returncode, log.read_text(), err)
    assert_one_line_error(ended, "interrupted", f"orch sweep {SPEC} --resume")
    client = client_for(tmp_path)
    parents, before = children(client)
    assert [p.info.status for p in parents] == ["KILLED"]
    status = {k.data.tags["ray_trial_id"]: k.info.status for k in before}
    assert sorted(status.values()) == ["FINISHED", "KILLED"], status  # none left RUNNING

    resumed = orch(tmp_path, "sweep", SPEC, *args, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    parents, after = children(client)
    assert [p.info.status for p in parents] == ["FINISHED"]
    ids = [k.data.tags["ray_trial_id"] for k in after]
    assert len(ids) == len(set(ids)) == 3 and set(status) < set(ids)
    assert {k.info.status for k in after} == {"FINISHED"}
    for kid in after:  # the interrupted one went on from its checkpoint: no epoch twice
        steps = [m.step for m in client.get_metric_history(kid.info.run_id, "hm")]
        assert len(steps) == len(set(steps)) and len(steps) >= 10, steps


def test_bad_input_starts_nothing(tmp_path):
    result = orch(tmp_path, "sweep", SPEC, "--tracking-uri", "http://127.0.0.1:9")
    assert_one_line_error(result, "http://127.0.0.1:9", "unreachable")
    assert not (tmp_path / "orch_runs").exists() and not (tmp_path / "mlflow.db").exists()
    resume = orch(tmp_path, "sweep", SPEC, "--resume")
    assert_one_line_error(resume, "--resume", "no sweep")
    assert not (tmp_path / "mlflow.db").exists()
    typo = orch(tmp_path, "sweep", SPEC, "--set", "search.num_trails=2")
    assert_one_line_error(typo, "search.num_trails", "did you mean")
