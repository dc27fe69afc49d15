"""Evaluation metrics: accuracy, harmonic mean, expected calibration error.

Pure functions of tensors; fractions in, fractions out (the trial converts to %).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import torch


def accuracy(probs_or_logits: torch.Tensor, labels: torch.Tensor) -> float:
    """Top-1 accuracy as a fraction. (N, C), (N,) -> float"""
    if len(labels) == 0:
        raise ValueError("accuracy needs at least one sample")
    return (probs_or_logits.argmax(dim=-1) == labels).float().mean().item()


def harmonic_mean(base: float, new: float) -> float:
    """``2 * base * new / (base + new)``; 0 when both are 0."""
    if base < 0 or new < 0:
        raise ValueError(f"accuracies must be >= 0, but got (base={base}, new={new})")
    return 0.0 if base + new == 0 else 2 * base * new / (base + new)


@dataclass(frozen=True)
class ReliabilityBins:
    """Per-bin data of a reliability diagram over equal-width confidence bins."""

    edges: torch.Tensor  # (n_bins + 1,) from 0 to 1
    counts: torch.Tensor  # (n_bins,) samples whose confidence falls in the bin
    accuracy: torch.Tensor  # (n_bins,) fraction correct in the bin, 0 where empty
    confidence: torch.Tensor  # (n_bins,) mean max-probability in the bin, 0 where empty

    @property
    def gaps(self) -> torch.Tensor:
        return (self.accuracy - self.confidence).abs()  # (n_bins,)


def reliability_bins(
    probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 10
) -> ReliabilityBins:
    """Bin samples by max-probability confidence into ``n_bins`` equal-width bins.

    Bins are right-closed, ``(lo, hi]``, with the first bin also taking confidence 0.
    probs: (N, C) probabilities; labels: (N,)
    """
    if n_bins < 1:
        raise ValueError(f"n_bins >= 1 must hold, but got n_bins={n_bins}")
    confidence, predicted = probs.float().max(dim=-1)  # (N,), (N,)
    correct = (predicted == labels).float()  # (N,)
    edges = torch.linspace(0, 1, n_bins + 1, dtype=torch.float64)
    # bucketize with right=False gives i such that edges[i-1] < x <= edges[i]
    index = torch.bucketize(confidence.double(), edges[1:-1], right=False)  # (N,) in [0, n_bins)
    counts = torch.bincount(index, minlength=n_bins).double()
    acc_sum = torch.bincount(index, weights=correct.double(), minlength=n_bins)
    conf_sum = torch.bincount(index, weights=confidence.double(), minlength=n_bins)
    safe = counts.clamp(min=1)
    return ReliabilityBins(
        edges=edges, counts=counts, accuracy=acc_sum / safe, confidence=conf_sum / safe
    )


def expected_calibration_error(
    probs: torch.Tensor, labels: torch.Tensor, n_bins: int = 10
) -> float:
    """``sum_b |B_b|/n * |acc(B_b) - conf(B_b)|`` over equal-width bins; a fraction in [0, 1]."""
    if len(labels) == 0:
        raise ValueError("expected_calibration_error needs at least one sample")
    bins = reliability_bins(probs, labels, n_bins)
    return float((bins.counts / bins.counts.sum() * bins.gaps).sum())


def base_new_metrics(
    probs: Mapping[str, torch.Tensor], labels: Mapping[str, torch.Tensor], n_bins: int = 10
) -> dict[str, float]:
    """The base-to-new protocol's numbers, in %: accuracy and ECE per subset, HM, mean ECE.

    probs["base"]: (N_b, C_b) over base labels, probs["new"]: (N_n, C_n) over new labels
    (never mixed); labels likewise.
    """
    out: dict[str, float] = {}
    for subset in ("base", "new"):
        out[f"{subset}_acc"] = 100 * accuracy(probs[subset], labels[subset])
        out[f"ece_{subset}"] = 100 * expected_calibration_error(
            probs[subset], labels[subset], n_bins
        )
    out["hm"] = harmonic_mean(out["base_acc"], out["new_acc"])
    out["ece"] = (out["ece_base"] + out["ece_new"]) / 2
    return out


def transfer_metrics(
    probs: Mapping[str, torch.Tensor],
    labels: Mapping[str, torch.Tensor],
    source: str,
    n_bins: int = 10,
) -> dict[str, float]:
    """The cross-dataset protocol's numbers, in %, from the source's and each target's
    predictions (each over its own dataset's labels): ``source_acc``, ``ece_source``, per
    target ``target_acc/<target>`` and ``ece_target/<target>``, their means ``target_acc``
    and ``ece_target``, ``hm`` = HM(source_acc, target_acc) and ``ece`` = the mean of
    ``ece_source`` and ``ece_target``."""
    targets = [name for name in probs if name != source]
    if not targets:
        raise ValueError("transfer_metrics needs at least one target beside the source")
    out = {
        "source_acc": 100 * accuracy(probs[source], labels[source]),
        "ece_source": 100 * expected_calibration_error(probs[source], labels[source], n_bins),
    }
    for target in targets:
        out[f"target_acc/{target}"] = 100 * accuracy(probs[target], labels[target])
        out[f"ece_target/{target}"] = 100 * expected_calibration_error(
            probs[target], labels[target], n_bins
        )
    out["target_acc"] = sum(out[f"target_acc/{t}"] for t in targets) / len(targets)
    out["ece_target"] = sum(out[f"ece_target/{t}"] for t in targets) / len(targets)
    out["hm"] = harmonic_mean(out["source_acc"], out["target_acc"])
    out["ece"] = (out["ece_source"] + out["ece_target"]) / 2
    return out
