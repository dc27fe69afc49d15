"""The toy CLIP's pretraining script is deterministic (shortened here to a few steps)."""

import math

import torch

from workers.toyworld.pretrain import pretrain


def test_pretraining_is_deterministic():
    first, meta = pretrain(steps=3, per_combo=1, batch=32, lr=1e-3, seed=5)
    second, _ = pretrain(steps=3, per_combo=1, batch=32, lr=1e-3, seed=5)
    assert first.keys() == second.keys()
    for key in first:
        assert torch.equal(first[key], second[key]), key
    other, _ = pretrain(steps=3, per_combo=1, batch=32, lr=1e-3, seed=6)
    assert not torch.equal(first["text_projection"], other["text_projection"])
    assert all(v.dtype in (torch.float16, torch.int64) for v in first.values())
    assert meta["steps"] == 3 and meta["seed"] == 5 and meta["batch"] == 32


def test_pretraining_learns_to_match_images_and_captions():
    _, meta = pretrain(steps=80, per_combo=1, batch=32, lr=2e-3, seed=5)
    # a batch of 32 pairs: matching at chance costs ln(32) = 3.47; learning goes well below it
    assert meta["first_loss"] > math.log(32)
    assert meta["final_loss"] < math.log(32) - 0.3 and meta["final_loss"] < meta["first_loss"] - 0.8
