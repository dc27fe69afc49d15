"""`orch submit`'s pure parts: the entrypoint, the runtime environment, the token, the storage."""

import shlex

import pytest

from orchestrator.spec.load import load_spec, parse_overrides
from orchestrator.spec.storage import SweepPaths, resolve_storage, sweep_names
from orchestrator.submission import submit
from tests.helpers import ROOT
from workers.errors import UserError

SPEC = ROOT / "search_spaces" / "cocoa.yaml"


def test_entrypoint_round_trips_overrides_with_spaces_and_brackets():
    overrides = ["space.method.outlier_vocab.choices=[random_words, random_strings]", "method.w=2"]
    line = submit.entrypoint(
        "search_spaces/cocoa.yaml",
        overrides,
        tracking_uri="http://h:5000",
        storage="s3://b/runs",
        resume=True,
    )
    words = shlex.split(line)
    assert words[:5] == ["python", "-m", "orchestrator.cli", "sweep", "search_spaces/cocoa.yaml"]
    assert words.count("--set") == 2 and overrides[0] in words
    assert words[-5:] == ["--tracking-uri", "http://h:5000", "--storage", "s3://b/runs", "--resume"]


def test_runtime_env_uploads_the_folder_and_orch_as_py_modules(monkeypatch, tmp_path):
    monkeypatch.setenv("RAY_AUTH_TOKEN", "tok")
    env = submit.runtime_env(folder=tmp_path, env={"ORCH_HOME": "/mnt/orch"}, pip=False)
    assert env["working_dir"] == str(tmp_path)
    # the packages this process imported, wherever they live (the checkout here)
    assert env["py_modules"] == [str(ROOT / "orchestrator"), str(ROOT / "workers")]
    for heavy in (".venv", ".orch", "/data", "orch_runs", "*.db", ".git"):
        assert heavy in env["excludes"]
    assert env["env_vars"]["ORCH_HOME"] == "/mnt/orch"
    assert "RAY_AUTH_TOKEN" not in env["env_vars"]  # Ray logs env_vars; the head has the token
    assert "pip" not in env
    pinned = submit.runtime_env(folder=tmp_path, env={}, pip=True)["pip"]["packages"]
    assert any(p.startswith("torch==") for p in pinned) and any("mlflow==" in p for p in pinned)
    assert not [p for p in pinned if "extra" in p]  # pytest and ruff stay behind


def test_files_the_spec_names_must_travel_with_it(tmp_path, monkeypatch):
    from orchestrator.submission.upload import upload_files

    monkeypatch.chdir(tmp_path)
    (tmp_path / "words.txt").write_text("teapot\nlighthouse\n")
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "notes.txt").write_text("held back: data/ never travels\n")
    (tmp_path / "spec.yaml").write_text(SPEC.read_text())
    searched = parse_overrides(["space.method.outlier_vocab.choices=[random_words,file:words.txt]"])
    spec = load_spec(tmp_path / "spec.yaml", searched)
    assert submit.spec_in_folder(spec, tmp_path) == "spec.yaml"
    assert ("method.outlier_vocab", "words.txt") in submit.named_paths(spec)
    assert submit.check_named_paths(spec, tmp_path, upload_files(tmp_path)) == []

    for value, needle in [
        ("file:missing.txt", "not found in"),
        ("file:../elsewhere.txt", "lies outside the folder the job uploads"),
        ("file:data/notes.txt", "held back from the upload"),
    ]:
        spec = load_spec(tmp_path / "spec.yaml", {"method.outlier_vocab": value})
        with pytest.raises(UserError, match=needle):
            submit.check_named_paths(spec, tmp_path, upload_files(tmp_path))
    absolute = load_spec(tmp_path / "spec.yaml", {"method.outlier_vocab": "file:/mnt/w.txt"})
    [note] = submit.check_named_paths(absolute, tmp_path, upload_files(tmp_path))
    assert "method.outlier_vocab: /mnt/w.txt is absolute" in note
    with pytest.raises(UserError, match="inside the folder the job uploads"):
        submit.spec_in_folder(spec, tmp_path / "data")


def test_token_comes_from_the_environment_then_the_token_file(monkeypatch, tmp_path):
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))
    assert submit.find_token() is None
    (tmp_path / "token").write_text("from-file\n")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "token"))
    assert submit.find_token() == submit.Token("from-file", str(tmp_path / "token"))
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    assert submit.find_token().value == "from-env"


@pytest.mark.parametrize(
    "uri, storage, overrides, needle",
    [
        (None, "s3://b/r", {}, "tracking.uri"),
        ("sqlite:///x.db", "s3://b/r", {}, "sqlite:///x.db"),
        ("postgresql://u:secret@db:5432/mlflow", "s3://b/r", {}, "postgresql://u:***@db"),
        ("http://h:5000", None, {}, "./orch_runs"),
        ("http://h:5000", "/mnt/shared/runs", {}, "storage.shared=true"),
        ("http://h:5000", "relative/runs", {"storage.shared": True}, "relative/runs"),
    ],
)
def test_cluster_unsafe_settings_are_refused(uri, storage, overrides, needle):
    spec = load_spec(SPEC, overrides)
    with pytest.raises(UserError) as info:
        submit.check_cluster_safe(spec, uri, storage)
    assert needle in str(info.value)


@pytest.mark.parametrize(
    "storage, overrides",
    [("s3://b/r", {}), ("gs://b/r", {}), ("/mnt/shared/runs", {"storage.shared": True})],
)
def test_cluster_safe_settings_pass(storage, overrides):
    # refusing raises a UserError; a safe setting returns quietly
    assert submit.check_cluster_safe(load_spec(SPEC, overrides), "http://h:5000", storage) is None


def test_failure_reason_prefers_the_drivers_own_error_line():
    logs = "filling...\nWARNING noise\norch sweep: error: dataset 'dtd' not found\nbye\n"
    assert submit.failure_reason(logs, None) == "orch sweep: error: dataset 'dtd' not found"
    assert submit.failure_reason("a\nValueError: boom\n", None) == "ValueError: boom"
    assert submit.failure_reason("", "Job failed\nmore") == "Job failed"


def test_dashboard_address_must_be_http():
    assert submit.dashboard_address("http://h:8265/") == "http://h:8265"
    for bad in ("h:6379", "ray://h:10001", None):
        with pytest.raises(UserError, match="8265"):
            submit.dashboard_address(bad)


def test_sweep_paths_keep_state_and_list_sweeps_oldest_first(tmp_path):
    storage = resolve_storage(str(tmp_path / "runs"))
    assert storage == str((tmp_path / "runs").resolve())
    assert sweep_names(storage, "exp") == []  # a storage folder not made yet
    for name in ("exp-20261124-120000", "exp-20261124-090000", "other-20261124-130000"):
        SweepPaths(storage, name).write_state(parent_run_id=name)
    assert sweep_names(storage, "exp") == ["exp-20261124-090000", "exp-20261124-120000"]
    paths = SweepPaths(storage, "exp-20261124-120000")
    paths.write_state(tracking_uri="http://h:5000")  # merged, not replaced
    assert paths.read_state() == {
        "parent_run_id": "exp-20261124-120000",
        "tracking_uri": "http://h:5000",
    }
    assert not SweepPaths(storage, "exp-none").has_state()
    assert resolve_storage("s3://bucket/runs/") == "s3://bucket/runs"
    assert resolve_storage(None).endswith("/orch_runs")
