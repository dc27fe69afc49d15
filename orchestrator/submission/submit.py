"""``orch submit``: the same sweep, run as a Ray job on an existing cluster.

The job's driver is ``orch sweep`` itself, started on the cluster's head in an uploaded copy
of the user's working folder (the spec and the files it names), with orch's own two packages
sent beside it as Ray ``py_modules``: the same whether orch runs from its checkout or from a
wheel, and the cluster needs orch's dependencies only. Everything a remote driver cannot get
right on its own is checked here, before anything is uploaded: the tracking store must be a
server every node can reach, the experiment storage must be shared, the spec must parse, the
files it names must travel, and the cluster must accept us.
"""

from __future__ import annotations

import os
import shlex
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import orchestrator
import workers
from orchestrator.spec.load import Spec
from orchestrator.spec.storage import SHARED_SCHEMES, is_uri
from orchestrator.submission.upload import UPLOAD_EXCLUDES
from orchestrator.sweep.validate import setting_values
from orchestrator.tracking.uri import DATABASE_SCHEMES, shown_uri
from workers.errors import ClusterError, JobFailed, UserError

TERMINAL = ("SUCCEEDED", "FAILED", "STOPPED")


@dataclass(frozen=True)
class Token:
    value: str
    source: str  # where it came from, for messages


def find_token() -> Token | None:
    """Ray's auth token as Ray itself looks for it: $RAY_AUTH_TOKEN, $RAY_AUTH_TOKEN_PATH,
    then ~/.ray/auth_token."""
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return Token(os.environ["RAY_AUTH_TOKEN"].strip(), "$RAY_AUTH_TOKEN")
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    token = path.read_text().strip() if path.is_file() else ""
    return Token(token, str(path)) if token else None


def dashboard_address(address: str | None) -> str:
    address = address or os.environ.get("RAY_API_SERVER_ADDRESS") or ""
    if not address.startswith(("http://", "https://")):
        found = f"'{address}'" if address else "nothing"
        raise ClusterError(
            f"--address: the Ray Jobs API needs the dashboard's http://HOST:8265 address, got "
            f"{found} (the GCS port 6379 and ray:// client addresses do not take jobs)"
        )
    return address.rstrip("/")


def job_client(address: str | None):
    """A Jobs API client that has already reached the cluster and been let in."""
    from ray.exceptions import AuthenticationError
    from ray.job_submission import JobSubmissionClient

    address = dashboard_address(address)
    token = find_token()
    headers = {"Authorization": f"Bearer {token.value}"} if token else {}
    try:
        return JobSubmissionClient(address, headers=headers)
    except ConnectionError:
        raise ClusterError(
            f"Ray cluster at {address} is unreachable: check that its head runs (`ray status` "
            "there) with the dashboard on that port (`ray start --head --dashboard-host 0.0.0.0`"
            "), or fix --address"
        ) from None
    except AuthenticationError:
        if token is None:
            raise ClusterError(
                f"Ray cluster at {address} requires an auth token and none was found: set "
                "RAY_AUTH_TOKEN or write it to ~/.ray/auth_token (`ray get-auth-token` on the "
                "head prints it)"
            ) from None
        raise ClusterError(
            f"Ray cluster at {address} rejected the auth token from {token.source}: use the "
            "cluster's token (`ray get-auth-token` on the head prints it)"
        ) from None


def check_cluster_safe(spec: Spec, tracking_uri: str | None, storage: str | None) -> None:
    """Settings that work on one machine but silently lose a remote sweep's results."""
    uri = tracking_uri or spec.sweep.tracking.uri
    if uri and uri.split("://")[0].split("+")[0] in DATABASE_SCHEMES:
        raise UserError(
            f"{spec.path}: tracking.uri: {shown_uri(uri)} would be written by the job's driver "
            "itself, with its artifacts in the job's throwaway folder on the head and the URI in "
            "the job's entrypoint; put an MLflow server in front of the database (`mlflow server "
            "--host 0.0.0.0 --port 5000 --backend-store-uri postgresql://...`) and pass "
            "--tracking-uri http://HOST:5000"
        )
    if not uri or not uri.startswith(("http://", "https://")):
        found = uri or "MLflow's default sqlite:///mlflow.db"
        raise UserError(
            f"{spec.path}: tracking.uri: {found} is a store on the head's disk, out of reach for "
            "you and lost with the job's folder; start an MLflow server (`mlflow server --host "
            "0.0.0.0 --port 5000`) and pass --tracking-uri http://HOST:5000"
        )
    location = storage or spec.sweep.storage.path
    if location and location.startswith(SHARED_SCHEMES):
        return
    if location and not is_uri(location) and Path(location).is_absolute():
        if spec.sweep.storage.shared:
            return
    found = location or "the default ./orch_runs"
    raise UserError(
        f"{spec.path}: storage.path: {found} is not storage every node shares; pass --storage "
        "s3://BUCKET/orch_runs (or gs://), or an absolute folder on a shared disk with "
        "--set storage.shared=true"
    )


def spec_in_folder(spec: Spec, folder: Path) -> str:
    """The spec's path inside the uploaded copy of ``folder``."""
    try:
        return Path(spec.path).resolve().relative_to(folder).as_posix()
    except ValueError:
        raise UserError(
            f"{spec.path}: the spec must lie inside the folder the job uploads, the current "
            f"folder {folder}; run orch submit from a folder that holds the spec "
            f"(e.g. cd {Path(spec.path).resolve().parent})"
        ) from None


# settings that name a file or folder; image_outliers may instead name a dataset
PATH_SETTINGS = ("model.checkpoint", "data.root", "method.image_outliers")


def named_paths(spec: Spec) -> list[tuple[str, str]]:
    """``(setting, path)`` for every file or folder the sweep can read, fixed or searched."""
    named = [
        ("method.outlier_vocab", str(value).removeprefix("file:"))
        for value in setting_values(spec, "method.outlier_vocab")
        if str(value).startswith("file:")
    ]
    for key in PATH_SETTINGS:
        for value in setting_values(spec, key) - {None}:
            path = str(value)
            if key != "method.image_outliers" or "/" in path or Path(path).exists():
                named.append((key, path))
    return sorted(set(named))


def check_named_paths(spec: Spec, folder: Path, uploaded: list[Path]) -> list[str]:
    """Refuse a relative path the job would not find: outside ``folder``, missing, or held
    back from the upload. Absolute paths do not travel; each gets a note to print."""
    uploaded_set = {p.absolute() for p in uploaded}
    notes = []
    for key, path in named_paths(spec):
        if Path(path).is_absolute():
            notes.append(
                f"note: {key}: {path} is absolute, so it does not travel: every node "
                "must have it at that path"
            )
            continue
        target = (folder / path).absolute()
        where = f"{spec.path}: {key}: {path}"
        if not target.resolve().is_relative_to(folder):
            raise UserError(
                f"{where} lies outside the folder the job uploads ({folder}); move it inside, "
                "or give an absolute path that exists on every node"
            )
        if not target.exists():
            raise UserError(f"{where} not found in {folder}, the folder the job uploads")
        travels = target in uploaded_set or (
            target.is_dir() and any(p.is_relative_to(target) for p in uploaded_set)
        )
        if not travels:
            raise UserError(
                f"{where} is held back from the upload (a .gitignore, a .rayignore or orch's "
                "own excludes: data/, stores, secrets); move it, or give an absolute path that "
                "exists on every node"
            )
    return notes


def orch_modules() -> list[Path]:
    """orch's own packages, wherever they were imported from: a checkout or a wheel."""
    return [Path(orchestrator.__file__).parent, Path(workers.__file__).parent]


def entrypoint(
    spec_path: str,
    overrides: list[str],
    *,
    tracking_uri: str,
    storage: str | None,
    resume: bool,
) -> str:
    words = ["python", "-m", "orchestrator.cli", "sweep", spec_path]
    for pair in overrides:
        words += ["--set", pair]
    words += ["--tracking-uri", tracking_uri]
    if storage:
        words += ["--storage", storage]
    if resume:
        words.append("--resume")
    return shlex.join(words)


def runtime_env(*, folder: Path, env: dict[str, str], pip: bool) -> dict:
    """``folder`` as the job's working directory, orch's packages as ``py_modules``, the
    driver's environment and, with ``pip``, the pinned dependencies for clusters that lack
    them.

    Ray's token stays out of ``env_vars``: the driver, started by the head's job supervisor,
    inherits the head's token, while Ray writes every job's env_vars into each node's
    runtime_env_agent.log and keeps them in the job's info."""
    env_vars = {"PYTHONUNBUFFERED": "1", **env}
    runtime = {
        "working_dir": str(folder),
        "py_modules": [str(module) for module in orch_modules()],
        "excludes": UPLOAD_EXCLUDES,
        "env_vars": env_vars,
    }
    if pip:
        runtime["pip"] = {"packages": pinned_dependencies(), "pip_check": False}
    return runtime


def pinned_dependencies() -> list[str]:
    """orch's own requirements as installed (checkout or wheel), without the extras'."""
    return [r for r in metadata.requires("orch") or [] if "extra ==" not in r]


def failure_reason(logs: str, message: str | None) -> str:
    """The line that says why: the driver's own one-line error, else the last log line."""
    lines = [line.strip() for line in logs.splitlines() if line.strip()]
    for line in reversed(lines):
        if line.startswith("orch ") and ": error: " in line:
            return line
    if lines:
        return lines[-1]
    return (message or "no logs").splitlines()[0]


def follow(client, job_id: str, *, poll_s: float = 1.0) -> None:
    """Print the job's logs as they grow; return when it succeeded, raise JobFailed if not."""
    shown = 0
    while True:
        status = str(client.get_job_status(job_id).value)
        logs = client.get_job_logs(job_id)
        if len(logs) > shown:
            print(logs[shown:], end="", flush=True)
            shown = len(logs)
        if status in TERMINAL:
            break
        time.sleep(poll_s)
    if status == "SUCCEEDED":
        return
    info = client.get_job_info(job_id)
    code = info.driver_exit_code if info.driver_exit_code not in (None, 0) else 1
    raise JobFailed(f"job {job_id} {status}: {failure_reason(logs, info.message)}", code)


AGENT_WAIT_S = 90  # a cluster started moments ago may not have its job agent up yet


def submit_job(client, **job) -> str:
    """``client.submit_job``, waiting while the head's job agent is still starting."""
    deadline = time.monotonic() + AGENT_WAIT_S
    while True:
        try:
            return client.submit_job(**job)
        except RuntimeError as exc:
            if "No available agent" not in str(exc) or time.monotonic() > deadline:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise ClusterError(f"the Ray cluster refused the job: {first}") from None
            time.sleep(2)
