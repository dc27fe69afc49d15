"""PostgreSQL as MLflow's store: a real sweep through an `mlflow server` backed by a throwaway
PostgreSQL, and straight from the driver with ``tracking.uri: postgresql://``; judged by the
runs MLflow holds."""

import os
import time
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import ROOT, assert_one_line_error, run_orch
from tests.integration.cluster import MlflowServer, free_port
from tests.integration.test_sweep import SPEC, TINY, cells_of, children

# two configurations: the spec's named points, coop (one epoch of training) and zero_shot
SMALL = [*TINY, "--set", "train.epochs=1", "--set", "search.num_trials=2"]


def assert_sweep_in(client: MlflowClient, experiment: str = "cocoa-toyworld") -> set[str]:
    """One FINISHED sweep run over two FINISHED configuration runs with their metrics, each
    over one FINISHED cell run. -> the configuration runs' ids"""
    parents, kids = children(client, experiment)
    assert len(parents) == 1 and parents[0].info.status == "FINISHED"
    assert "selected_hm" in parents[0].data.metrics
    assert {k.data.tags.get("point") for k in kids} == {"coop", "zero_shot"}
    for kid in kids:
        assert kid.info.status == "FINISHED"
        assert {"hm", "ece", "base_acc", "new_acc", "test_hm"} <= set(kid.data.metrics)
        if kid.data.tags["point"] == "coop":
            assert "loss_ce" in kid.data.metrics and kid.data.params["w"] == "0.0"
        (cell,) = cells_of(client, kid)
        assert cell.info.status == "FINISHED" and cell.data.tags["dataset"] == "toyworld"
        assert cell.data.metrics["test_hm"] == pytest.approx(kid.data.metrics["test_hm"])
    return {k.info.run_id for k in kids}


@pytest.mark.slow
def test_a_sweep_through_a_postgres_backed_mlflow_server(postgres, tmp_path):
    """The cluster way: `mlflow server --backend-store-uri postgresql://...`, orch on http."""
    server = MlflowServer(tmp_path, backend=postgres.uri).start()
    try:
        done = run_orch("sweep", SPEC, *SMALL, "--tracking-uri", server.uri, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
        client = MlflowClient(tracking_uri=server.uri)
        through_server = assert_sweep_in(client)
        for run_id in through_server:  # the artifacts went to the server's own folder
            assert "trial_config.json" in {a.path for a in client.list_artifacts(run_id)}
    finally:
        server.stop()
    # the runs are rows in PostgreSQL, not in the server: read them with the server gone
    assert assert_sweep_in(MlflowClient(tracking_uri=postgres.uri)) == through_server


@pytest.mark.slow
def test_a_sweep_straight_to_postgres(postgres, tmp_path):
    """tracking.uri postgresql://: the driver writes the database itself, no server between."""
    done = run_orch("sweep", SPEC, *SMALL, "--tracking-uri", postgres.uri, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert postgres.uri not in done.stdout + done.stderr  # the password is masked
    assert postgres.uri.split("@")[0].rsplit(":", 1)[0] + ":***@" in done.stdout
    assert_sweep_in(MlflowClient(tracking_uri=postgres.uri))
    # the driver keeps the artifacts beside it, in ./mlruns
    assert len(list(tmp_path.glob("mlruns/*/*/artifacts/trial_config.json"))) >= 2


def fake_missing(folder: Path, *modules: str) -> str:
    """A PYTHONPATH entry under which importing each of ``modules`` fails as if not installed."""
    for name in modules:
        (folder / name).mkdir(parents=True)
        (folder / name / "__init__.py").write_text(
            f"raise ModuleNotFoundError(\"No module named '{name}'\", name='{name}')\n"
        )
    return f"{folder}{os.pathsep}{ROOT}"


def test_a_missing_postgres_driver_is_one_line_naming_the_extra(tmp_path):
    path = fake_missing(tmp_path / "site", "psycopg", "psycopg2")
    uri = "postgresql://orch:secret@127.0.0.1:5/mlflow"
    done = run_orch("report", "--tracking-uri", uri, env={"PYTHONPATH": path}, cwd=tmp_path)
    line = assert_one_line_error(done, "tracking.uri", "psycopg", "pip install -e '.[postgres]'")
    assert "secret" not in line and "orch:***@127.0.0.1" in line


def test_an_unreachable_postgres_is_one_line_within_seconds(tmp_path):
    uri = f"postgresql://orch:secret@127.0.0.1:{free_port()}/mlflow"
    started = time.time()
    done = run_orch("report", "--tracking-uri", uri, cwd=tmp_path)
    line = assert_one_line_error(done, "tracking.uri", "cannot connect to PostgreSQL")
    assert "secret" not in line
    assert time.time() - started < 60, "MLflow's own engine retries for minutes"
