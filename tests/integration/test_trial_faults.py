"""A trial that fails for a real reason, in a real sweep: FAILED in MLflow with its error line
and traceback, never on the front, and the sweep goes on; a fault every trial would hit stops
the sweep in one line before it starts."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from tests.helpers import ROOT, assert_one_line_error, run_orch
from tests.integration.test_sweep import SPEC, TINY, cells_of, children, client_for

HUGE_BINS = 10**11  # its reliability histogram's bin edges: 800 GB of float64


def refuses_impossible_allocations() -> bool:
    """The kernel refuses an allocation larger than RAM + swap at once (overcommit mode 0 or 2)
    instead of granting it and killing a process once it is touched (mode 1): only then is
    asking for 800 GB a safe way to make a trial run out of memory."""
    mode = Path("/proc/sys/vm/overcommit_memory").read_text().strip()
    info = dict(line.split(":", 1) for line in Path("/proc/meminfo").read_text().splitlines())
    total = sum(int(info[k].split()[0]) * 1024 for k in ("MemTotal", "SwapTotal"))
    return mode in ("0", "2") and 8 * HUGE_BINS > 4 * total


@pytest.mark.slow
def test_a_diverging_trial_and_one_out_of_memory_fail_alone(tmp_path):
    raw = yaml.safe_load((ROOT / "search_spaces" / "cocoa.yaml").read_text())
    del raw["space"]["train.lr"]  # the named point below sets it
    raw["search"]["points_to_evaluate"] = [
        {  # a step so large that the context overflows: the loss becomes NaN
            "name": "diverge",
            "values": {"train.lr": 1.0e38, "train.warmup_epochs": 0, "method.mixture": False},
        }
    ]
    oom = refuses_impossible_allocations()
    if oom:  # a real allocation larger than the machine, at the trial's first evaluation
        raw["search"]["points_to_evaluate"].append(
            {"name": "oversized", "values": {"train.n_bins": HUGE_BINS}}
        )
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(raw))
    result = run_orch(
        "sweep",
        str(spec),
        *TINY,
        "--set",
        f"search.num_trials={3 if oom else 2}",
        "--set",
        "search.max_failures=1",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "FAILED" in result.stdout
    client = client_for(tmp_path)
    _, configs = children(client)
    failed = [c for c in configs if c.data.tags.get("point") == "diverge"]
    others = [c for c in configs if c.data.tags.get("point") not in ("diverge", "oversized")]
    assert len(failed) == 1 and len(others) == 1
    run = failed[0]
    assert run.info.status == "FAILED"
    assert "training diverged" in run.data.tags["error"] and "train.lr" in run.data.tags["error"]
    error = client.download_artifacts(run.info.run_id, "error.txt", str(tmp_path))
    text = open(error).read()
    assert "Failure # 1" in text and 'workers/trial.py", line' in text  # Ray's traceback
    # it failed in its first epoch, before any cell reported: any cell run there is FAILED
    assert {c.info.status for c in cells_of(client, run)} <= {"FAILED"}
    assert others[0].info.status == "FINISHED"
    data = json.loads(run_orch("report", "--json", cwd=tmp_path).stdout)
    chosen = next(t for t in data["trials"] if t["selected"])
    assert chosen["run_id"] == others[0].info.run_id
    assert not any(t["pareto"] for t in data["trials"] if t["run_id"] == run.info.run_id)
    if not oom:
        return
    (big,) = [c for c in configs if c.data.tags.get("point") == "oversized"]
    assert big.info.status == "FAILED" and "oversized] RETRY 1 of 1" in result.stdout
    line = big.data.tags["error"]
    assert line.startswith("workers.errors.OutOfMemory: out of memory on ")
    assert f"allocate {8 * (HUGE_BINS + 1)} bytes" in line and "train.n_bins" in line
    text = open(client.download_artifacts(big.info.run_id, "error.txt", str(tmp_path))).read()
    assert "DefaultCPUAllocator" in text and "workers/metrics.py" in text  # where it asked
    assert not any(t["pareto"] for t in data["trials"] if t["run_id"] == big.info.run_id)


def damaged_copy(tmp_path, shots: int, but_not: int = 0):
    """A copy of the toy world whose one training image (read by a ``shots``-shot episode of
    seed 1, not by a ``but_not``-shot one) holds garbage; (env for the CLI, that image)."""
    import shutil

    from workers.datasets import read_split
    from workers.splits import base_new_items, few_shot

    data = tmp_path / "data"
    shutil.copytree(ROOT / ".orch" / "data" / "toyworld", data / "toyworld")
    train = base_new_items(read_split(data, "toyworld"), "base")["train"]
    spared = {d.path for d in few_shot(train, but_not, 1)} if but_not else set()
    image = next(d.path for d in few_shot(train, shots, 1) if d.path not in spared)
    image.write_bytes(b"\x89PNG garbage: these bytes are no image")
    return {"ORCH_DATA": str(data), "ORCH_CACHE": str(tmp_path / "cache")}, image


@pytest.mark.slow
def test_an_unreadable_image_every_trial_reads_stops_the_sweep_in_one_line(tmp_path):
    # the cache fill reads the image first: the sweep stops there, before any run
    env, image = damaged_copy(tmp_path, shots=2)
    result = run_orch("sweep", SPEC, *TINY, "--set", "search.num_trials=2", env=env, cwd=tmp_path)
    assert_one_line_error(result, "unreadable image", str(image), "replace or remove it")
    assert not (tmp_path / "mlflow.db").exists() and not (tmp_path / "orch_runs").exists()


@pytest.mark.slow
def test_an_unreadable_image_fails_only_the_configuration_that_reads_it(tmp_path):
    # the cache fill draws 2 shots per class; the named point's 4 shots reach the bad image
    env, image = damaged_copy(tmp_path, shots=4, but_not=2)
    raw = yaml.safe_load((ROOT / "search_spaces" / "cocoa.yaml").read_text())
    raw["search"]["points_to_evaluate"] = [{"name": "four_shots", "values": {"data.shots": 4}}]
    spec = tmp_path / "spec.yaml"
    spec.write_text(yaml.safe_dump(raw))
    result = run_orch(
        "sweep",
        str(spec),
        *TINY,
        "--set",
        "search.num_trials=2",
        "--set",
        "search.max_failures=1",
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "FAILED" in result.stdout and "RETRY 1 of 1" in result.stdout
    assert "Traceback" not in result.stdout + result.stderr
    client = client_for(tmp_path)
    _, configs = children(client)
    (failed,) = [c for c in configs if c.data.tags.get("point") == "four_shots"]
    (other,) = [c for c in configs if c.data.tags.get("point") != "four_shots"]
    assert failed.info.status == "FAILED" and other.info.status == "FINISHED"
    error = failed.data.tags["error"]
    assert "\n" not in error and "unreadable image" in error and str(image) in error, error
    # max_failures retries a trial that raised, too: once here, failing the same way again
    text = open(client.download_artifacts(failed.info.run_id, "error.txt", str(tmp_path))).read()
    assert "Failure # 2" in text and "Failure # 3" not in text
    data = json.loads(run_orch("report", "--json", cwd=tmp_path).stdout)
    chosen = next(t for t in data["trials"] if t["selected"])
    assert chosen["run_id"] == other.info.run_id


def trial_processes(driver: int) -> list[int]:
    """Pids of the Ray worker processes running a function trainable that the sweep driver
    ``driver`` started (its local Ray's raylet forks them): another sweep's on this machine
    is not this test's to kill."""
    parents, names = {}, {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                parents[int(entry.name)] = int(stat[1])
                names[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ")
            except (FileNotFoundError, ProcessLookupError, PermissionError, IndexError):
                continue

    def descends(pid: int) -> bool:
        while pid > 1:
            pid = parents.get(pid, 0)
            if pid == driver:
                return True
        return False

    return [p for p, args in names.items() if b"ray::ImplicitFunc" in args and descends(p)]


@pytest.mark.slow
def test_a_trial_killed_once_is_retried_and_finishes_once(tmp_path):
    """A transient fault (the trial's worker process killed, as the OOM killer would): with
    search.max_failures 1 the trial is retried from its last checkpoint and ends FINISHED,
    one configuration run, every epoch logged once."""
    args = [*TINY, "--set", "search.num_trials=1", "--set", "train.epochs=12"]
    args += ["--set", "search.max_failures=1"]
    log = tmp_path / "sweep.log"
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", "sweep", SPEC, *args],
        cwd=tmp_path, stdout=open(log, "w"), stderr=subprocess.PIPE, text=True,
        env={**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        deadline, killed = time.time() + 300, None
        while time.time() < deadline and proc.poll() is None and killed is None:
            reached = re.search(r"coop\] epoch [3-9]", log.read_text())
            trials = trial_processes(proc.pid) if reached else []  # /proc read once it matters
            if trials:
                killed = trials[0]
                os.kill(killed, signal.SIGKILL)
            time.sleep(0.2)
        assert killed, log.read_text()[-2000:]
        _, err = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
    out = log.read_text()
    assert proc.returncode == 0, err[-3000:]
    assert "RETRY 1 of 1" in out, out[-3000:]
    client = client_for(tmp_path)
    _, configs = children(client)
    assert len(configs) == 1 and configs[0].info.status == "FINISHED"
    steps = [m.step for m in client.get_metric_history(configs[0].info.run_id, "hm")]
    assert sorted(steps) == sorted(set(steps)) and max(steps) == 12, steps
