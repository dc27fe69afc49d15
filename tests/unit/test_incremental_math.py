"""The K-prompt mixture of class-incremental CoCoA-Mix, by hand, and its K = 1 reduction."""

import pytest
import torch

from workers.config import TrialConfig
from workers.errors import ConfigError
from workers.mixture import (
    IN,
    OUT,
    SPECIALIZED,
    CoAWeights,
    k_mixture_logits,
    k_prompt_weights,
    mixture_logits,
)
from workers.protocol import Cell, Protocol, SessionPlan


def test_one_specialized_prompt_is_exactly_the_two_prompt_mixture():
    torch.manual_seed(0)
    weights = CoAWeights(0.3)
    with torch.no_grad():
        weights.logits.copy_(torch.randn(2, 2))
    owner = torch.zeros(5, dtype=torch.long)  # the one prompt owns classes 0-2 ...
    is_in = torch.tensor([True, True, True, False, False])  # ... and 3-4 are out-classes
    owner[~is_in] = -1
    logits = weights.logits.detach()
    shares = logits[:, SPECIALIZED] - logits[:, 1 - SPECIALIZED]  # (2 groups,)
    pi = k_prompt_weights(shares[IN : IN + 1], shares[OUT : OUT + 1], owner)  # (5, 2)
    torch.testing.assert_close(pi, weights.per_class(is_in).detach())
    s0, s1 = torch.randn(4, 5), torch.randn(4, 5)
    torch.testing.assert_close(
        k_mixture_logits(s0, s1[None], pi), mixture_logits(s0, s1, weights.per_class(is_in))
    )


def test_k_prompt_weights_and_logits_by_hand():
    # two prompts; class 0 learned by prompt 0, class 1 by prompt 1
    in_logits, out_logits = torch.tensor([1.0, 2.0]), torch.tensor([-1.0, 0.0])
    pi = k_prompt_weights(in_logits, out_logits, torch.tensor([0, 1]))
    e = torch.exp
    row0 = torch.stack([e(torch.tensor(0.0)), e(torch.tensor(1.0)), e(torch.tensor(0.0))])
    row1 = torch.stack([e(torch.tensor(0.0)), e(torch.tensor(-1.0)), e(torch.tensor(2.0))])
    torch.testing.assert_close(pi, torch.stack([row0 / row0.sum(), row1 / row1.sum()]))
    assert torch.allclose(pi.sum(-1), torch.ones(2))
    s0 = torch.tensor([[1.0, 2.0]])
    s = torch.tensor([[[3.0, 4.0]], [[5.0, 6.0]]])  # (K=2, N=1, C=2)
    z = k_mixture_logits(s0, s, pi)
    by_hand = [pi[c, 0] * s0[0, c] + pi[c, 1] * s[0, 0, c] + pi[c, 2] * s[1, 0, c] for c in (0, 1)]
    torch.testing.assert_close(z[0], torch.stack(by_hand))


def test_session_plan_follows_the_sorted_labels():
    plan = SessionPlan(base_classes=4, sessions=2, ways=3, shots=5)
    assert plan.classes([9, 8, 7, 6, 5, 4, 3, 2, 1, 0]) == [[0, 1, 2, 3], [4, 5, 6], [7, 8, 9]]
    with pytest.raises(ConfigError, match="= 11 classes, but the dataset has 10"):
        SessionPlan(5, 2, 3, 5).classes(list(range(10)))


def test_incremental_protocol_cells_carry_the_plan():
    raw = {"kind": "incremental", "base_classes": 4, "sessions": 2, "ways": 3, "shots": 5}
    protocol = Protocol.from_dict({**raw, "seeds": [1, 2]})
    plan = SessionPlan(4, 2, 3, 5)
    assert protocol.cells(TrialConfig()) == [
        Cell("toyworld", 1, sessions=plan),
        Cell("toyworld", 2, sessions=plan),
    ]
    assert Protocol.from_dict(protocol.to_dict()) == protocol
    assert protocol.metrics == ("acc_avg", "acc_last", "pd", "ece_last")


@pytest.mark.parametrize(
    ("raw", "needle"),
    [
        ({"kind": "incremental", "base_classes": 4, "sessions": 2, "ways": 3}, "protocol.shots"),
        (
            {"kind": "incremental", "base_classes": 0, "sessions": 2, "ways": 3, "shots": 1},
            "protocol.base_classes",
        ),
        ({"sessions": 2}, "only an incremental protocol"),
    ],
)
def test_bad_incremental_protocols_name_their_key(raw, needle):
    with pytest.raises(ConfigError, match=needle):
        Protocol.from_dict(raw)


def test_incremental_specs_default_to_average_accuracy_and_last_ece(tmp_path):
    from orchestrator.spec.load import load_spec
    from tests.unit.test_spec import write

    def incremental(raw):
        raw["protocol"] = {"kind": "incremental", "base_classes": 4, "sessions": 1, "ways": 2,
                           "shots": 2}  # fmt: skip
        del raw["objectives"], raw["selection"]

    spec = load_spec(write(tmp_path, incremental))
    assert [(o.metric, o.mode) for o in spec.sweep.objectives] == [
        ("acc_avg", "max"),
        ("ece_last", "min"),
    ]
    assert spec.sweep.selection.metric == "acc_avg"
    assert spec.sweep.selection.bound_metric == "ece_last"
    assert spec.sweep.search.asha.metric == "acc_avg"
