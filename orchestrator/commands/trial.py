"""``orch trial``: run one trial of a spec without Ray and print its final metrics."""

from __future__ import annotations

import argparse
import json

from orchestrator.commands.common import add_spec_arguments
from orchestrator.spec.baselines import BASELINES, baseline_overrides
from orchestrator.spec.load import load_spec, parse_overrides


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser("trial", help="train and evaluate one configuration (no Ray)")
    add_spec_arguments(parser, tracking=False)
    parser.add_argument(
        "--baseline",
        choices=sorted(BASELINES),
        default=None,
        help="apply a baseline's method settings before --set",
    )
    parser.add_argument("--json", action="store_true", help="print the final metrics as JSON")
    parser.add_argument("--quiet", action="store_true", help="no per-epoch lines")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    overrides = baseline_overrides(args.baseline) if args.baseline else {}
    spec = load_spec(args.spec, {**overrides, **parse_overrides(args.overrides)})
    from workers.cells import run_protocol  # the data plane: imports torch

    shown = spec.protocol.metrics

    def report(metrics: dict, _cells, _state) -> None:
        if not args.quiet and not args.json:
            line = "  ".join(f"{k} {metrics[k]:6.2f}" for k in shown if k in metrics)
            print(f"epoch {int(metrics['epoch']):3d}  {line}  loss {metrics.get('loss', 0):.3f}")

    result = run_protocol(spec.trial, spec.protocol, report=report)
    final = result.metrics
    if args.json:
        print(json.dumps({k: round(v, 4) for k, v in final.items()}, indent=2))
        return 0
    cells = len(result.cells)
    print(f"final (validation | test){f', mean over {cells} cells' if cells > 1 else ''}:")
    for key in shown:
        print(f"  {key:<10} {final[key]:6.2f} | {final['test_' + key]:6.2f}")
    if cells > 1:
        for key in shown:
            std = f"{key}_std"
            if std in final:
                print(f"  {std:<10} {final[std]:6.2f} | {final['test_' + std]:6.2f}")
    if spec.protocol.kind == "cross_dataset":
        for target in spec.protocol.targets:
            acc, ece = f"target_acc/{target}", f"ece_target/{target}"
            print(
                f"  {target}: acc {final[acc]:.2f} | {final['test_' + acc]:.2f}"
                f", ece {final[ece]:.2f} | {final['test_' + ece]:.2f}"
            )
    elif spec.protocol.kind == "incremental":
        sessions = sorted((k for k in final if k.startswith("acc_s")), key=lambda k: int(k[5:]))
        print(
            "  after each session (validation | test): "
            + ", ".join(f"{final[k]:.1f} | {final['test_' + k]:.1f}" for k in sessions)
        )
    elif cells > 1:
        for dataset in dict.fromkeys(c.cell.dataset for c in result.cells):
            print(
                f"  {dataset}: hm {final['hm/' + dataset]:.2f} | {final['test_hm/' + dataset]:.2f}"
                f", ece {final['ece/' + dataset]:.2f} | {final['test_ece/' + dataset]:.2f}"
            )
    print(
        f"cost: {final['cost_wall_s']:.1f} s wall, {final['cost_cell_s']:.1f} cell-seconds, "
        f"{final['cost_gpu_s']:.1f} GPU-seconds"
    )
    return 0
