"""A throwaway PostgreSQL cluster for tests: ``initdb`` into a fresh temp folder, ``pg_ctl``
on a free 127.0.0.1 port (its unix socket in that folder), one database, all removed after.

PostgreSQL refuses to run as root. As root (CI runs `.ci/run` as root) the server runs as the
``postgres`` user Debian's package creates (or ``nobody``): the folder is made by us and handed
to that user, and every PostgreSQL command is started with ``subprocess``'s ``user=``/``group=``,
so no ``su``/``runuser``/``sudo`` is needed. As anyone else it runs as that user.

Password auth (scram) on TCP only, with a random password, so that other users of the machine,
who can reach loopback too, cannot write into the test's store.

Binaries: ``$ORCH_PG_BIN``, else the newest ``/usr/lib/postgresql/<ver>/bin`` (Debian), else
``initdb`` on ``PATH``. Absent, the fixture skips, except under ``ORCH_CI=1`` (``.ci/run``
sets it) where it fails, so a CI run can never pass without running the PostgreSQL tests.
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

import pytest

from tests.integration.cluster import free_port

INSTALL_HINT = "apt-get install -y postgresql (.ci/run does this)"


def postgres_bin() -> Path | None:
    """The folder holding ``initdb`` and ``pg_ctl``, or None."""
    if os.environ.get("ORCH_PG_BIN"):
        return Path(os.environ["ORCH_PG_BIN"])
    debian = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parts[-3]) if p.parts[-3].isdigit() else 0,
    )
    if debian:
        return debian[-1].parent
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def in_ci() -> bool:
    return os.environ.get("ORCH_CI", "") == "1"


def require(what: str, hint: str) -> None:
    """Skip (fail under ORCH_CI=1) because ``what`` is missing."""
    message = f"{what}: {hint}"
    if in_ci():
        pytest.fail(f"ORCH_CI=1 and {message}; CI must run the PostgreSQL tests", pytrace=False)
    pytest.skip(message)


def server_user() -> pwd.struct_passwd:
    """Who runs the server: ourselves, or as root an unprivileged account."""
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    for name in ("postgres", "nobody"):
        try:
            return pwd.getpwnam(name)
        except KeyError:
            continue
    raise RuntimeError("running as root and neither a 'postgres' nor a 'nobody' user exists")


class Postgres(NamedTuple):
    uri: str  # postgresql://orch:PASSWORD@127.0.0.1:PORT/DATABASE
    port: int
    folder: Path  # data/, the socket and server.log
    log: Path


def _run(bin_dir: Path, user: pwd.struct_passwd, *args: str, env: dict | None = None) -> None:
    as_user = (
        {"user": user.pw_uid, "group": user.pw_gid, "extra_groups": []} if os.geteuid() == 0 else {}
    )
    done = subprocess.run(
        [str(bin_dir / args[0]), *args[1:]],
        capture_output=True,
        text=True,
        timeout=120,
        cwd="/",  # the server's user may not reach the test's working directory
        env={"PATH": os.environ.get("PATH", ""), "LC_ALL": "C", "HOME": user.pw_dir, **(env or {})},
        **as_user,
    )
    if done.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stderr[-2000:]}")


@contextmanager
def postgres_server(database: str = "mlflow") -> Iterator[Postgres]:
    """A running PostgreSQL on 127.0.0.1 with ``database`` created; stopped and deleted after."""
    bin_dir = postgres_bin()
    if bin_dir is None or not (bin_dir / "pg_ctl").exists():
        require("no PostgreSQL binaries (initdb, pg_ctl)", INSTALL_HINT)
    user = server_user()
    # a short path of its own in /tmp: the unix socket's path must stay under 107 characters,
    # and pytest's tmp_path (mode 0700, root's) is out of reach for the server's user
    folder = Path(tempfile.mkdtemp(prefix="orch-pg-"))
    os.chown(folder, user.pw_uid, user.pw_gid)
    data, log = folder / "data", folder / "server.log"
    password = secrets.token_hex(16)
    port = free_port()
    started = False
    try:
        pwfile = folder / "pwfile"
        pwfile.write_text(password + "\n")
        os.chown(pwfile, user.pw_uid, user.pw_gid)
        os.chmod(pwfile, 0o600)
        _run(bin_dir, user, "initdb", "-D", str(data), "-U", "orch", f"--pwfile={pwfile}",
             "--auth-local=scram-sha-256", "--auth-host=scram-sha-256", "-E", "UTF8",
             "--no-sync")  # fmt: skip
        pwfile.unlink()
        settings = {
            "listen_addresses": "'127.0.0.1'",
            "port": str(port),
            "unix_socket_directories": f"'{folder}'",
            "max_connections": "40",
            "shared_buffers": "32MB",
            # a throwaway store: durability buys nothing and costs seconds on a busy disk
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        with open(data / "postgresql.conf", "a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        _run(bin_dir, user, "pg_ctl", "-D", str(data), "-l", str(log), "-w", "-t", "60", "start")
        started = True
        env = {"PGPASSWORD": password}
        _run(bin_dir, user, "createdb", "-h", "127.0.0.1", "-p", str(port), "-U", "orch",
             database, env=env)  # fmt: skip
        uri = f"postgresql://orch:{password}@127.0.0.1:{port}/{database}"
        yield Postgres(uri, port, folder, log)
    finally:
        if started:
            try:
                _run(bin_dir, user, "pg_ctl", "-D", str(data), "-m", "immediate", "-w", "stop")
            except (RuntimeError, subprocess.TimeoutExpired):
                _kill_postmaster(data)
        shutil.rmtree(folder, ignore_errors=True)


def _kill_postmaster(data: Path) -> None:
    """SIGKILL the server by the pid its own postmaster.pid names (its children follow)."""
    import signal

    try:
        pid = int((data / "postmaster.pid").read_text().split()[0])
        os.kill(pid, signal.SIGKILL)
    except (OSError, ValueError, IndexError):
        pass


@pytest.fixture
def postgres() -> Iterator[Postgres]:
    """A throwaway PostgreSQL with a database ``mlflow``, and psycopg2 to reach it."""
    try:
        import psycopg2  # noqa: F401
    except ImportError:
        require("no psycopg2", "pip install -e '.[dev]' (or '.[postgres]')")
    with postgres_server() as server:
        yield server
