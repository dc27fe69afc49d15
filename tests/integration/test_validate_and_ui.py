"""`orch validate` checks without running; `orch ui` serves the store on 127.0.0.1."""

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request

from tests.helpers import ROOT, assert_one_line_error, run_orch

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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_ui_serves_the_store(tmp_path):
    port = free_port()
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "orchestrator.cli",
            "ui",
            "--tracking-uri",
            uri,
            "--port",
            str(port),
        ],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        first = proc.stdout.readline()
        assert f"http://127.0.0.1:{port}" in first
        deadline, status = time.time() + 90, None
        while time.time() < deadline and status != 200:
            time.sleep(1)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                    status = answer.status
            except OSError:
                continue
        assert status == 200
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
