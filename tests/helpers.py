"""Shared helpers for tests: run the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_orch(
    *args: str, env: dict | None = None, cwd: Path = ROOT, timeout: int = 900
) -> subprocess.CompletedProcess:
    """The real CLI in a fresh interpreter; throwaway local Ray clusters skip token auth."""
    full_env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT), **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd,
        timeout=timeout,
    )


def assert_one_line_error(result: subprocess.CompletedProcess, *needles: str) -> str:
    """Exit 2, no traceback, exactly one line on stderr that names every needle."""
    assert result.returncode == 2, (result.returncode, result.stderr[-2000:])
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])
    return lines[0]


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve_ui(uri: str, cwd: Path, timeout: float = 90):
    """`orch ui` on a free port until the server answers. -> (its printed lines before the
    server's own, port, its process)"""
    import signal
    import threading
    import time
    import urllib.request

    port = free_port()
    from orchestrator.commands.report import UI_READY

    command = ["ui", "--tracking-uri", uri, "--port", str(port)]
    proc = subprocess.Popen(
        [sys.executable, "-m", "orchestrator.cli", *command],
        cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        start_new_session=True, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    try:
        lines = [proc.stdout.readline()]
        while lines[-1] and UI_READY not in lines[-1]:  # its own lines, then the server's
            lines.append(proc.stdout.readline())
        # the server's own output (access logs) is read and dropped: a full pipe would stop it
        threading.Thread(target=proc.stdout.read, daemon=True).start()
        deadline, status = time.time() + timeout, None
        while time.time() < deadline and status != 200:
            time.sleep(1)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as answer:
                    status = answer.status
            except OSError:
                continue
        assert status == 200, f"orch ui did not answer on port {port}"
        yield [line.rstrip("\n") for line in lines[:-1]], port, proc
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def descendants(pid: int) -> list[str]:
    """The command lines of every process under ``pid`` (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found, todo = [], list(children.get(pid, []))
    while todo:
        child = todo.pop()
        try:
            found.append((Path("/proc") / str(child) / "cmdline").read_text().replace("\0", " "))
        except OSError:
            continue
        todo += children.get(child, [])
    return found
