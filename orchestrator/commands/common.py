"""Arguments shared by the commands that read a spec."""

from __future__ import annotations

import argparse


def add_spec_arguments(parser: argparse.ArgumentParser, *, tracking: bool = True) -> None:
    parser.add_argument("spec", help="YAML spec, e.g. search_spaces/cocoa.yaml")
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override any key, e.g. method.w=2 or search.num_trials=4 (repeatable)",
    )
    if tracking:
        parser.add_argument(
            "--tracking-uri", default=None, help="MLflow URI (overrides tracking.uri)"
        )
