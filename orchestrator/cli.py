"""``orch``: the command-line entry point.

Wiring only: each command group lives in ``orchestrator/commands/``. User mistakes
(``UserError``) become one line on stderr and exit code 2; ``ORCH_DEBUG=1`` shows the
full traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import traceback

from orchestrator.commands import (
    cluster,
    datasets,
    evaluate,
    report,
    setup,
    sweep,
    table,
    trial,
)
from orchestrator.search.tuner import sigterm_as_interrupt
from workers.errors import UserError

COMMAND_GROUPS = (setup, datasets, evaluate, trial, sweep, table, cluster, report)


class OneLineParser(argparse.ArgumentParser):
    """Usage mistakes as one line naming the fix, like every other user error."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see `{self.prog} --help`)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="orch", description="Sweeps for CLIP prompt learning, selected on HM and ECE."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress at INFO level")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def subcommand_parsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """Each ``orch COMMAND``'s own parser, by name (for the docs' reference and checks)."""
    (action,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(action.choices)


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
    # one "View run" line per trial from an http:// server; the summary names the UI once
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    args = build_parser().parse_args(argv)
    if not args.verbose:  # MLflow logs at INFO by default: "Creating initial database tables"
        os.environ.setdefault("MLFLOW_LOGGING_LEVEL", "WARNING")
    sigterm_as_interrupt()
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.run(args) or 0
    except UserError as exc:
        if os.environ.get("ORCH_DEBUG") == "1":
            traceback.print_exc()
        print(f"orch {args.command}: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print(f"orch {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
