"""A tiny sweep of the default spec, run once and looked at by several tests."""

import os
import subprocess
import sys
from types import SimpleNamespace

import pytest

from tests.helpers import ROOT
from tests.integration.postgres import postgres  # noqa: F401  (a fixture)


@pytest.fixture(scope="session")
def tiny_sweep(tmp_path_factory):
    """`orch sweep search_spaces/cocoa.yaml` at the tiny settings, 3 configurations (the
    `coop` and `zero_shot` named points, one searched), run as a user runs it: Ray's token
    auth at its default, a fresh home folder. -> cwd, stdout, stderr, returncode"""
    from tests.integration.test_sweep import SPEC, TINY

    cwd = tmp_path_factory.mktemp("tiny_sweep")
    env = {k: v for k, v in os.environ.items() if k != "RAY_AUTH_MODE"}
    env.update(PYTHONPATH=str(ROOT), HOME=str(cwd / "home"))
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator.cli", "sweep", SPEC, *TINY,
         "--set", "search.num_trials=3"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    return SimpleNamespace(
        cwd=cwd, stdout=done.stdout, stderr=done.stderr, returncode=done.returncode
    )
