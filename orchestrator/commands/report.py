"""``orch report``, ``orch export`` and ``orch ui``: look at a sweep's results."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from orchestrator.tracking.links import DEFAULT_UI_PORT

UI_READY = "starting the server; Ctrl-C stops it"  # `orch ui`'s last line before the server's


def register(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="the Pareto front and the selected trial")
    report.add_argument(
        "--experiment", default=None, help="MLflow experiment (default: newest sweep)"
    )
    report.add_argument("--tracking-uri", default=None)
    report.add_argument("--json", action="store_true", help="print the result as one JSON object")
    report.add_argument(
        "--wide",
        action="store_true",
        help="one table however wide, with each dataset's hm and ece (default: wrap at the "
        "terminal's width, 120 when not a terminal)",
    )
    report.add_argument(
        "--port", type=int, default=DEFAULT_UI_PORT, help="`orch ui`'s port, for the links"
    )
    report.set_defaults(run=run_report)
    export = commands.add_parser(
        "export", help="write a configuration (default: the selected one) as a spec"
    )
    export.add_argument("--experiment", default=None)
    export.add_argument("--tracking-uri", default=None)
    export.add_argument(
        "--run",
        dest="run_id",  # `run` is the command's function
        default=None,
        metavar="RUN_ID",
        help="any configuration run of the sweep",
    )
    export.add_argument("-o", "--output", type=Path, default=Path("selected.yaml"))
    export.set_defaults(run=run_export)
    ui = commands.add_parser("ui", help="serve the MLflow UI for the sweep's store on 127.0.0.1")
    ui.add_argument("--tracking-uri", default=None)
    ui.add_argument("--port", type=int, default=DEFAULT_UI_PORT)
    ui.add_argument(
        "--workers", type=int, default=1, help="server processes (default 1: one user, light)"
    )
    ui.set_defaults(run=run_ui)


def run_report(args: argparse.Namespace) -> int:
    from orchestrator.report.sweep_report import load_result, print_result, report_width

    result = load_result(args.experiment, args.tracking_uri)
    if args.json:
        print(json.dumps(result.as_json(), indent=2))
    else:
        print_result(result, args.tracking_uri, width=report_width(args.wide), port=args.port)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from orchestrator.report.sweep_report import export_spec, load_result

    result = load_result(args.experiment, args.tracking_uri)
    out = export_spec(result, args.tracking_uri, args.output, run_id=args.run_id)
    print(f"wrote {out}: `orch trial {args.output}` reruns it")
    return 0


def run_ui(args: argparse.Namespace) -> int:
    import os
    import subprocess
    import sys

    from orchestrator.tracking.links import ui_base
    from orchestrator.tracking.uri import check_reachable, resolve_uri, shown_uri

    uri = resolve_uri(args.tracking_uri)
    check_reachable(uri)
    base = ui_base(uri, args.port)
    if uri.startswith("http"):
        print(f"the tracking server already serves its UI: {base}")
        for line in _experiment_links(uri, base):
            print(line)
        return 0
    print(f"MLflow UI for {shown_uri(uri)}: {base}", flush=True)
    for line in _experiment_links(uri, base):
        print(line, flush=True)
    print(UI_READY, flush=True)
    # the server's job runner (8 processes) serves GenAI features; browsing runs needs none
    env = {"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", **os.environ}
    command = [
        sys.executable,
        "-m",
        "mlflow",
        "ui",
        "--backend-store-uri",
        uri,
        "--host",
        "127.0.0.1",
        "--port",
        str(args.port),
        "--workers",
        str(args.workers),
    ]
    return subprocess.call(command, env=env)


def _experiment_links(uri: str, base: str) -> list[str]:
    """The runs table (machine-learning view) of every experiment with runs, newest first."""
    from mlflow.tracking import MlflowClient

    from orchestrator.tracking.links import runs_link

    client = MlflowClient(tracking_uri=uri)
    lines = []
    for experiment in client.search_experiments(order_by=["last_update_time DESC"]):
        if client.search_runs([experiment.experiment_id], max_results=1):
            lines.append(f"  {experiment.name}: {runs_link(base, experiment.experiment_id)}")
    return lines
