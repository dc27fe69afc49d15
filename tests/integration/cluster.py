"""Real services for the cluster tests: a two-node Ray cluster and an MLflow server, on loopback.

Every process is started in its own session and stopped by its process group id, so a test
never touches a Ray or MLflow that it did not start.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

from tests.helpers import ROOT

BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_group(proc: subprocess.Popen, grace_s: float = 15) -> None:
    """SIGTERM the process group the test started, then SIGKILL what is left."""
    for sig, wait in ((signal.SIGTERM, grace_s), (signal.SIGKILL, 5)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            time.sleep(0.5)  # let the group's other members go too
        except subprocess.TimeoutExpired:
            continue
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def session_pids(leader: int) -> list[int]:
    """Every live process of the session ``leader`` started (a `ray start` in its own
    session): Ray gives each worker a process group of its own, but not a session."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
                if state != "Z" and os.getsid(int(entry.name)) == leader:
                    pids.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError, PermissionError):
                continue
    return pids


def kill_node(proc: subprocess.Popen) -> list[int]:
    """A node's sudden death: SIGKILL every process of the `ray start` session ``proc`` leads
    (its raylet, agents and workers), each by its pid, until none is left. Killing the
    process group alone would leave the workers running their tasks. Returns the pids."""
    killed: list[int] = []
    for _ in range(20):
        proc.poll()  # reap the `ray start` process once it is dead
        pids = session_pids(proc.pid)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                killed.append(pid)
            except ProcessLookupError:
                pass
        time.sleep(0.2)
    proc.wait()
    return killed


def wait_for(check, what: str, timeout_s: float = 90) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        try:
            if check():
                return
        except Exception:  # not up yet
            pass
        time.sleep(1)
    raise TimeoutError(f"{what} did not come up in {timeout_s:.0f} s")


class MlflowServer:
    """``mlflow server`` on 127.0.0.1 with a SQLite backend (or ``backend``, e.g. a
    ``postgresql://`` URI); stoppable and restartable."""

    def __init__(self, folder: Path, port: int | None = None, backend: str | None = None) -> None:
        self.folder, self.port = folder, port or free_port()
        self.backend = backend or f"sqlite:///{folder / 'server.db'}"
        self.proc: subprocess.Popen | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> MlflowServer:
        log = open(self.folder / "mlflow-server.log", "a")
        self.proc = subprocess.Popen(
            [
                str(BIN / "mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--workers",
                "1",
                "--backend-store-uri",
                self.backend,
                "--artifacts-destination",
                str(self.folder / "artifacts"),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=self.folder,
            # tracking only: the job runner's consumers (GenAI jobs) poll all the time, a
            # tenth of the machine's CPU in the scale bench
            env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
        )
        wait_for(
            lambda: urllib.request.urlopen(self.uri + "/health", timeout=2).status == 200,
            "mlflow server",
        )
        return self

    def stop(self) -> None:
        if self.proc is not None:
            stop_group(self.proc)
            self.proc = None


class RayCluster(NamedTuple):
    dashboard: str  # http://127.0.0.1:PORT
    temp_dirs: list[Path]  # each node's, its logs under session_*/logs
    address: str  # the head's GCS, 127.0.0.1:PORT, for `orch sweep --address`
    nodes: list[subprocess.Popen]  # the head, then the other nodes: each in its own session


def _ray_start(args: list[str], env: dict, log: Path) -> subprocess.Popen:
    # each node's agent on a free port, not Ray's fixed 52365: an agent that finds it taken (by
    # the next node, a bench's cluster, a node a test killed) runs without its HTTP server, and
    # on the head that is "No available agent to submit job" for as long as the cluster lives
    agent_port = f"--dashboard-agent-listen-port={free_port()}"
    return subprocess.Popen(
        [str(BIN / "ray"), "start", "--block", "--disable-usage-stats", agent_port, *args],
        env=env,
        stdout=open(log, "a"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@contextmanager
def ray_cluster(folder: Path, token: str | None, *, nodes: int = 2, cpus: int = 1):
    """A head and ``nodes - 1`` more nodes, each a `ray start` with its own temp dir (as
    separate machines would have) and ``cpus`` logical CPUs; token auth on with ``token``,
    off without one."""
    gcs_port, dashboard_port = free_port(), free_port()
    env = {
        **os.environ,
        "RAY_AUTH_MODE": "token" if token else "disabled",
        "ORCH_HOME": str(ROOT / ".orch"),  # node-level: the toy world and WordNet live there
        "PATH": f"{BIN}:{os.environ.get('PATH', '')}",
    }
    env.pop("RAY_ADDRESS", None)
    env.pop("RAY_AUTH_TOKEN", None)
    if token:
        env["RAY_AUTH_TOKEN"] = token
    started: list[subprocess.Popen] = []
    # short temp dirs: Ray's unix socket paths must stay under ~100 characters
    temp_dirs = [Path(f"/tmp/orch-head-{gcs_port}")]
    temp_dirs += [Path(f"/tmp/orch-node{i or ''}-{gcs_port}") for i in range(nodes - 1)]
    try:
        started.append(
            _ray_start(
                [
                    "--head",
                    "--node-ip-address=127.0.0.1",
                    f"--port={gcs_port}",
                    "--dashboard-host=127.0.0.1",
                    f"--dashboard-port={dashboard_port}",
                    f"--num-cpus={cpus}",
                    f"--temp-dir={temp_dirs[0]}",
                ],
                env,
                folder / "ray-head.log",
            )
        )
        dashboard = f"http://127.0.0.1:{dashboard_port}"
        auth = {"Authorization": f"Bearer {token}"} if token else {}
        version = urllib.request.Request(dashboard + "/api/version", headers=auth)
        wait_for(lambda: urllib.request.urlopen(version, timeout=2).status == 200, "ray head")
        for i, temp in enumerate(temp_dirs[1:]):
            started.append(
                _ray_start(
                    [
                        f"--address=127.0.0.1:{gcs_port}",
                        "--node-ip-address=127.0.0.1",
                        f"--num-cpus={cpus}",
                        f"--temp-dir={temp}",
                    ],
                    env,
                    folder / f"ray-node{i or ''}.log",
                )
            )
        wait_for(lambda: _alive_nodes(gcs_port, env) == nodes, f"{nodes} ray nodes")
        yield RayCluster(dashboard, temp_dirs, f"127.0.0.1:{gcs_port}", started)
    finally:
        for node in reversed(started):
            stop_group(node)
        for temp in temp_dirs:
            subprocess.run(["rm", "-rf", str(temp)], check=False)


def _alive_nodes(gcs_port: int, env: dict) -> int:
    out = subprocess.run(
        [str(BIN / "ray"), "status", f"--address=127.0.0.1:{gcs_port}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    active = out.split("Active:")[1].split("Pending:")[0] if "Active:" in out else ""
    return sum(1 for line in active.splitlines() if line.strip().startswith("1 node_"))
