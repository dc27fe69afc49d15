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
