"""`orch validate` checks without running; `orch ui` serves the store on 127.0.0.1."""

from tests.helpers import ROOT, assert_one_line_error, descendants, run_orch, serve_ui

SPEC = str(ROOT / "search_spaces" / "cocoa.yaml")


def test_validate_ok_names_what_it_checked(tmp_path):
    result = run_orch("validate", SPEC, "--tracking-uri", f"sqlite:///{tmp_path}/mlflow.db")
    assert result.returncode == 0, result.stderr
    for needle in ("dataset toyworld", "model toyclip", "WordNet 3.0", "tracking sqlite"):
        assert needle in result.stdout
    assert not (tmp_path / "mlflow.db").exists()  # validation writes nothing


def test_validate_failures(tmp_path):
    assert_one_line_error(
        run_orch(
            "validate",
            SPEC,
            "--set",
            "protocol.datasets=[dtd]",
            "--set",
            f"data.root={tmp_path}",
        ),
        "dataset 'dtd' not found",
    )
    assert_one_line_error(
        run_orch("validate", SPEC, "--set", "model.checkpoint=/nonexistent/w.pt"),
        "/nonexistent/w.pt",
    )
    assert_one_line_error(
        run_orch("validate", SPEC, "--tracking-uri", "http://127.0.0.1:9"), "unreachable"
    )
    assert_one_line_error(
        run_orch("validate", SPEC, "--tracking-uri", str(tmp_path / "mlruns")), "sqlite:///"
    )


def test_ui_serves_the_store_with_one_light_server(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    with serve_ui(uri, tmp_path) as (lines, port, proc):
        assert f"http://127.0.0.1:{port}" in lines[0]
        commands = descendants(proc.pid)
        servers = [c for c in commands if "uvicorn" in c]
        # one server process, not uvicorn's 4, and no job runner (its 8 processes serve
        # MLflow's GenAI features, which a sweep does not use)
        assert len(servers) == 1 and "--workers 1" in servers[0], commands
        assert not [c for c in commands if "huey" in c or "_job_runner" in c], commands


def test_validate_writes_nothing_into_a_data_root_the_user_named(tmp_path):
    """It used to create the folder and generate 76 MB of toy datasets there."""
    missing = tmp_path / "new" / "folder"
    line = assert_one_line_error(
        run_orch("validate", SPEC, "--set", f"data.root={missing}"), str(missing), "does not exist"
    )
    assert "data.root" in line and not missing.exists()
    empty = tmp_path / "real_data"
    empty.mkdir()
    assert_one_line_error(
        run_orch("validate", SPEC, "--set", f"data.root={empty}"),
        "toy dataset 'toyworld'",
        f"orch setup --root {empty}",
    )
    assert list(empty.iterdir()) == []
