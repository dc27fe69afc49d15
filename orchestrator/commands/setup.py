"""``orch setup``: provision what the tool needs on a fresh machine (WordNet, the toy world)."""

from __future__ import annotations

import argparse
from pathlib import Path

from orchestrator.provision.wordnet import provision_wordnet
from workers.paths import default_data_root


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "setup", help="provision WordNet for nltk and generate the toy datasets (idempotent)"
    )
    parser.add_argument("--root", type=Path, default=None, help="data root (default: $ORCH_DATA)")
    parser.add_argument("--skip-toyworld", action="store_true", help="only provision WordNet")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    corpus = provision_wordnet()
    print(f"WordNet 3.0: {corpus}")
    if not args.skip_toyworld:
        from workers.toyworld.dataset import ensure_family  # pure numpy/PIL, no torch

        for name, folder in ensure_family(args.root or default_data_root()).items():
            print(f"toy world {name}: {folder}")
    return 0
