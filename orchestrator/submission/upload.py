"""What ``orch submit`` sends to the cluster, and how it says so.

The user's working folder travels as the job's ``working_dir``, orch's packages as
``py_modules``. Secrets, version control, environments, datasets and local stores never do:
``UPLOAD_EXCLUDES`` holds them back even where a .gitignore does not (or Ray is told to skip
it), and ``upload_files`` lists what is left with Ray's own walk, so the line ``orch submit``
prints counts what Ray packs.
The job's environment is shown with every secret-looking value masked, and a secret passed
with ``--env`` draws a warning: Ray logs a job's environment on every node.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from workers.errors import ConfigError

log = logging.getLogger(__name__)

# gitignore patterns, as Ray reads them: no slash matches at any depth, a leading one at
# the project's top only
SECRET_EXCLUDES = [
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "*.p12",
    "id_rsa*",
    "id_ed25519*",
    "id_ecdsa*",
    "*token*",  # Ray's auth_token, API tokens saved next to the code
    "*secret*",
    ".netrc",
    ".ssh",
    ".aws",
]
STORE_EXCLUDES = [
    ".git",
    ".venv",
    ".orch",
    "/data",
    "orch_runs",
    "mlruns",
    "mlartifacts",
    "*.db",
    "*.sqlite",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".mypy_cache",
    "*.egg-info",
]
UPLOAD_EXCLUDES = SECRET_EXCLUDES + STORE_EXCLUDES

SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "PASSWD", "KEY", "CREDENTIAL")
MASK = "***"


def upload_files(root: Path) -> list[Path]:
    """The files Ray packs from ``root`` as a job's working_dir with ``UPLOAD_EXCLUDES``:
    Ray's own directory walk with its default excludes, ours, and the .gitignore and
    .rayignore files it meets on the way."""
    from ray._private import ray_constants
    from ray._private.runtime_env import packaging

    # as JobSubmissionClient decides it (ray/dashboard/modules/dashboard_sdk.py)
    ignore_gitignore = os.environ.get(ray_constants.RAY_RUNTIME_ENV_IGNORE_GITIGNORE, "0") == "1"
    excludes = ray_constants.get_runtime_env_default_excludes() + UPLOAD_EXCLUDES
    root = Path(root).absolute()
    files: list[Path] = []

    def keep(path: Path) -> None:
        if path.is_file():
            files.append(path)

    packaging._dir_travel(
        root,
        [packaging._get_excludes(root, excludes)],
        keep,
        include_gitignore=not ignore_gitignore,
        logger=log,
    )
    return files


def describe_upload(root: Path, files: list[Path]) -> str:
    size = sum(f.stat().st_size for f in files)
    return (
        f"uploading {root}: {len(files)} files, {size / 2**20:.1f} MiB ({size} bytes); "
        ".env, keys, tokens, .git, environments, data and local stores stay here"
    )


def describe_modules(modules: list[Path]) -> str:
    """The line for orch's own code, which travels as Ray ``py_modules``."""
    files = [f for module in modules for f in upload_files(module)]
    size = sum(f.stat().st_size for f in files)
    names = ", ".join(f"{m.name} ({m})" for m in modules)
    return f"orch itself travels as py_modules: {names}: {len(files)} files, {size / 2**20:.1f} MiB"


def looks_secret(key: str) -> bool:
    return any(word in key.upper() for word in SECRET_WORDS)


def shown_env(env: dict[str, str]) -> str:
    """``K=V`` pairs for printing, the value of every secret-looking key as ``***``."""
    return " ".join(f"{k}={MASK if looks_secret(k) else v}" for k, v in env.items())


def secret_env_note(env: dict[str, str]) -> str | None:
    """A warning for ``--env`` secrets, which Ray itself keeps in plain text."""
    secret = [k for k in env if looks_secret(k)]
    if not secret:
        return None
    return (
        f"note: --env {', '.join(secret)} looks secret; Ray writes a job's environment, values "
        "included, into every node's runtime_env_agent.log and the job's info: where you can, "
        "set it on the nodes instead"
    )


def parse_env(pairs: list[str]) -> dict[str, str]:
    """``--env KEY=VALUE`` pairs; a malformed one is named without its text, which may be a
    token pasted without its ``KEY=``."""
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--env expects KEY=VALUE, got a {len(pair)}-character value without a "
                "KEY= (not shown: it may be a secret); write e.g. --env ORCH_HOME=/mnt/orch"
            )
        env[key.strip()] = value
    return env
