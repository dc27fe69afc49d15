"""`orch submit` on a real two-node Ray cluster with a real MLflow server, both on loopback."""

import pytest
from mlflow.tracking import MlflowClient

from orchestrator.submission.upload import upload_files
from tests.helpers import ROOT, assert_one_line_error, run_orch
from tests.integration.cluster import MlflowServer, ray_cluster
from tests.integration.test_sweep import TINY

SPEC = "search_spaces/cocoa.yaml"
TOKEN = "orch-test-token-5b1e"
NO_TOKEN = {"RAY_AUTH_TOKEN": "", "RAY_AUTH_TOKEN_PATH": "/nonexistent/auth_token"}
WITH_TOKEN = {"RAY_AUTH_TOKEN": TOKEN}
API_KEY = "orch-test-api-key-93d0"


@pytest.fixture(scope="module")
def services(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cluster")
    server = MlflowServer(folder).start()
    try:
        with ray_cluster(folder, TOKEN) as cluster:
            yield cluster.dashboard, server, folder, cluster.temp_dirs
    finally:
        server.stop()


def submit(dashboard, server, folder, *extra, env=WITH_TOKEN, experiment="cluster"):
    return run_orch(
        "submit",
        SPEC,
        "--address",
        dashboard,
        "--tracking-uri",
        server.uri,
        "--storage",
        str(folder / "shared_runs"),
        "--set",
        "storage.shared=true",
        "--set",
        f"tracking.experiment={experiment}",
        *TINY,
        *extra,
        env=env,
        timeout=600,
    )


@pytest.mark.slow
def test_submit_spreads_trials_over_both_nodes_and_logs_them_on_the_server(services):
    dashboard, server, folder, ray_dirs = services
    result = submit(
        dashboard,
        server,
        folder,
        "--set",
        "search.num_trials=4",
        "--set",
        "search.max_concurrent=2",
        "--set",
        "resources.cpu=1",
        "--env",
        f"ORCH_API_KEY={API_KEY}",
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "submitted job orch-cluster-" in result.stdout
    # what it uploads, counted as Ray packs it; the secrets masked in what it prints
    uploaded = len(upload_files(ROOT))
    assert f"uploading {ROOT}: {uploaded} files, " in result.stdout
    assert "ORCH_API_KEY=***" in result.stdout and "note: --env ORCH_API_KEY looks secret" in (
        result.stdout
    )
    for secret in (TOKEN, API_KEY):  # nor in the job's logs, followed into stdout
        assert secret not in result.stdout + result.stderr
    assert "sweep cluster: 4 finished" in result.stdout  # the driver's summary, followed live

    client = MlflowClient(tracking_uri=server.uri)
    exp = client.get_experiment_by_name("cluster")
    runs = client.search_runs([exp.experiment_id], max_results=100)
    parents = [r for r in runs if "orch.sweep" in r.data.tags]
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    sweep_run = parents[0].info.run_id
    kids = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == sweep_run]
    cells = [
        r for r in runs if r.data.tags.get("mlflow.parentRunId") in {k.info.run_id for k in kids}
    ]
    assert len(kids) == 4 and len(cells) == 4  # a configuration run and its one cell each
    assert {c.info.status for c in cells} == {"FINISHED"}
    assert {k.info.status for k in kids} == {"FINISHED"}
    assert len({k.data.tags["node"] for k in kids}) == 2, [k.data.tags["node"] for k in kids]
    for kid in kids:
        assert {"test_hm", "test_ece", "hm", "ece"} <= set(kid.data.metrics)
        steps = [m.step for m in client.get_metric_history(kid.info.run_id, "hm")]
        trains = kid.data.tags.get("point") != "zero_shot"  # evaluated once, at step 0
        assert len(steps) == len(set(steps)) >= (2 if trains else 1)
        artifacts = {a.path for a in client.list_artifacts(kid.info.run_id)}
        assert {"trial_config.json", "prompt_state.pt"} <= artifacts

    for run in runs:  # nor in any MLflow param or tag
        logged = " ".join(map(str, [*run.data.params.values(), *run.data.tags.values()]))
        assert TOKEN not in logged and API_KEY not in logged, run.info.run_id

    listed = run_orch("jobs", "--address", dashboard, env=WITH_TOKEN)
    assert listed.returncode == 0 and "SUCCEEDED" in listed.stdout
    ray_logs = [p for d in ray_dirs for p in d.glob("session_*/logs/**/*") if p.is_file()]
    assert any(p.name == "runtime_env_agent.log" for p in ray_logs)  # where Ray logs env_vars
    leaked = [p.name for p in ray_logs if TOKEN in p.read_text(errors="replace")]
    assert not leaked, f"the token is in Ray's logs: {leaked}"


@pytest.mark.slow
def test_a_job_that_fails_inside_the_cluster_reports_the_drivers_reason(services):
    dashboard, server, folder, _ = services
    missing = ["--set", "protocol.datasets=[dtd]", "--set", "data.root=/nonexistent/datasets"]
    result = submit(dashboard, server, folder, *missing)
    line = assert_one_line_error(result, "FAILED", "/nonexistent/datasets", "dtd")
    assert line.startswith("orch submit: error: job orch-cluster-")


@pytest.mark.slow
def test_missing_or_wrong_token_and_unreachable_cluster_are_one_line(services):
    dashboard, server, folder, _ = services
    missing = run_orch("jobs", "--address", dashboard, env=NO_TOKEN)
    assert_one_line_error(missing, dashboard, "requires an auth token", "RAY_AUTH_TOKEN")
    wrong = submit(dashboard, server, folder, env={"RAY_AUTH_TOKEN": "not-the-token"})
    assert_one_line_error(wrong, dashboard, "rejected the auth token")
    gone = run_orch("jobs", "--address", "http://127.0.0.1:9", env=WITH_TOKEN)
    assert_one_line_error(gone, "http://127.0.0.1:9", "unreachable")
    unknown = run_orch("logs", "no-such-job", "--address", dashboard, env=WITH_TOKEN)
    assert_one_line_error(unknown, "no-such-job")


def test_cluster_unsafe_settings_are_refused_before_anything_is_uploaded(tmp_path):
    base = ["submit", SPEC, "--address", "http://127.0.0.1:9"]
    sqlite = run_orch(*base, "--storage", "s3://bucket/runs", env=NO_TOKEN)
    assert_one_line_error(sqlite, "tracking.uri", "mlflow server", "--tracking-uri http://")
    server = ["--tracking-uri", "http://127.0.0.1:9"]
    local = run_orch(*base, *server, env=NO_TOKEN)
    assert_one_line_error(local, "storage.path", "./orch_runs", "storage.shared=true")
    undeclared = run_orch(*base, *server, "--storage", str(tmp_path), env=NO_TOKEN)
    assert_one_line_error(undeclared, "storage.path", str(tmp_path))
    typo = run_orch(*base, *server, "--set", "search.num_trails=4", env=NO_TOKEN)
    assert_one_line_error(typo, "num_trails", "did you mean")
    ray_port = run_orch(
        *base[:2], "--address", "127.0.0.1:6379", *server, "--storage", "s3://b/r", env=NO_TOKEN
    )
    assert_one_line_error(ray_port, "--address", "8265")
    outside = tmp_path / "spec.yaml"
    outside.write_text((ROOT / SPEC).read_text())
    elsewhere = run_orch(
        "submit",
        str(outside),
        "--address",
        "http://127.0.0.1:9",
        *server,
        "--storage",
        "s3://b/r",
        env=NO_TOKEN,
    )
    assert_one_line_error(elsewhere, "inside the folder the job uploads", str(ROOT))
