"""``orch zero-shot``: evaluate the hand-written template on base and new classes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from workers.paths import default_data_root

METRIC_ROWS = (
    ("base_acc", "base accuracy"),
    ("new_acc", "new accuracy"),
    ("hm", "HM"),
    ("ece_base", "ECE base"),
    ("ece_new", "ECE new"),
)


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "zero-shot", help="zero-shot CLIP on the base-to-new protocol (no training)"
    )
    parser.add_argument("--dataset", default="toyworld", help="dataset name (default: toyworld)")
    parser.add_argument("--root", type=Path, default=None, help="data root (default: $ORCH_DATA)")
    parser.add_argument("--model", default="toyclip", help="open_clip model name")
    parser.add_argument("--pretrained", default="toyworld", help="pretrained tag")
    parser.add_argument("--checkpoint", type=Path, default=None, help="local weights file")
    parser.add_argument("--template", default="a photo of a {}.", help="prompt template")
    parser.add_argument("--split", default="test", choices=("val", "test"))
    parser.add_argument("--device", default="auto", help="cpu, cuda or auto")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from workers.zero_shot import evaluate_zero_shot_cli  # the data plane: imports torch

    result = evaluate_zero_shot_cli(
        dataset=args.dataset,
        root=args.root or default_data_root(),
        model=args.model,
        pretrained=args.pretrained,
        checkpoint=args.checkpoint,
        template=args.template,
        split=args.split,
        device=args.device,
    )
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(
        f"zero-shot {result['model']} ({result['pretrained']}) on {result['dataset']} "
        f"({result['split']}, template {result['template']!r})"
    )
    for key, label in METRIC_ROWS:
        print(f"  {label:<14} {result[key]:6.2f} %")
    return 0
