import math

import pytest
import torch

from workers.metrics import (
    accuracy,
    expected_calibration_error,
    harmonic_mean,
    reliability_bins,
)


def reference_ece(probs, labels, n_bins):
    """Independent loop implementation: right-closed bins, bin 0 also takes confidence 0."""
    conf = [max(row) for row in probs.tolist()]
    pred = [row.index(max(row)) for row in probs.tolist()]
    n = len(conf)
    total = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        members = [i for i in range(n) if (lo < conf[i] <= hi) or (b == 0 and conf[i] == 0)]
        if not members:
            continue
        acc = sum(pred[i] == int(labels[i]) for i in members) / len(members)
        avg_conf = sum(conf[i] for i in members) / len(members)
        total += len(members) / n * abs(acc - avg_conf)
    return total


def test_ece_hand_computed():
    # Confidences 0.95 (right), 0.85 (wrong), 0.55 (right), 0.45 (right).
    probs = torch.tensor(
        [[0.95, 0.05, 0.0], [0.85, 0.15, 0.0], [0.55, 0.30, 0.15], [0.45, 0.35, 0.20]]
    )
    labels = torch.tensor([0, 1, 0, 0])
    # bins: (0.9,1]: |1-0.95|, (0.8,0.9]: |0-0.85|, (0.5,0.6]: |1-0.55|, (0.4,0.5]: |1-0.45|
    expected = (0.05 + 0.85 + 0.45 + 0.55) / 4
    assert expected_calibration_error(probs, labels, n_bins=10) == pytest.approx(expected, abs=1e-6)
    # one bin: |mean acc - mean conf| = |0.75 - 0.7|
    assert expected_calibration_error(probs, labels, n_bins=1) == pytest.approx(0.05, abs=1e-6)


def test_ece_perfectly_calibrated_and_confident_wrong():
    probs = torch.tensor([[1.0, 0.0], [1.0, 0.0]])
    assert expected_calibration_error(probs, torch.tensor([0, 0])) == 0.0
    assert expected_calibration_error(probs, torch.tensor([1, 1])) == pytest.approx(1.0)


@pytest.mark.parametrize("n_bins", [1, 5, 10, 15])
def test_ece_matches_independent_implementation(n_bins):
    gen = torch.Generator().manual_seed(n_bins)
    logits = torch.randn(500, 7, generator=gen) * 3
    probs = logits.softmax(-1)
    labels = torch.randint(0, 7, (500,), generator=gen)
    got = expected_calibration_error(probs, labels, n_bins=n_bins)
    assert got == pytest.approx(reference_ece(probs, labels, n_bins), abs=1e-6)
    assert 0.0 <= got <= 1.0


def test_reliability_bins_partition_the_samples():
    probs = torch.tensor([[0.05, 0.95], [0.7, 0.3], [0.62, 0.38]])
    bins = reliability_bins(probs, torch.tensor([1, 1, 0]), n_bins=10)
    assert bins.counts.tolist() == [0, 0, 0, 0, 0, 0, 2, 0, 0, 1]
    assert bins.accuracy[6].item() == pytest.approx(0.5)
    assert bins.confidence[6].item() == pytest.approx(0.66)
    assert bins.edges[0] == 0 and bins.edges[-1] == 1


def test_accuracy_and_harmonic_mean():
    logits = torch.tensor([[2.0, 1.0], [0.0, 3.0], [5.0, -1.0]])
    assert accuracy(logits, torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    assert accuracy(logits.softmax(-1), torch.tensor([0, 1, 1])) == pytest.approx(2 / 3)
    assert harmonic_mean(80.0, 60.0) == pytest.approx(2 * 80 * 60 / 140)
    assert harmonic_mean(0.0, 0.0) == 0.0
    assert math.isclose(harmonic_mean(50.0, 50.0), 50.0)
    with pytest.raises(ValueError, match="must be >= 0"):
        harmonic_mean(-1.0, 3.0)
