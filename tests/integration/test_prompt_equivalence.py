"""The CoOp text path must equal open_clip's own encode_text for a written prompt."""

import pytest
import torch

from workers.model import create_clip, encode_token_embeddings, end_of_text_index
from workers.prompts import create_prompt_learner, encode_prompts, freeze_prompts

NAMES = ["red circle", "blue hexagon", "golden retriever", "aircraft carrier", "x"]
CTX = "a photo of a"


def written(position: str, name: str) -> str:
    if position == "end":
        return f"{CTX} {name}."
    if position == "front":
        return f"{name} {CTX}."
    return f"a photo {name} of a."  # middle: half of the 4 context tokens on each side


@pytest.fixture(scope="module", params=["toyclip", "ViT-B-16"])
def clip(request):
    torch.manual_seed(0)
    pretrained = "toyworld" if request.param == "toyclip" else None
    return create_clip(request.param, pretrained=pretrained)


@pytest.mark.parametrize("position", ["end", "middle", "front"])
@pytest.mark.parametrize("class_specific", [False, True])
def test_learner_equals_encode_text(clip, position, class_specific):
    learner = create_prompt_learner(
        clip,
        n_ctx=4,
        ctx_init=CTX,
        class_position=position,
        n_classes_specific=len(NAMES) if class_specific else 0,
    )
    got = encode_prompts(clip, learner, freeze_prompts(clip, NAMES, n_ctx=4))
    with torch.no_grad():
        ids = clip.tokenize([written(position, n) for n in NAMES])
        expected = clip.model.encode_text(ids, normalize=True)
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_written_prompts_match_full_context_encoder(clip):
    texts = ["a photo of a red circle.", "a much longer sentence about a small blue hexagon."]
    with torch.no_grad():
        expected = clip.model.encode_text(clip.tokenize(texts), normalize=True)
    torch.testing.assert_close(clip.encode_texts(texts), expected, atol=1e-5, rtol=0)


def test_truncation_keeps_features_of_the_full_sequence(clip):
    ids = clip.tokenize(["a red circle.", "a photo of a very small blue hexagon on the left."])
    with torch.no_grad():
        emb = clip.text.token_embedding(ids)  # (2, context_length, D)
        eot = end_of_text_index(clip.text, ids)
        cut = encode_token_embeddings(clip.text, emb, eot)
        full = clip.model.encode_text(ids)
    assert int(eot.max()) + 1 < ids.shape[1]  # the cut really dropped padding
    torch.testing.assert_close(cut, full, atol=1e-5, rtol=0)


def test_random_context_changes_features_and_gets_gradients(clip):
    learner = create_prompt_learner(clip, n_ctx=4, ctx_init=None)
    frozen = freeze_prompts(clip, NAMES[:2], n_ctx=4)
    feats = encode_prompts(clip, learner, frozen)
    feats.sum().backward()
    assert learner.ctx.grad is not None and learner.ctx.grad.abs().sum() > 0
    assert all(p.grad is None for p in clip.model.parameters())


def test_ctx_init_must_match_n_ctx(clip):
    with pytest.raises(ValueError, match="has 4 tokens but n_ctx=6"):
        create_prompt_learner(clip, n_ctx=6, ctx_init=CTX)
