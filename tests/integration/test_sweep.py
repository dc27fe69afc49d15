"""`orch sweep` on real Ray and a real MLflow store (SQLite), judged by what MLflow holds."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from wsgiref.util import setup_testing_defaults

import optuna
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
# the coop point only, no zero-shot reference: for tests that need every trial to train
TRAINED_POINTS = [
    "--set",
    "search.points_to_evaluate=[{name: coop, values: {method.w: 0.0, method.lam: 0.0, "
    "method.mixture: false}}]",
]
PARAMS = {"w", "lambda", "outlier_vocab", "lr", "resample_every", "train.epochs"}
FIXED = {"train.epochs", "method.mixture", "protocol.cells"}  # the zero-shot point's


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
def test_sweep_leaves_parent_and_children_in_mlflow(tiny_sweep):
    assert tiny_sweep.returncode == 0, tiny_sweep.stderr[-3000:]
    assert "selected" in tiny_sweep.stdout and "orch report" in tiny_sweep.stdout

    client = client_for(tiny_sweep.cwd)
    parents, kids = children(client)
    assert len(parents) == 1 and len(kids) == 3
    parent = parents[0]
    assert {k.data.tags["mlflow.parentRunId"] for k in kids} == {parent.info.run_id}
    assert {k.info.status for k in kids} == {"FINISHED"}
    points = {k.data.tags.get("point"): k for k in kids}
    assert set(points) == {"coop", "zero_shot", None}
    coop = points["coop"]
    assert coop.data.params["w"] == "0.0" and coop.data.params["lambda"] == "0.0"
    for kid in kids:
        trains = kid.data.tags.get("point") != "zero_shot"
        assert (PARAMS if trains else FIXED) <= set(kid.data.params)
        # resources.cpu 1: one torch thread, not torch's default of every core
        assert kid.data.metrics["cost_threads"] == 1
        history = client.get_metric_history(kid.info.run_id, "hm")
        assert sorted(m.step for m in history) == [m.step for m in history]
        assert len(history) >= (2 if trains else 1)
        for name in (
            "base_acc",
            "new_acc",
            "hm",
            "ece_base",
            "ece_new",
            "ece",
            "test_hm",
            "test_ece",
            *(["loss_ce"] if trains else []),
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
        assert {"reliability_val.png", "reliability_test.png", "trial_config.json"} <= {
            a.path for a in client.list_artifacts(cell.info.run_id)
        }
    assert {"spec.yaml", "pareto.png", "objectives_vs_params.png"} <= {
        a.path for a in client.list_artifacts(parent.info.run_id)
    }

    report = orch(tiny_sweep.cwd, "report", "--json")
    assert report.returncode == 0, report.stderr
    data = json.loads(report.stdout)
    assert set(data) >= {"experiment", "objectives", "trials", "selected", "rule", "reason"}
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

    exported = orch(tiny_sweep.cwd, "export", "-o", str(tiny_sweep.cwd / "best.yaml"))
    assert exported.returncode == 0 and (tiny_sweep.cwd / "best.yaml").is_file()
    # any configuration, not only the selected one: coop's, which `orch trial` runs as is
    coop_yaml = tiny_sweep.cwd / "coop.yaml"
    exported = orch(tiny_sweep.cwd, "export", "--run", coop.info.run_id, "-o", str(coop_yaml))
    assert exported.returncode == 0, exported.stderr
    assert yaml.safe_load(coop_yaml.read_text())["method"]["mixture"] is False
    unknown = orch(tiny_sweep.cwd, "export", "--run", "0" * 32)
    assert_one_line_error(unknown, "--run " + "0" * 32, "orch report --json")


@pytest.mark.slow
def test_mlflow_runs_are_ready_to_compare(tiny_sweep):
    client = client_for(tiny_sweep.cwd)
    (parent,), kids = children(client)
    points = {k.data.tags.get("point"): k for k in kids}
    searched = points[None]
    # every searched setting under a short name, floats to 4 digits; the parent names them
    assert parent.data.tags["orch.searched"] == "w,d,lambda,outlier_vocab,resample_every,lr"
    assert "lr=train.lr" in parent.data.tags["orch.param_paths"]
    assert {"w", "d", "lambda", "outlier_vocab", "resample_every", "lr"} <= set(
        searched.data.params
    )
    assert not {"train.lr", "method.resample_every", "method.d"} & set(searched.data.params)
    assert len(searched.data.params["lr"].replace("0.", "").lstrip("0")) <= 5
    # conditional settings that were not sampled have no value, as in the Optuna study
    assert (
        "d" not in points["coop"].data.params and points["coop"].data.tags["orch.inactive"] == "d"
    )
    zero = points["zero_shot"]
    assert not {"w", "d", "lambda", "lr"} & set(zero.data.params)
    assert zero.data.tags["orch.inactive"] == "w,d,lambda,outlier_vocab,resample_every,lr"
    # one point per epoch: the final report adds test metrics at the last epoch's step
    epochs = {"coop": 2, "zero_shot": 0, None: 3}  # 2 prompt + 1 weight epochs with a mixture
    for point, kid in points.items():
        run = kid.info.run_id
        for key in ("hm", "ece", "cost_wall_s", "stage"):
            steps = [m.step for m in client.get_metric_history(run, key)]
            assert len(steps) == len(set(steps)) and max(steps) == epochs[point], (point, key)
        assert [m.step for m in client.get_metric_history(run, "test_hm")] == [epochs[point]]
        stages = [(m.step, m.value) for m in client.get_metric_history(run, "stage")]
        expected = {"coop": [(1, 1), (2, 1)], "zero_shot": [(0, 0)], None: [(1, 1), (2, 1), (3, 2)]}
        assert sorted(stages) == expected[point]
        assert kid.data.tags["orch.trial_number"].isdigit()
    # the sweep's run: the selection's numbers, the front's size and a description
    chosen = next(k for k in kids if k.data.tags["selected"] == "true")
    metrics = parent.data.metrics
    for key in ("hm", "ece", "test_hm", "test_ece", "base_acc", "test_new_acc"):
        assert metrics["selected_" + key] == pytest.approx(chosen.data.metrics[key])
    front = [k for k in kids if k.data.tags["pareto"] == "true"]
    assert metrics["front_size"] == len(front) >= 1
    assert {"cost_wall_s", "cost_cell_s", "cost_gpu_s"} <= set(metrics)
    note = parent.data.tags["mlflow.note.content"]
    assert "### Pareto front (validation" in note and "**Selection rule**" in note
    assert chosen.info.run_id in note and "#/compare-runs?runs=" in note
    assert "| trial |" in note.replace("|   | trial |", "| trial |")
    assert "workflowType=machine_learning" in note


@pytest.mark.slow
def test_report_reads_at_a_glance(tiny_sweep):
    report = orch(tiny_sweep.cwd, "report")
    assert report.returncode == 0, report.stderr
    lines = report.stdout.splitlines()
    assert any(line.startswith("Pareto front (validation") for line in lines)
    assert all(len(line) <= 120 for line in lines if "http://" not in line)
    header = " ".join(line for line in lines if line.lstrip().startswith("trial "))
    for name in ("hm", "test hm", "w", "d", "lambda", "outlier_vocab", "resample_every", "lr"):
        assert f" {name} " in f" {header} ", name
    assert any("zero_shot" in line for line in lines)  # the reference is always shown
    assert any(line.startswith("selected vs zero_shot:") for line in lines)
    assert "/#/experiments/" in report.stdout and "workflowType=machine_learning" in report.stdout
    assert "optuna-dashboard " in report.stdout
    # a store other than this folder's default: every hint names it
    elsewhere = orch(ROOT, "report", "--tracking-uri", f"sqlite:///{tiny_sweep.cwd}/mlflow.db")
    assert elsewhere.returncode == 0, elsewhere.stderr
    assert f"orch report --tracking-uri sqlite:///{tiny_sweep.cwd}/mlflow.db" in elsewhere.stdout
    assert f"orch ui --tracking-uri sqlite:///{tiny_sweep.cwd}/mlflow.db" in elsewhere.stdout


@pytest.mark.slow
def test_a_fresh_sweep_prints_nothing_before_its_first_line(tiny_sweep):
    # Ray's token auth is on (its default) and the MLflow store is new: neither says so
    assert tiny_sweep.returncode == 0, tiny_sweep.stderr[-3000:]
    assert tiny_sweep.stderr.strip() == ""
    lines = tiny_sweep.stdout.splitlines()
    # the fill, or that it is done already (an earlier test's sweep filled the same cache)
    assert lines[0].startswith(("filling the feature cache", "feature cache: all"))
    # whole lines: each configuration's settings once, then its epochs, then its end
    searched = next(line for line in lines if "started: w=" in line and "d=" in line)
    assert re.search(r"outlier_vocab=\w+ resample_every=(step|epoch) lr=[\d.e-]+$", searched)
    assert any(re.search(r"\[ *zero_shot\] DONE", line) for line in lines)
    assert any(line.startswith("progress: 3/3 done") for line in lines)


@pytest.mark.slow
def test_optuna_dashboard_opens_the_study(tiny_sweep):
    """optuna-dashboard's own loading code and HTTP API, on the journal the sweep wrote."""
    storage_url = pytest.importorskip("optuna_dashboard._storage_url")
    from optuna_dashboard import wsgi

    (journal,) = (tiny_sweep.cwd / "orch_runs").glob("*/optuna.journal")
    (parent,), kids = children(client_for(tiny_sweep.cwd))
    assert parent.data.tags["orch.optuna_journal"] == str(journal)
    app = wsgi(storage_url.guess_storage_from_url(str(journal)))

    def get(path):
        environ = {}
        setup_testing_defaults(environ)
        environ["PATH_INFO"] = path
        status = []
        body = b"".join(app(environ, lambda code, headers, exc=None: status.append(code)))
        assert status == ["200 OK"], (path, status, body[:300])
        return json.loads(body)

    (study,) = get("/api/studies")["study_summaries"]
    assert study["study_name"] == parent.data.tags["orch.sweep"]
    detail = get(f"/api/studies/{study['study_id']}")
    assert detail["objective_names"] == ["hm", "ece"]
    trials = {t["number"]: t for t in detail["trials"]}
    assert len(trials) == 3 and {t["state"] for t in trials.values()} == {"Complete"}
    by_number = {int(k.data.tags["orch.trial_number"]): k for k in kids}
    assert set(by_number) == set(trials)  # "#3" in orch is Trial 3 in the dashboard
    for number, trial in trials.items():
        run = by_number[number]
        params = {p["name"] for p in trial["params"]}
        logged = set(run.data.params) & {
            "w",
            "d",
            "lambda",
            "outlier_vocab",
            "resample_every",
            "lr",
        }
        assert params == logged, number  # the same short names, the same unsampled ones
        attrs = {a["key"]: a["value"] for a in trial["user_attrs"]}
        assert attrs["ray_trial_id"] == run.data.tags["ray_trial_id"]
        assert trial["values"] == pytest.approx([run.data.metrics["hm"], run.data.metrics["ece"]])


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
    assert " DONE " in (tmp_path / "sweep.log").read_text(), (tmp_path / "sweep.log").read_text()
    client = client_for(tmp_path)

    def finished() -> set[str]:
        _, runs = children(client)
        return {k.data.tags["ray_trial_id"] for k in runs if k.info.status == "FINISHED"}

    # the driver's writer thread finishes the run moments after the progress line
    while time.time() < deadline and not finished():
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert finished()

    resumed = orch(tmp_path, "sweep", SPEC, *TINY, *TWO_SEEDS, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    _, after = children(client)
    ids = [k.data.tags["ray_trial_id"] for k in after]
    # 4, and any trial the killed driver ended after its last state save (the next test)
    assert len(ids) == len(set(ids)) >= 4
    assert {k.info.status for k in after} == {"FINISHED"}
    for kid in after:  # no trial or cell was rerun from scratch: no epoch history is doubled
        cells = cells_of(client, kid)
        assert sorted(c.data.tags["orch.cell"] for c in cells) == [
            "toyworld/seed1",
            "toyworld/seed2",
        ]
        assert {c.info.status for c in cells} == {"FINISHED"}
        trains = kid.data.tags.get("point") != "zero_shot"  # one evaluation at step 0
        for run in [kid, *cells]:
            steps = [m.step for m in client.get_metric_history(run.info.run_id, "hm")]
            assert len(steps) == len(set(steps)) and (len(steps) >= 3 if trains else steps == [0])
    # the Optuna study went on in the same journal: every configuration once, finished
    (journal,) = (tmp_path / "orch_runs").glob("*/optuna.journal")
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    (summary,) = optuna.get_all_study_summaries(storage)
    study = optuna.load_study(study_name=summary.study_name, storage=storage)
    trials = study.trials
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert all(t.state.is_finished() for t in trials)
    assert sorted(t.number for t in complete) == sorted(
        int(k.data.tags["orch.trial_number"]) for k in after
    )
    assert len(complete) == len(ids) and study.metric_names == ["hm", "ece"]


@pytest.mark.slow
def test_a_trial_finished_after_the_last_state_save_stays_in_mlflow_as_in_optuna(tmp_path):
    """The killed driver saves Tune's state once (before its second trial, the zero-shot
    reference, is asked for) and finishes that trial: the restored experiment never knew it,
    the Optuna journal holds it complete and will not ask for it again."""
    args = [*TINY, "--set", "search.num_trials=3", "--set", "search.max_concurrent=1"]
    args += ["--set", "train.epochs=8"]  # the third trial still runs when zero-shot ends
    log = tmp_path / "sweep.log"
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "sweep", SPEC, *args],
        cwd=tmp_path,
        env={**env, "TUNE_GLOBAL_CHECKPOINT_S": "3600"},  # its first save is its only one
        stdout=open(log, "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.time() + 300
    while time.time() < deadline and log.read_text().count(" DONE ") < 2:
        time.sleep(1)
    client = client_for(tmp_path)

    def finished() -> dict[str, str]:
        return {k.data.tags.get("point", "?"): k.info.run_id for k in children(client)[1]
                if k.info.status == "FINISHED"}  # fmt: skip

    while time.time() < deadline and "zero_shot" not in finished():
        time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert "zero_shot" in finished(), log.read_text()[-3000:]
    (state,) = (tmp_path / "orch_runs").glob("*/experiment_state-*.json")
    assert len(json.loads(state.read_text())["trial_data"]) == 1  # coop's only: zero-shot is new

    resumed = orch(tmp_path, "sweep", SPEC, *args, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "kept trial" in resumed.stdout and "last state save" in resumed.stdout
    _, after = children(client)
    points = [k.data.tags.get("point") for k in after]
    assert points.count("zero_shot") == 1 and points.count("coop") == 1, points
    # an orphan whose last results the killed driver never wrote to MLflow (the third
    # trial, where it ended in the moments before the kill) ends KILLED, said why
    ended_as = {(k.info.status, k.data.tags.get("stopped_by")) for k in after}
    assert ended_as <= {("FINISHED", None), ("KILLED", "driver killed")}, ended_as
    # the resumed searcher does not draw again what it drew for the orphans
    values = [tuple(sorted(client.get_run(k.info.run_id).data.params.items())) for k in after]
    assert len(set(values)) == len(values)
    (zero_shot,) = (k for k in after if k.data.tags.get("point") == "zero_shot")
    assert [m.step for m in client.get_metric_history(zero_shot.info.run_id, "hm")] == [0]
    assert "test_hm" in zero_shot.data.metrics
    assert len(cells_of(client, zero_shot)) == 1
    (journal,) = (tmp_path / "orch_runs").glob("*/optuna.journal")
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(journal))
    )
    (summary,) = optuna.get_all_study_summaries(storage)
    trials = optuna.load_study(study_name=summary.study_name, storage=storage).trials
    ended = [t for t in trials if t.state != optuna.trial.TrialState.FAIL]
    assert all(t.state.is_finished() for t in trials)
    assert sorted(t.number for t in ended) == sorted(
        int(k.data.tags["orch.trial_number"]) for k in after
    )
    # three configurations the resumed experiment knows, and those it did not (zero-shot's,
    # and the third trial's where it ended before the kill)
    assert len(after) == len({k.data.tags["ray_trial_id"] for k in after}) >= 4


@pytest.mark.slow
def test_sigterm_ends_the_sweep_killed_and_a_resume_runs_every_configuration_once(tmp_path):
    # what a scheduler or a container runtime sends: the driver's own pid, SIGTERM
    args = [*TINY, *TRAINED_POINTS, "--set", "search.num_trials=3"]
    args += ["--set", "search.max_concurrent=1", "--set", "train.epochs=10"]
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
            if " DONE " in text and re.search(r" epoch [1-9]", text.split(" DONE ", 1)[1]):
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
