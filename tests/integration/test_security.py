"""A local Ray instance started by ``ray_init`` listens on loopback only, with token auth on;
``orch submit`` never echoes a secret.

The sockets are read from /proc (the listening TCP sockets of /proc/net/tcp and tcp6, matched
by inode to the file descriptors of the Ray process tree), so the check needs neither ``ss``
nor psutil.
"""

from __future__ import annotations

import ipaddress
import os
import re
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from tests.helpers import ROOT, assert_one_line_error, run_orch
from tests.integration.cluster import stop_group

TCP_LISTEN = "0A"

# Holds Ray up until the test closes its stdin; one task first, so a worker process that
# a task started (as a trial's is) is among the listeners checked.
CHILD = textwrap.dedent(
    """
    import os, sys
    import ray
    from ray._raylet import AuthenticationMode, get_authentication_mode
    from orchestrator.search.tuner import ray_init

    ray_init()
    worker = ray.get(ray.remote(lambda: os.getpid()).remote())
    token = get_authentication_mode() == AuthenticationMode.TOKEN
    print(f"ready worker={worker} token_auth={token}", flush=True)
    sys.stdin.read()
    """
)


def process_tree(root: int) -> dict[int, str]:
    """Pid -> command name, for ``root`` and every process below it."""
    parents, names = {}, {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:  # gone meanwhile
            continue
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses
        name, rest = stat[stat.index("(") + 1 : stat.rindex(")")], stat[stat.rindex(")") + 2 :]
        parents[int(entry.name)], names[int(entry.name)] = int(rest.split()[1]), name
    tree, grew = {root}, True
    while grew:
        found = {pid for pid, parent in parents.items() if parent in tree} - tree
        tree |= found
        grew = bool(found)
    return {pid: names[pid] for pid in tree if pid in names}


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def proc_address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """/proc/net/tcp's address: 32-bit words in host (little-endian) byte order."""
    raw = bytes.fromhex(hex_address)
    swapped = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return ipaddress.ip_address(swapped)


def listening_sockets() -> dict[str, tuple[ipaddress._BaseAddress, int]]:
    """Inode -> (address, port) of every listening TCP socket in this network namespace."""
    found = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] != TCP_LISTEN:
                continue
            address, port = fields[1].split(":")
            found[fields[9]] = (proc_address(address), int(port, 16))
    return found


def log_tail(path: Path) -> str:
    return " | ".join(path.read_text().strip().splitlines()[-3:])


def is_loopback(address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)  # [::ffff:127.0.0.1], a dual-stack socket
    return (mapped or address).is_loopback


def test_local_ray_listens_on_loopback_only_and_keeps_token_auth(tmp_path):
    log = open(tmp_path / "child.log", "w")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAY_AUTH_TOKEN": "orch-security-test-7c2d"}
    for name in ("RAY_AUTH_MODE", "RAY_ADDRESS"):  # Ray's defaults, as a user gets them
        env.pop(name, None)
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        ready = child.stdout.readline()
        if not ready.startswith("ready"):
            raise AssertionError(f"ray_init did not come up: {log_tail(tmp_path / 'child.log')}")
        fields = dict(word.split("=") for word in ready.split()[1:])
        assert fields["token_auth"] == "True", "ray_init turned Ray's token auth off"
        time.sleep(1)  # agents open their ports a moment after ray.init returns
        tree = process_tree(child.pid)
        sockets = listening_sockets()
        listeners = [
            (pid, name, *sockets[inode])
            for pid, name in tree.items()
            for inode in socket_inodes(pid)
            if inode in sockets
        ]
        names = {name for _, name, _, _ in listeners}
        for component in ("gcs_server", "raylet"):
            assert component in names, (component, sorted(names))
        assert int(fields["worker"]) in {pid for pid, *_ in listeners}, "the task's worker"
        exposed = [
            f"{n} (pid {i}) on {a} port {p}" for i, n, a, p in listeners if not is_loopback(a)
        ]
        assert not exposed, f"listening beyond loopback: {exposed}"
    finally:
        child.stdin.close()
        try:
            child.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        stop_group(child, grace_s=5)
        log.close()


def test_orch_submit_refuses_a_pasted_token_in_one_line_that_hides_it():
    token = "tok-" + "9" * 12
    result = run_orch(
        "submit",
        "search_spaces/cocoa.yaml",
        "--address",
        "http://127.0.0.1:9",
        "--tracking-uri",
        "http://127.0.0.1:9",
        "--storage",
        "s3://bucket/runs",
        "--env",
        token,
    )
    line = assert_one_line_error(result, "--env", "KEY=VALUE")
    assert token not in result.stdout + result.stderr, line
    assert re.search(r"\d+-character value", line)
