"""``orch submit``, ``orch jobs``, ``orch logs`` and ``orch stop``: sweeps as Ray jobs."""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from orchestrator.commands.common import add_spec_arguments
from orchestrator.spec.load import load_spec, parse_overrides

ADDRESS_HELP = "the Ray dashboard, e.g. http://HEAD:8265 (default: $RAY_API_SERVER_ADDRESS)"


def register(commands: argparse._SubParsersAction) -> None:
    submit = commands.add_parser("submit", help="run a sweep as a job on a Ray cluster")
    add_spec_arguments(submit)
    submit.add_argument("--address", default=None, help=ADDRESS_HELP)
    submit.add_argument(
        "--storage", default=None, help="experiment storage every node shares: s3://, gs:// or PATH"
    )
    submit.add_argument("--resume", action="store_true", help="continue the newest sweep")
    submit.add_argument(
        "--no-wait", action="store_true", help="print the job id and return at once"
    )
    submit.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="environment variable for the job's driver and trials (repeatable), "
        "e.g. ORCH_HOME=/mnt/orch",
    )
    submit.add_argument(
        "--pip",
        action="store_true",
        help="install the pinned dependencies in the job (for nodes that lack them)",
    )
    submit.set_defaults(run=run_submit)

    jobs = commands.add_parser("jobs", help="list the cluster's jobs")
    jobs.add_argument("--address", default=None, help=ADDRESS_HELP)
    jobs.set_defaults(run=run_jobs)
    logs = commands.add_parser("logs", help="print a job's logs")
    logs.add_argument("job", help="job id, as `orch submit` or `orch jobs` printed it")
    logs.add_argument("--address", default=None, help=ADDRESS_HELP)
    logs.add_argument("-f", "--follow", action="store_true", help="follow until the job ends")
    logs.set_defaults(run=run_logs)
    stop = commands.add_parser("stop", help="stop a running job")
    stop.add_argument("job")
    stop.add_argument("--address", default=None, help=ADDRESS_HELP)
    stop.set_defaults(run=run_stop)


def run_submit(args: argparse.Namespace) -> int:
    from orchestrator.submission import submit, upload
    from orchestrator.tracking.uri import check_reachable, shown_uri
    from workers.errors import TrackingError

    spec = load_spec(args.spec, parse_overrides(args.overrides))  # a typo fails here, in a second
    submit.check_cluster_safe(spec, args.tracking_uri, args.storage)
    submit.dashboard_address(args.address)  # its form, before anything is looked at
    folder = Path.cwd().resolve()
    relative = submit.spec_in_folder(spec, folder)
    uploaded = upload.upload_files(folder)
    path_notes = submit.check_named_paths(spec, folder, uploaded)
    env = upload.parse_env(args.env)
    uri = args.tracking_uri or spec.sweep.tracking.uri
    try:
        check_reachable(uri)
    except TrackingError:  # it may be reachable from the cluster only; the driver checks again
        print(f"note: {shown_uri(uri)} does not answer from here; the job's driver will check it")
    client = submit.job_client(args.address)
    name = f"orch-{spec.sweep.tracking.experiment}-{time.strftime('%Y%m%d-%H%M%S')}"
    for logger in ("ray", "ray.dashboard.modules.dashboard_sdk"):  # the upload's per-file notes
        logging.getLogger(logger).setLevel(logging.ERROR)
    runtime_env = submit.runtime_env(folder=folder, env=env, pip=args.pip)
    print(upload.describe_upload(folder, uploaded), flush=True)
    print(upload.describe_modules(submit.orch_modules()), flush=True)
    for note in path_notes:
        print(note, flush=True)
    print(f"job environment: {upload.shown_env(runtime_env['env_vars'])}", flush=True)
    if note := upload.secret_env_note(env):
        print(note, flush=True)
    job_id = submit.submit_job(
        client,
        entrypoint=submit.entrypoint(
            relative, args.overrides, tracking_uri=uri, storage=args.storage, resume=args.resume
        ),
        runtime_env=runtime_env,
        submission_id=name,
        metadata={"orch.spec": relative, "orch.experiment": spec.sweep.tracking.experiment},
    )
    print(f"submitted job {job_id}", flush=True)
    address = submit.dashboard_address(args.address)
    if args.no_wait:
        print(f"follow it with: orch logs {job_id} --follow --address {address}")
        return 0
    try:
        submit.follow(client, job_id)
    except KeyboardInterrupt:
        print(
            f"\nstopped following; the job goes on: `orch logs {job_id} -f --address {address}`"
            f", `orch stop {job_id} --address {address}`"
        )
        return 130
    print(f"job {job_id} succeeded; runs are on {uri}")
    return 0


def run_jobs(args: argparse.Namespace) -> int:
    from orchestrator.submission.submit import job_client

    jobs = sorted(job_client(args.address).list_jobs(), key=lambda j: j.start_time or 0)
    print(f"{'job':<40} {'status':<10} {'started':<19} entrypoint")
    for job in jobs:
        started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime((job.start_time or 0) / 1000))
        print(
            f"{job.submission_id or job.job_id:<40} {job.status.value:<10} {started:<19} "
            f"{job.entrypoint[:80]}"
        )
    return 0


def _known_job(client, job: str, address: str | None) -> None:
    from workers.errors import ClusterError

    try:
        client.get_job_info(job)
    except RuntimeError:
        raise ClusterError(
            f"no job '{job}' on the cluster at {address}: `orch jobs --address ...` lists them"
        ) from None


def run_logs(args: argparse.Namespace) -> int:
    from orchestrator.submission.submit import follow, job_client

    client = job_client(args.address)
    _known_job(client, args.job, args.address)
    if args.follow:
        follow(client, args.job)
    else:
        print(client.get_job_logs(args.job), end="")
    return 0


def run_stop(args: argparse.Namespace) -> int:
    from orchestrator.submission.submit import job_client

    client = job_client(args.address)
    _known_job(client, args.job, args.address)
    stopped = client.stop_job(args.job)
    print(f"job {args.job}: {'stopping' if stopped else 'already ended'}")
    return 0
