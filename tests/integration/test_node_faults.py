"""A node that dies mid-sweep: its trial is retried on a live node from its last checkpoint.

A real two-node Ray cluster on loopback (two `ray start` processes), a real sweep driver
joined to it, and the second node killed, every process of it by its pid (raylet, agents,
workers), while a trial trains there.
"""

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers import ROOT
from tests.integration.cluster import kill_node, ray_cluster, stop_group
from tests.integration.test_sweep import SPEC, TINY, TRAINED_POINTS, children, client_for


def results(trial_dir: Path) -> list[dict]:
    text = (trial_dir / "result.json").read_text()
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def trial_training_on(node: subprocess.Popen, storage: Path) -> Path | None:
    """The folder of a trial that has reported an epoch (so it has a checkpoint), not its
    last, from a process of ``node``'s session; Ray writes each result with that pid."""
    for result in storage.glob("*/train_*/result.json"):
        rows = results(result.parent)
        try:
            here = bool(rows) and os.getsid(rows[-1]["pid"]) == node.pid
        except ProcessLookupError:
            continue
        if here and rows[-1].get("final") != 1:
            return result.parent
    return None


@pytest.mark.slow
def test_a_dead_nodes_trial_resumes_from_its_checkpoint_on_the_live_node(tmp_path):
    with ray_cluster(tmp_path, token=None) as cluster:
        head, worker = cluster.nodes
        sweep = subprocess.Popen(
            [sys.executable, "-m", "orchestrator.cli", "sweep", SPEC, *TINY, *TRAINED_POINTS]
            + ["--set", "search.num_trials=2", "--set", "search.max_concurrent=2"]
            + ["--set", "search.max_failures=3", "--set", "train.epochs=20"]
            # epochs of ~0.3 s: a kill lands between two epochs' reports, not in a burst of them
            + ["--set", "train.batch_size=1"]
            + ["--address", cluster.address],
            cwd=tmp_path,
            env={**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)},
            stdout=open(tmp_path / "sweep.log", "w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            deadline, victim = time.time() + 300, None
            while victim is None and time.time() < deadline and sweep.poll() is None:
                time.sleep(0.2)
                victim = trial_training_on(worker, tmp_path / "orch_runs")
            assert victim is not None, (tmp_path / "sweep.log").read_text()[-3000:]
            assert kill_node(worker)  # the whole node, without warning
            sweep.wait(timeout=600)
        finally:
            stop_group(sweep)
    log = (tmp_path / "sweep.log").read_text()
    assert sweep.returncode == 0, log[-3000:]
    assert "RETRY 1 of 3 from its last checkpoint" in log and "Traceback" not in log, log

    # every configuration once, FINISHED, both on the node that is left
    _, kids = children(client_for(tmp_path))
    ids = [k.data.tags["ray_trial_id"] for k in kids]
    assert len(ids) == len(set(ids)) == 2, ids
    assert {k.info.status for k in kids} == {"FINISHED"}
    assert len({k.data.tags["node"] for k in kids}) == 1

    # the dead node's trial failed once and went on from its last checkpoint, not from epoch 1
    rows = results(victim)
    (trial_id,) = {r["trial_id"] for r in rows}
    failures = (victim / "error.txt").read_text()
    assert "Failure # 1" in failures and "Failure # 2" not in failures, failures
    restored = [r for r in rows if r["iterations_since_restore"] < r["training_iteration"]]
    assert restored, [(r["training_iteration"], r["iterations_since_restore"]) for r in rows]
    resumed_at = restored[0]["epoch"]  # the first epoch the retry trained
    killed_at = max(r["epoch"] for r in rows if r["pid"] != restored[0]["pid"])
    # from a checkpoint, not from the start (a toy epoch takes ~50 ms: the dying node may
    # have checkpointed an epoch or two past the last row its results file shows)
    assert resumed_at >= 2 and killed_at >= 1, (resumed_at, killed_at)
    assert restored[0]["iterations_since_restore"] == 1
    # Ray may report the epoch in flight twice (its checkpoint had not registered); MLflow
    # holds every epoch once
    epochs = sorted({r["epoch"] for r in rows if r.get("final") != 1})
    assert epochs == list(range(1, len(epochs) + 1))
    (run,) = [k for k in kids if k.data.tags["ray_trial_id"] == trial_id]
    history = client_for(tmp_path).get_metric_history(run.info.run_id, "hm")
    steps = sorted(m.step for m in history)
    assert steps == epochs, steps  # the final report shares the last epoch's step
    print(f"killed after epoch {killed_at:g}, resumed at epoch {resumed_at:g} on the head")
