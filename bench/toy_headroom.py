"""How much a prompt could gain on each toy benchmark: the toy world's diagnostics table.

    .venv/bin/python bench/toy_headroom.py [--datasets ...] [--seed 1] [--no-coop]
        [--checkpoint PATH]   # a candidate toyclip (default: the shipped weights)

Per base-to-new dataset, test split, in %:

- zero-shot accuracy and ECE with the generic template "a photo of a {}.";
- a 16-shot linear probe on the frozen image features (base classes; the classifier starts at
  the zero-shot head, keeps CLIP's temperature, and its weight decay is chosen on validation):
  what the pixels allow, hence the headroom of any text-side method;
- CoOp at its reference settings (search_spaces/trial.yaml with the coop baseline, one seed);
- the domain-template oracle: zero-shot with the domain's own caption words (an ensemble of
  the domain's templates, as CLIP's prompt ensembling);
- context sensitivity: the spread of zero-shot accuracy (mean of base and new) over the three
  domains' template ensembles, the same class names under each.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from workers.datasets import read_split  # noqa: E402
from workers.features import encode_items  # noqa: E402
from workers.metrics import accuracy, expected_calibration_error  # noqa: E402
from workers.model import Clip, create_clip  # noqa: E402
from workers.paths import default_data_root  # noqa: E402
from workers.splits import dataset_labels, few_shot, subsample_classes, subset_names  # noqa: E402
from workers.toyworld.captions import DOMAIN_FULL, FULL  # noqa: E402
from workers.toyworld.dataset import ensure_toy  # noqa: E402
from workers.toyworld.family import BASE_TO_NEW, FAMILY  # noqa: E402
from workers.zero_shot import DEFAULT_TEMPLATE  # noqa: E402

WEIGHT_DECAYS = (0.0, 1e-4, 1e-3, 1e-2, 1e-1)


def own_templates(domain: str) -> tuple[str, ...]:
    """The domain's own caption words: its templates without the generic photo ones."""
    own = tuple(t for t in DOMAIN_FULL[domain] if t not in FULL and t != "{}")
    return own or tuple(t for t in DOMAIN_FULL[domain] if t != "{}")  # a domain of photos only


def text_head(clip: Clip, names: list[str], templates: tuple[str, ...]) -> torch.Tensor:
    """Prompt-ensembled class features. -> (C, E), L2-normalised"""
    feats = torch.stack([clip.encode_texts([t.format(n) for n in names]).cpu() for t in templates])
    return F.normalize(F.normalize(feats, dim=-1).mean(0), dim=-1)


def scores(probs: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    return 100 * accuracy(probs, labels), 100 * expected_calibration_error(probs, labels, 10)


def linear_probe(
    head: torch.Tensor, scale: float, train, val, test, *, steps: int = 300
) -> dict[str, float]:
    """Logistic regression on frozen features from the zero-shot head; weight decay by val."""
    best = None
    for decay in WEIGHT_DECAYS:
        weight = head.clone().requires_grad_(True)  # (C, E)
        opt = torch.optim.Adam([weight], lr=1e-3)
        for _ in range(steps):
            logits = scale * train[0] @ F.normalize(weight, dim=-1).T
            loss = F.cross_entropy(logits, train[1]) + decay * (weight - head).pow(2).sum()
            opt.zero_grad()
            loss.backward()
            opt.step()
        with torch.no_grad():
            w = F.normalize(weight, dim=-1)
            val_acc = accuracy(val[0] @ w.T, val[1])
            if best is None or val_acc > best[0]:
                best = (val_acc, decay, w)
    _, decay, w = best
    acc, ece = scores((scale * test[0] @ w.T).softmax(-1), test[1])
    return {"acc": acc, "ece": ece, "decay": decay}


def diagnose(clip: Clip, dataset: str, root: Path, seed: int) -> dict[str, float]:
    splits = read_split(root, dataset)
    labels = dataset_labels(splits)
    scale = clip.logit_scale
    feats, names = {}, {}
    for subset in ("base", "new"):
        names[subset] = subset_names(splits, subset)
        feats[subset] = encode_items(clip, subsample_classes(splits["test"], subset, labels))
    out: dict[str, float] = {}
    generic = {s: text_head(clip, names[s], (DEFAULT_TEMPLATE,)) for s in names}
    for s in names:
        probs = (scale * feats[s][0] @ generic[s].T).softmax(-1)
        out[f"zs_{s}"], out[f"zs_ece_{s}"] = scores(probs, feats[s][1])
    domain = FAMILY[dataset].domain
    by_domain = {}
    for other in DOMAIN_FULL:
        accs = []
        for s in names:
            head = text_head(clip, names[s], own_templates(other))
            accs.append(scores((scale * feats[s][0] @ head.T).softmax(-1), feats[s][1]))
        by_domain[other] = accs
        if other == domain:
            out["oracle_base"], out["oracle_new"] = accs[0][0], accs[1][0]
    means = [statistics.mean(a for a, _ in accs) for accs in by_domain.values()]
    out["context"] = max(means) - min(means)
    base_train = few_shot(subsample_classes(splits["train"], "base", labels), 16, seed)
    base_val = few_shot(subsample_classes(splits["val"], "base", labels), 4, seed, split="val")
    probe = linear_probe(
        generic["base"], scale, encode_items(clip, base_train), encode_items(clip, base_val),
        feats["base"],
    )  # fmt: skip
    out["probe_base"], out["probe_ece"], out["probe_decay"] = (
        probe["acc"], probe["ece"], probe["decay"],
    )  # fmt: skip
    return out


def coop(dataset: str, seed: int, sets: dict) -> dict[str, float]:
    from orchestrator.spec.baselines import baseline_overrides
    from orchestrator.spec.load import load_spec
    from workers.cells import run_protocol
    from workers.protocol import Protocol

    trial_spec = Path(__file__).resolve().parents[1] / "search_spaces" / "trial.yaml"
    spec = load_spec(trial_spec, {**baseline_overrides("coop"), **sets})
    result = run_protocol(spec.trial, Protocol(seeds=(seed,), datasets=(dataset,)))
    return dict(result.cells[0].metrics)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--datasets", nargs="+", default=list(BASE_TO_NEW))
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--no-coop", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)
    root = default_data_root()
    sets = {}
    if args.checkpoint:
        clip = create_clip("toyclip", checkpoint=args.checkpoint)
        sets = {"model.pretrained": None, "model.checkpoint": str(args.checkpoint.resolve())}
    else:
        clip = create_clip("toyclip", pretrained="toyworld")
    print(
        "| dataset | zs base | zs new | zs HM | zs ECE b/n | probe base (wd) | CoOp base | "
        "CoOp new | CoOp ECE new | oracle base | oracle new | context |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for dataset in args.datasets:
        ensure_toy(dataset, root)
        d = diagnose(clip, dataset, root, args.seed)
        c = {} if args.no_coop else coop(dataset, args.seed, sets)
        hm = 2 * d["zs_base"] * d["zs_new"] / max(d["zs_base"] + d["zs_new"], 1e-9)
        coop_cols = (
            ["-"] * 3
            if not c
            else [
                f"{c['test_base_acc']:.1f}",
                f"{c['test_new_acc']:.1f}",
                f"{c['test_ece_new']:.1f}",
            ]
        )
        print(
            f"| {dataset} | {d['zs_base']:.1f} | {d['zs_new']:.1f} | {hm:.1f} | "
            f"{d['zs_ece_base']:.1f} / {d['zs_ece_new']:.1f} | "
            f"{d['probe_base']:.1f} ({d['probe_decay']:g}) | " + " | ".join(coop_cols) + " | "
            f"{d['oracle_base']:.1f} | {d['oracle_new']:.1f} | {d['context']:.1f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
