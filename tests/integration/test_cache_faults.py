"""Two sweeps started at once on one fresh feature cache: both fill it at the same time, both
finish, and every entry holds exactly the tensors one process alone computes."""

import os
import re
import subprocess
import sys

import pytest
import torch
from mlflow.tracking import MlflowClient

from tests.helpers import ROOT
from tests.integration.test_sweep import SPEC, TINY, children
from workers.cache import DIGEST, tensors_digest

SETTINGS = [*TINY, "--set", "search.num_trials=1"]


def entries(cache) -> dict[str, dict[str, torch.Tensor]]:
    """Every entry of a feature cache, each checked against the digest stored with it."""
    out = {}
    for path in sorted(cache.rglob("*.pt")):
        stored = torch.load(path, map_location="cpu", weights_only=True)
        digest = stored.pop(DIGEST)
        assert digest == tensors_digest(stored), f"{path} does not match its digest"
        out[str(path.relative_to(cache))] = stored
    return out


def fill_alone(cache) -> None:
    """The sweep's cache fill, in one process of one thread (as a Ray task with one CPU)."""
    overrides = [value for flag, value in zip(TINY[::2], TINY[1::2], strict=True)]
    code = (
        "import sys\n"
        "from orchestrator.spec.load import load_spec, parse_overrides\n"
        "from orchestrator.search.tuner import cache_fill_requests\n"
        "from workers.trainable import fill_cache\n"
        "spec = load_spec(sys.argv[1], parse_overrides(sys.argv[2:]))\n"
        "for request in cache_fill_requests(spec):\n"
        "    fill_cache(request)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "ORCH_CACHE": str(cache), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-c", code, SPEC, *overrides], env=env, check=True)


@pytest.mark.slow
def test_two_sweeps_on_one_fresh_cache_both_finish_and_agree_with_one_process(tmp_path):
    cache = tmp_path / "cache"
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "disabled",
        "PYTHONPATH": str(ROOT),
        "ORCH_CACHE": str(cache),
    }
    sweeps = []
    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        sweeps.append(
            subprocess.Popen(
                [sys.executable, "-m", "orchestrator.cli", "sweep", SPEC, *SETTINGS],
                cwd=tmp_path / name,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                start_new_session=True,
            )
        )
    outputs = [sweep.communicate(timeout=600) for sweep in sweeps]
    for sweep, (out, err) in zip(sweeps, outputs, strict=True):
        assert sweep.returncode == 0, err[-3000:]
        assert "damaged" not in out + err  # no sweep read the other's half-written entry
        # the fill's progress: planned from the split files, every image accounted for once
        last = [line for line in out.splitlines() if line.startswith("feature cache [")][-1]
        done, planned = re.search(r"\] (\d+)/(\d+) images", last).groups()
        assert done == planned != "0" and "[" + "#" * 24 + "]" in last, last
    for name in ("a", "b"):
        client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / name / 'mlflow.db'}")
        _, kids = children(client)
        assert len(kids) == 1 and kids[0].info.status == "FINISHED"

    shared = entries(cache)
    assert shared and not list(cache.rglob("*.tmp"))  # every write was published whole
    fill_alone(tmp_path / "alone")
    alone = entries(tmp_path / "alone")
    assert set(shared) == set(alone)
    for key, tensors in alone.items():
        assert set(shared[key]) == set(tensors)
        for name, tensor in tensors.items():
            assert torch.equal(shared[key][name], tensor), (key, name)
    print(f"{len(shared)} cache entries, each equal to the one process's")
