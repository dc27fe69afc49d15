"""Two local Ray instances on one machine (two sweeps at once): each has its own dashboard
agent. On Ray's fixed port 52365 the second one's agent could not bind and it ran without
one (no job API), silently."""

import os
import socket
import subprocess
import sys
import time

import pytest

from tests.helpers import ROOT

HOLD = """
import sys, time
sys.path.insert(0, sys.argv[1])
import ray
from orchestrator.search.tuner import ray_init
ray_init()
print(ray._private.worker._global_node.dashboard_agent_listen_port, flush=True)
sys.stdin.read()  # held until the test closes stdin
ray.shutdown()
"""


def listening(port: int, timeout_s: float = 60) -> bool:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return True
        time.sleep(0.5)
    return False


@pytest.mark.slow
def test_two_local_instances_each_get_a_dashboard_agent(tmp_path):
    env = {**os.environ, "RAY_AUTH_MODE": "disabled", "PYTHONPATH": str(ROOT)}
    procs = []
    try:
        ports = []
        for k in range(2):
            proc = subprocess.Popen(
                [sys.executable, "-c", HOLD, str(ROOT)], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, text=True, env=env, cwd=tmp_path,
            )  # fmt: skip
            procs.append(proc)
            ports.append(int(proc.stdout.readline()))
            assert listening(ports[-1]), f"instance {k}: no dashboard agent on {ports[-1]}"
        assert ports[0] != ports[1] and 52365 not in ports
        assert listening(ports[0], timeout_s=1)  # the first one's agent is still its own
    finally:
        for proc in procs:  # each stops its own instance
            proc.stdin.close()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
