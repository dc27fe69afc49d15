"""What `orch submit` uploads: no secrets or stores, counted as Ray's own packaging packs it,
and the job's environment shown with secret values masked."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from orchestrator.submission import submit
from orchestrator.submission.upload import (
    describe_upload,
    looks_secret,
    parse_env,
    secret_env_note,
    shown_env,
    upload_files,
)
from tests.helpers import ROOT
from workers.errors import ConfigError

SECRETS = [
    ".env",
    ".env.production",
    "id_rsa",
    "id_rsa.pub",
    "ray_token",
    "auth_token",
    "certs/server.pem",
    "certs/tls.key",
    ".netrc",
    "workers/.env",  # a secret deeper down is as secret
]
STORES = [
    ".git/config",
    ".git/objects/ab/cdef",
    "mlflow.db",
    "mlruns/0/meta.yaml",
    "orch_runs/sweep-1/state.json",
    ".orch/cache/features.pt",
    ".venv/bin/python",
    "data/images/cat.png",
    "orchestrator/__pycache__/cli.cpython-311.pyc",
    "selected.yaml",  # the project's .gitignore names it
]
CODE = [
    "pyproject.toml",
    ".gitignore",
    "orchestrator/cli.py",
    "workers/model.py",
    "workers/data/splits.py",  # a data/ folder below the top is code, not the dataset root
    "search_spaces/cocoa.yaml",
]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    for name in SECRETS + STORES + CODE:
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"contents of {name}\n" * 3)
    (root / ".gitignore").write_text("selected.yaml\n")
    return root


def ray_package(target: Path, runtime_env: dict) -> list[zipfile.ZipInfo]:
    """The zip Ray's job client builds for ``runtime_env``'s working_dir: Ray's own
    working_dir upload path (default excludes added there), with the package made as
    JobSubmissionClient makes it, written here instead of sent."""
    from ray._private.runtime_env.packaging import create_package
    from ray._private.runtime_env.working_dir import upload_working_dir_if_needed

    def keep_package(working_dir, excludes, is_file=False):
        create_package(working_dir, target, include_gitignore=True, excludes=excludes)

    upload_working_dir_if_needed(dict(runtime_env), include_gitignore=True, upload_fn=keep_package)
    with zipfile.ZipFile(target) as package:
        return [info for info in package.infolist() if not info.is_dir()]


def test_the_package_holds_the_code_and_no_secret_or_store(project, tmp_path, monkeypatch):
    runtime_env = submit.runtime_env(folder=project, env={}, pip=False)
    packed = ray_package(tmp_path / "package.zip", runtime_env)
    names = {info.filename for info in packed}
    assert names == set(CODE), sorted(names)

    listed = upload_files(project)
    assert {p.relative_to(project).as_posix() for p in listed} == names
    line = describe_upload(project, listed)
    size = sum(info.file_size for info in packed)
    assert f": {len(packed)} files, " in line and f"({size} bytes)" in line, line


def test_the_listing_follows_a_gitignore_that_ray_is_told_to_skip(project, monkeypatch):
    monkeypatch.setenv("RAY_RUNTIME_ENV_IGNORE_GITIGNORE", "1")
    listed = {p.relative_to(project).as_posix() for p in upload_files(project)}
    assert listed == set(CODE) | {"selected.yaml"}  # our excludes hold the rest back alone


def test_the_real_project_uploads_all_its_code():
    """The secret patterns (``*token*``, ``*secret*``, ``*.key``) hold back no file the job
    needs: every module, spec and the packaging metadata are uploaded."""
    listed = set(upload_files(ROOT))
    needed = [
        *ROOT.glob("orchestrator/**/*.py"),
        *ROOT.glob("workers/**/*.py"),
        *ROOT.glob("workers/model_configs/*.json"),
        *ROOT.glob("search_spaces/*.yaml"),
        ROOT / "pyproject.toml",
    ]
    missing = [
        p.relative_to(ROOT).as_posix()
        for p in needed
        if p not in listed and "__pycache__" not in p.parts
    ]
    assert not missing
    assert not [p for p in listed if {".orch", ".venv", ".git"} & set(p.parts)]


@pytest.mark.parametrize(
    "key", ["RAY_AUTH_TOKEN", "HF_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "api_key"]
)
def test_secret_looking_keys_are_masked(key):
    assert looks_secret(key)
    line = shown_env({"ORCH_HOME": "/mnt/orch", key: "s3cr3t-value"})
    assert line == f"ORCH_HOME=/mnt/orch {key}=***"


def test_the_token_stays_out_of_the_jobs_environment_and_its_line(monkeypatch):
    monkeypatch.setenv("RAY_AUTH_TOKEN", "tok-4f1a9")
    runtime = submit.runtime_env(folder=ROOT, env={"ORCH_HOME": "/mnt/orch"}, pip=False)
    env_vars = runtime["env_vars"]
    assert "tok-4f1a9" not in str(env_vars)  # Ray writes env_vars into every node's logs
    line = shown_env({**env_vars, "RAY_AUTH_TOKEN": "tok-4f1a9"})  # passed with --env
    assert "tok-4f1a9" not in line and "RAY_AUTH_TOKEN=***" in line


def test_a_secret_passed_with_env_draws_a_warning():
    assert secret_env_note({"ORCH_HOME": "/mnt/orch"}) is None
    note = secret_env_note({"ORCH_HOME": "/mnt/orch", "HF_TOKEN": "hf_x"})
    assert "HF_TOKEN" in note and "runtime_env_agent.log" in note and "hf_x" not in note


def test_a_malformed_env_pair_is_refused_without_echoing_it():
    with pytest.raises(ConfigError) as info:
        parse_env(["ORCH_HOME=/mnt/orch", "tok-4f1a9"])
    assert "tok-4f1a9" not in str(info.value) and "--env" in str(info.value)
    assert parse_env(["A=1", "B=x=y"]) == {"A": "1", "B": "x=y"}
