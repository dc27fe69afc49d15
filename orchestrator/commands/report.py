"""``orch report``, ``orch export`` and ``orch ui``: look at a sweep's results."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    report = commands.add_parser("report", help="the Pareto front and the selected trial")
    report.add_argument(
        "--experiment", default=None, help="MLflow experiment (default: newest sweep)"
    )
    report.add_argument("--tracking-uri", default=None)
    report.add_argument("--json", action="store_true")
    report.set_defaults(run=run_report)
    export = commands.add_parser("export", help="write the selected configuration as a spec")
    export.add_argument("--experiment", default=None)
    export.add_argument("--tracking-uri", default=None)
    export.add_argument("-o", "--output", type=Path, default=Path("selected.yaml"))
    export.set_defaults(run=run_export)
    ui = commands.add_parser("ui", help="serve the MLflow UI for the sweep's store on 127.0.0.1")
    ui.add_argument("--tracking-uri", default=None)
    ui.add_argument("--port", type=int, default=5000)
    ui.set_defaults(run=run_ui)


def run_report(args: argparse.Namespace) -> int:
    from orchestrator.report import load_result, print_result

    result = load_result(args.experiment, args.tracking_uri)
    if args.json:
        print(json.dumps(result.as_json(), indent=2))
    else:
        print_result(result, args.tracking_uri)
    return 0


def run_export(args: argparse.Namespace) -> int:
    from orchestrator.report import export_spec, load_result

    result = load_result(args.experiment, args.tracking_uri)
    print(
        f"wrote {export_spec(result, args.tracking_uri, args.output)}: "
        f"`orch trial {args.output}` reruns it"
    )
    return 0


def run_ui(args: argparse.Namespace) -> int:
    import subprocess
    import sys

    from orchestrator.tracking import check_reachable, resolve_uri

    uri = resolve_uri(args.tracking_uri)
    check_reachable(uri)
    if uri.startswith("http"):
        print(f"the tracking server already serves its UI: {uri}")
        return 0
    print(f"MLflow UI for {uri}: http://127.0.0.1:{args.port}  (Ctrl-C stops it)", flush=True)
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
    ]
    return subprocess.call(command)
