import math

import pytest
import torch

from workers.losses import (
    coa_loss,
    dor_loss,
    entropy,
    entropy_hinge,
    kg_loss,
    prompt_objective,
)


def test_coa_loss_hand_computed():
    logits = torch.tensor([[0.0, math.log(3.0)], [math.log(4.0), 0.0]])  # p = [.25,.75], [.8,.2]
    labels = torch.tensor([1, 1])
    assert coa_loss(logits, labels).item() == pytest.approx(((1 - 0.75) + (1 - 0.2)) / 2)


def test_coa_gradient_on_true_logit_is_minus_py_one_minus_py_and_peaks_at_half():
    tau = 0.01
    grads, p_true = [], []
    for margin in torch.linspace(-0.05, 0.05, 41):
        sims = torch.tensor([[margin.item(), 0.0]], requires_grad=True)  # cosine similarities
        coa_loss(sims / tau, torch.tensor([0])).backward()
        p = torch.softmax(sims.detach() / tau, -1)[0, 0].item()
        assert sims.grad[0, 0].item() == pytest.approx(-p * (1 - p) / tau, rel=1e-4)
        grads.append(abs(sims.grad[0, 0].item()))
        p_true.append(p)
    assert abs(p_true[grads.index(max(grads))] - 0.5) < 0.05


def test_dor_loss_hand_computed_and_equals_half_squared_distance():
    a = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    b = torch.tensor([[1.0, 1.0], [0.0, 5.0]])  # cosines: 1/sqrt(2), 1
    expected = 1 - (1 / math.sqrt(2) + 1) / 2
    assert dor_loss(a, b).item() == pytest.approx(expected)
    an, bn = torch.nn.functional.normalize(a, dim=-1), torch.nn.functional.normalize(b, dim=-1)
    assert dor_loss(a, b).item() == pytest.approx(((an - bn) ** 2).sum(-1).mean().item() / 2)
    assert kg_loss(a, b).item() == pytest.approx(expected)
    assert dor_loss(b, b).item() == pytest.approx(0.0, abs=1e-6)


def test_entropy_and_hinge_hand_computed():
    uniform = torch.zeros(1, 4)
    assert entropy(uniform).item() == pytest.approx(math.log(4))
    peaked = torch.tensor([[math.log(3.0), 0.0]])  # p = [.75, .25]
    h_peaked = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert entropy(peaked).item() == pytest.approx(h_peaked)
    # H(t0) = log 2 (uniform over 2), H(t1 scaled by pi=1) = h_peaked, margin 0.1
    got = entropy_hinge(torch.zeros(1, 2), peaked, torch.tensor(1.0), margin=0.1)
    assert got.item() == pytest.approx(math.log(2) - h_peaked + 0.1)
    # scaling the specialized logits by pi -> 0 makes it uniform: the hinge only keeps the margin
    flat = entropy_hinge(torch.zeros(1, 2), peaked, torch.tensor(0.0), margin=0.1)
    assert flat.item() == pytest.approx(0.1)
    assert entropy_hinge(peaked, torch.zeros(1, 2), torch.tensor(1.0), margin=0.0).item() == 0.0


def test_prompt_objective_adds_weighted_terms():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.2, 0.1]])
    labels = torch.tensor([0, 2])
    ce = torch.nn.functional.cross_entropy(logits, labels).item()
    coa = coa_loss(logits, labels).item()
    total, parts = prompt_objective(
        logits, labels, w=2.0, dor=torch.tensor(0.3), lam=8.0, kg=torch.tensor(0.1), lam_kg=1.0
    )
    assert total.item() == pytest.approx(ce + 2 * coa + 8 * 0.3 + 0.1)
    assert parts["loss_ce"] == pytest.approx(ce) and parts["loss_dor"] == pytest.approx(0.3)
    plain, plain_parts = prompt_objective(logits, labels)
    assert plain.item() == pytest.approx(ce) and set(plain_parts) == {"loss_ce", "loss"}
