"""The CUDA path: the same text path and zero-shot numbers on a GPU (skipped on CPU)."""

import pytest
import torch

from workers.model import create_clip
from workers.prompts import create_prompt_learner, encode_prompts, freeze_prompts


@pytest.mark.gpu
def test_prompt_path_on_cuda_matches_cpu():
    names = ["red circle", "blue star"]
    feats = {}
    for device in ("cpu", "cuda"):
        clip = create_clip("toyclip", pretrained="toyworld", device=device)
        learner = create_prompt_learner(clip, n_ctx=4, ctx_init="a photo of a")
        feats[device] = encode_prompts(clip, learner, freeze_prompts(clip, names, 4)).cpu()
        assert learner.ctx.device.type == device
    torch.testing.assert_close(feats["cuda"], feats["cpu"], atol=1e-4, rtol=0)


@pytest.mark.gpu
@pytest.mark.parametrize("name", ["toyclip", "ViT-B-16"])
def test_shared_prefix_and_buckets_match_on_cuda(name):
    from workers.model import autocast

    clip = create_clip(name, pretrained="toyworld" if name == "toyclip" else None, device="cuda")
    names = ["red circle", "blue star", "cat", "qwzxkvbnmrplorftygh", "sea", "aircraft carrier"]
    frozen = freeze_prompts(clip, names, 4)
    got = {}
    for shared in (False, True):
        torch.manual_seed(0)
        learner = create_prompt_learner(clip, n_ctx=4, ctx_init=None, shared_prefix=shared)
        assert learner.shared_prefix == shared and learner.ctx.device.type == "cuda"
        buckets = 3 if shared else 1
        feats = encode_prompts(clip, learner, frozen, max_buckets=buckets)  # fp32
        (grad,) = torch.autograd.grad(feats[:, 0].sum(), learner.ctx)
        with autocast(clip.device):  # the trial's bf16 path
            mixed = encode_prompts(clip, learner, frozen, max_buckets=buckets)
            (mixed_grad,) = torch.autograd.grad(mixed[:, 0].sum(), learner.ctx)
        for t in (feats, mixed):
            assert t.device.type == "cuda" and t.dtype == torch.float32
        assert mixed_grad.dtype == learner.ctx.dtype == torch.float32
        got[shared] = (feats.detach(), grad, mixed.detach(), mixed_grad)
    (f0, g0, m0, _), (f1, g1, m1, mg1) = got[False], got[True]
    torch.testing.assert_close(f1, f0, atol=1e-4, rtol=0)
    torch.testing.assert_close(g1, g0, atol=1e-4 * g0.abs().max().item(), rtol=0)
    torch.testing.assert_close(m1, m0, atol=3e-2, rtol=0)  # bf16 rounding on both sides
    torch.testing.assert_close(m1, f0, atol=3e-2, rtol=0)
    assert torch.isfinite(mg1).all()
