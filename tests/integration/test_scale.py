"""The scale bench's harness at N = 20, in CI: a synthetic table of 33 cells per configuration
replayed through the real `orch sweep` with ASHA on a four-node loopback Ray cluster, tracked
by an `mlflow server` on a throwaway PostgreSQL, judged by the bench's own integrity count
(``bench/scale_checks.py``) and by the rows PostgreSQL holds once the server is gone.

A configuration's cells are one run under it (``tracking.cell_metrics: one_run``, the bench's
setting). Marked ``scale`` and ``slow``: in the default run, and ``pytest -m scale``
runs it alone."""

import sys

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import ROOT, run_orch
from tests.integration.cluster import MlflowServer, ray_cluster

sys.path.insert(0, str(ROOT))
from bench.scale_checks import SPEC, integrity, ray_overrides, synthetic_table  # noqa: E402

N, NODES = 20, 4


@pytest.mark.scale
@pytest.mark.slow
def test_twenty_configurations_of_33_cells_on_four_nodes_through_postgres(postgres, tmp_path):
    table = synthetic_table(tmp_path / "table.parquet", N, epoch_seconds=60.0, seed=3)
    server = MlflowServer(tmp_path, backend=postgres.uri).start()
    try:
        with ray_cluster(tmp_path, token=None, nodes=NODES, cpus=1) as cluster:
            done = run_orch(
                "sweep", str(SPEC), "--replay", str(table), "--time-scale", "0.002",
                "--address", cluster.address, "--tracking-uri", server.uri,
                *ray_overrides(N, NODES, "scale", cells="one_run"), cwd=tmp_path,
            )  # fmt: skip
        assert done.returncode == 0, done.stderr[-3000:]
        client = MlflowClient(tracking_uri=server.uri)
        (journal,) = (tmp_path / "orch_runs").glob("*/optuna.journal")
        count = integrity(client, "scale", journal, N, backend=postgres.uri)
        assert (count.configurations, count.cells, count.running) == (N, N * 33, 0), count
        assert (count.lost, count.duplicated, count.optuna_agrees) == (0, 0, True), count

        experiment = client.get_experiment_by_name("scale").experiment_id
        runs = client.search_runs([experiment], max_results=5000)
        by_parent: dict[str, list] = {}
        for run in runs:
            by_parent.setdefault(run.data.tags.get("mlflow.parentRunId"), []).append(run)
        (sweep,) = by_parent[None]
        configurations = by_parent[sweep.info.run_id]
        assert len({r.data.tags["node"] for r in configurations if "node" in r.data.tags}) > 1
        stopped = [r for r in configurations if r.data.tags.get("stopped_by") == "pruned"]
        finished = [r for r in configurations if "test_hm" in r.data.metrics]
        assert stopped and finished and len(stopped) + len(finished) == N  # ASHA stopped some
        # under each configuration, one run of its cells; under those, nothing
        holders = {c.info.run_id: by_parent.get(c.info.run_id, []) for c in configurations}
        assert {len(under) for under in holders.values()} == {1}
        assert len(by_parent) == 2 + N
        for configuration in stopped + finished[:3]:
            assert not any(k.startswith("cells/") for k in configuration.data.metrics)
            (holder,) = holders[configuration.info.run_id]
            cells = {k for k in holder.data.metrics if k.startswith("cells/")}
            assert len({k.rsplit("/", 1)[0] for k in cells}) == 33
            # written once, when the configuration ended, at its last epoch
            last = client.get_metric_history(configuration.info.run_id, "hm")[-1].step
            for key in sorted(cells)[:3]:
                history = client.get_metric_history(holder.info.run_id, key)
                assert [m.step for m in history] == [last]
            assert holder.info.status == configuration.info.status
            if configuration in stopped:  # a stopped configuration's cells have no test
                assert not any("/test_" in k for k in cells)
                assert configuration.info.status == "KILLED"
            else:
                assert len([k for k in cells if k.endswith("/test_hm")]) == 33
                assert configuration.info.status == "FINISHED"
                artifacts = {a.path for a in client.list_artifacts(configuration.info.run_id)}
                assert "trial_config.json" in artifacts  # in the server's own folder
    finally:
        server.stop()
    # the runs are rows in PostgreSQL, not in the server: counted again with the server gone
    client = MlflowClient(tracking_uri=postgres.uri)
    assert integrity(client, "scale", journal, N, backend=postgres.uri) == count
