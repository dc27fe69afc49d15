import torch
import torch.nn.functional as F

from workers.mixture import IN, OUT, CoAWeights, mixture_logits


def test_weights_are_convex_and_start_where_asked():
    weights = CoAWeights(specialized_init=0.8)
    pi = weights()
    torch.testing.assert_close(pi.sum(-1), torch.ones(2))
    torch.testing.assert_close(pi[IN], torch.tensor([0.2, 0.8]))
    torch.testing.assert_close(weights.group(OUT), torch.tensor([0.2, 0.8]))


def test_mixture_per_class_groups():
    weights = CoAWeights()
    with torch.no_grad():
        weights.logits[IN] = torch.tensor([0.0, 10.0])  # in-classes: almost all specialized
        weights.logits[OUT] = torch.tensor([10.0, 0.0])  # out-classes: almost all generalized
    s0 = torch.tensor([[1.0, 2.0, 3.0]])
    s1 = torch.tensor([[10.0, 20.0, 30.0]])
    pi = weights.per_class(torch.tensor([True, False, True]))  # (3, 2)
    z = mixture_logits(s0, s1, pi)
    torch.testing.assert_close(z, torch.tensor([[10.0, 2.0, 30.0]]), atol=1e-2, rtol=0)


def test_mixture_cross_entropy_never_exceeds_weighted_mean_of_the_two():
    """Convexity of log-sum-exp: CE(mix) <= pi_0 CE(t0) + pi_1 CE(t1), for any inputs."""
    gen = torch.Generator().manual_seed(0)
    for _ in range(300):
        n, c = torch.randint(1, 20, (2,), generator=gen).tolist()
        c += 1
        scale = 10 ** torch.empty(1).uniform_(-1, 2, generator=gen).item()
        s0 = torch.randn(n, c, generator=gen) * scale
        s1 = torch.randn(n, c, generator=gen) * scale
        labels = torch.randint(0, c, (n,), generator=gen)
        pi1 = torch.rand((), generator=gen)
        pi = torch.stack([1 - pi1, pi1])
        mixed = F.cross_entropy(mixture_logits(s0, s1, pi), labels, reduction="none")
        bound = (1 - pi1) * F.cross_entropy(s0, labels, reduction="none") + pi1 * F.cross_entropy(
            s1, labels, reduction="none"
        )
        assert (mixed <= bound + 1e-4 * (1 + bound.abs())).all()
