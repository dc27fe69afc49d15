"""``orch sweep`` and ``orch validate``: run a spec's search, or check it without running."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from orchestrator.commands.common import add_spec_arguments
from orchestrator.spec.load import load_spec, parse_overrides

if TYPE_CHECKING:
    from orchestrator.selection.results import SweepResult


def register(commands: argparse._SubParsersAction) -> None:
    sweep = commands.add_parser("sweep", help="search a spec's space with Ray Tune + Optuna")
    add_spec_arguments(sweep)
    sweep.add_argument(
        "--resume", action="store_true", help="continue the newest interrupted sweep"
    )
    sweep.add_argument(
        "--storage", default=None, help="Ray results: folder or s3:// URI (default ./orch_runs)"
    )
    sweep.add_argument("--address", default=None, help="Ray cluster address (default: local)")
    sweep.add_argument("--json", action="store_true", help="print the result as JSON")
    sweep.set_defaults(run=run_sweep_command)
    validate = commands.add_parser("validate", help="check a spec without running a trial")
    add_spec_arguments(validate)
    validate.set_defaults(run=run_validate)
    for parser in (sweep, validate):
        parser.add_argument(
            "--replay",
            metavar="TABLE",
            default=None,
            help="serve the recorded reports of an `orch table` instead of training (replay.table)",
        )
        parser.add_argument(
            "--time-scale",
            type=float,
            default=None,
            metavar="S",
            help="replaying, wait S seconds per recorded second (replay.time_scale; default 0)",
        )


def spec_of(args: argparse.Namespace):
    """The spec with ``--set`` overrides, ``--replay`` and ``--time-scale`` applied."""
    overrides = parse_overrides(args.overrides)
    if args.replay is not None:
        overrides["replay.table"] = args.replay
    if args.time_scale is not None:
        overrides["replay.time_scale"] = args.time_scale
    return load_spec(args.spec, overrides)


def run_sweep_command(args: argparse.Namespace) -> int:

    from orchestrator.report.sweep_report import print_result, report_width
    from orchestrator.search.tuner import ray_init, ray_shutdown
    from orchestrator.sweep.run import run_sweep
    from orchestrator.sweep.validate import validate

    spec = spec_of(args)
    # Ray starts while the data plane checks the model: both take seconds, and a bad
    # address or a bad spec still leaves nothing written, nor a Ray instance behind
    try:
        validate(spec, tracking_uri=args.tracking_uri, meanwhile=lambda: ray_init(args.address))
    except BaseException:
        ray_shutdown()
        raise
    result = run_sweep(
        spec,
        tracking_uri=args.tracking_uri,
        resume=args.resume,
        storage=args.storage,
        ray_address=args.address,
    )
    if args.json:
        print(json.dumps(result.as_json(), indent=2))
    else:
        uri = args.tracking_uri or spec.sweep.tracking.uri
        print_result(result, uri=uri, width=report_width(False))
    return nothing_finished(result)


def nothing_finished(result: SweepResult) -> int:
    """1, with one line saying why, when no configuration finished: there is nothing to select,
    and a script (or a Ray job) must not read that as success."""
    if not result.trials or any(t.finished for t in result.trials):
        return 0
    errors = [t.tags["error"] for t in result.trials if t.tags.get("error")]
    why = f"; the first error: {errors[0]}" if errors else ""
    print(
        f"orch sweep: error: none of the {len(result.trials)} configurations finished, so none "
        f"was selected{why} (each failed run's 'error' tag and error.txt in MLflow)",
        file=sys.stderr,
    )
    return 1


def run_validate(args: argparse.Namespace) -> int:
    from orchestrator.sweep.validate import validate

    spec = spec_of(args)
    for line in validate(spec, tracking_uri=args.tracking_uri):
        print(f"ok  {line}")
    return 0
