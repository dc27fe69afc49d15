"""orch installed from its wheel, used from a researcher's own folder, submitting to a Ray head
that has orch's dependencies but not orch: the job can only get orch from its runtime env.

Both environments reuse this checkout's installed dependencies (no network, no second copy of
torch) through a site directory of links that leaves the checkout's own editable orch out.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import urllib.request
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient

from tests.helpers import ROOT
from tests.integration.cluster import MlflowServer, free_port, stop_group, wait_for
from tests.integration.test_sweep import TINY

WORDS = "teapot lighthouse accordion glacier saxophone cathedral walrus hammock volcano".split()


def build_wheel(out: Path) -> Path:
    """orch's wheel, built from a copy of the sources so the checkout gains no build/ folder."""
    source = out / "source"
    for name in ("pyproject.toml", "README.md"):
        source.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, source / name)
    for package in ("orchestrator", "workers"):
        shutil.copytree(
            ROOT / package, source / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--no-input"]
    subprocess.run(
        [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(source)],
        check=True,
        capture_output=True,
    )
    [wheel] = out.glob("orch-*.whl")
    return wheel


def dependencies_without_orch(folder: Path) -> Path:
    """A site directory linking every installed distribution but orch (its editable hook and
    its metadata stay out)."""
    site = Path(sysconfig.get_paths()["purelib"])
    folder.mkdir()
    for entry in site.iterdir():
        name = entry.name.lower()
        if "orch" in name.replace("torch", "") or entry.name in ("orchestrator", "workers"):
            continue
        (folder / entry.name).symlink_to(entry)
    return folder


def venv(folder: Path, deps: Path) -> Path:
    """A fresh virtual environment that sees ``deps`` as a site directory; returns its bin/."""
    subprocess.run([sys._base_executable, "-m", "venv", "--without-pip", str(folder)], check=True)
    [site] = folder.glob("lib/python3.*/site-packages")
    (site / "orch_deps.pth").write_text(f"import site; site.addsitedir({str(deps)!r})\n")
    return folder / "bin"


def clean_env(bin_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    env.pop("RAY_ADDRESS", None)
    path = [p for p in env.get("PATH", "").split(":") if not p.startswith(str(ROOT))]
    return {
        **env,
        "PATH": ":".join([str(bin_dir), *path]),
        "RAY_AUTH_MODE": "disabled",
        "ORCH_HOME": str(ROOT / ".orch"),  # the provisioned toy world and WordNet
        **extra,
    }


def run(args: list[str], cwd: Path, env: dict, timeout: int = 600) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.mark.slow
def test_a_wheel_install_trains_and_submits_from_an_unrelated_folder(tmp_path):
    deps = dependencies_without_orch(tmp_path / "deps")
    user_bin = venv(tmp_path / "user", deps)
    cluster_bin = venv(tmp_path / "cluster", deps)
    wheel = build_wheel(tmp_path / "dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "--python", str(user_bin / "python"), "install"]
        + ["--no-deps", "--no-index", "--quiet", str(wheel)],
        check=True,
        capture_output=True,
    )
    user_env, cluster_env = clean_env(user_bin), clean_env(cluster_bin)
    where = "import orchestrator, workers; print(orchestrator.__file__, workers.__file__)"
    installed = run([str(user_bin / "python"), "-c", where], tmp_path, user_env)
    assert installed.returncode == 0 and str(ROOT) not in installed.stdout, installed
    assert str(tmp_path / "user") in installed.stdout
    absent = run([str(cluster_bin / "python"), "-c", "import orchestrator"], tmp_path, cluster_env)
    assert "No module named 'orchestrator'" in absent.stderr  # the head cannot import orch

    # the researcher's folder: a spec of their own and the vocabulary it names
    work = tmp_path / "my-study"
    work.mkdir()
    (work / "words.txt").write_text("\n".join(WORDS) + "\n")
    (work / "spec.yaml").write_text((ROOT / "search_spaces" / "cocoa.yaml").read_text())
    tiny = [*TINY[:-2], "--set", "space.method.outlier_vocab.choices=[file:words.txt]"]

    trial = run(
        [str(user_bin / "orch"), "trial", "spec.yaml", *tiny, "--json", "--set", "method.lam=1"]
        + ["--set", "method.outlier_vocab=file:words.txt"],
        work,
        user_env,
    )
    assert trial.returncode == 0, trial.stderr[-3000:]
    assert '"test_hm"' in trial.stdout

    sampled = [
        "--set",
        "search.points_to_evaluate=[]",
        "--set",
        "space.method.lam={low: 1.0, high: 4.0}",
    ]
    server = MlflowServer(tmp_path).start()
    gcs_port, dashboard_port = free_port(), free_port()
    head = subprocess.Popen(
        [str(cluster_bin / "python"), "-m", "ray.scripts.scripts", "start", "--head", "--block"]
        + ["--disable-usage-stats", "--node-ip-address=127.0.0.1", f"--port={gcs_port}"]
        + ["--dashboard-host=127.0.0.1", f"--dashboard-port={dashboard_port}", "--num-cpus=2"]
        + [f"--temp-dir=/tmp/orch-wheel-{gcs_port}"],
        env=cluster_env,
        stdout=open(tmp_path / "ray-head.log", "w"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    dashboard = f"http://127.0.0.1:{dashboard_port}"
    try:
        version = dashboard + "/api/version"
        wait_for(lambda: urllib.request.urlopen(version, timeout=2).status == 200, "ray head")
        submitted = run(
            [str(user_bin / "orch"), "submit", "spec.yaml", "--address", dashboard]
            + ["--tracking-uri", server.uri, "--storage", str(tmp_path / "shared_runs")]
            + ["--set", "storage.shared=true", "--set", "tracking.experiment=from-wheel"]
            + [*tiny, *sampled, "--set", "search.num_trials=2", "--set", "search.max_concurrent=2"],
            work,
            user_env,
        )
        assert submitted.returncode == 0, submitted.stdout[-3000:] + submitted.stderr[-3000:]
        out = submitted.stdout
        assert f"uploading {work}: 2 files, " in out  # the spec and its vocabulary, no more
        assert "orch itself travels as py_modules: orchestrator" in out
        assert str(tmp_path / "user") in out  # sent from the wheel's install, not the checkout
        assert "sweep from-wheel: 2 finished" in out

        client = MlflowClient(tracking_uri=server.uri)
        exp = client.get_experiment_by_name("from-wheel")
        kids = client.search_runs([exp.experiment_id], "tags.ray_trial_id != ''")
        assert len(kids) == 2 and {k.info.status for k in kids} == {"FINISHED"}
        for kid in kids:
            assert kid.data.params["outlier_vocab"] == "file:words.txt"
            assert float(kid.data.params["lambda"]) >= 1.0 and "test_hm" in kid.data.metrics
    finally:
        stop_group(head)
        server.stop()
        subprocess.run(["rm", "-rf", f"/tmp/orch-wheel-{gcs_port}"], check=False)
