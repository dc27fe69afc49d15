"""``orch table``: a finished sweep as a tabulated benchmark, for ``orch sweep --replay``."""

from __future__ import annotations

import argparse
from pathlib import Path


def register(commands: argparse._SubParsersAction) -> None:
    table = commands.add_parser(
        "table", help="write a finished sweep's every report as a Parquet table (for --replay)"
    )
    table.add_argument(
        "sweep",
        nargs="?",
        default=None,
        help="the sweep's folder, or its name under --storage (default: the newest sweep)",
    )
    table.add_argument("--storage", default=None, help="where the sweeps are (default ./orch_runs)")
    table.add_argument(
        "-o", "--output", type=Path, default=None, help="the table (default: <sweep>.parquet)"
    )
    table.set_defaults(run=run_table)


def run_table(args: argparse.Namespace) -> int:
    from orchestrator.report.table import make_table, sweep_folder

    folder = sweep_folder(args.sweep, args.storage)
    out = args.output or Path(f"{folder.name}.parquet")
    path, configurations, skipped = make_table(folder, out)
    left = f"; {skipped} unfinished trial(s) left out" if skipped else ""
    print(
        f"wrote {path}: {configurations} configurations of {folder.name}{left}; "
        f"`orch sweep SPEC --replay {path}` replays them"
    )
    return 0
