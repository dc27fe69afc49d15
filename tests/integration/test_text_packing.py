"""The packed text path (shared prefix, length buckets) must equal the ordinary one."""

import dataclasses
import logging

import pytest
import torch

from workers import text_packing
from workers.prompts import (
    WordPrompts,
    create_prompt_learner,
    encode_prompts,
    freeze_prompts,
)
from workers.text_packing import length_buckets
from workers.vocab import random_strings

CLASSES = ["red circle", "blue hexagon", "golden retriever", "aircraft carrier", "x"]
# outliers of very different token lengths: short words and random strings
OUTLIERS = ["cat", *random_strings(40, seed=3)[:6], "dog", "sea", "qwzxkvbnmrplorftygh"]


@pytest.fixture(scope="module", params=["toyclip", "ViT-B-16"])
def clip(request):
    from workers.model import create_clip

    pretrained = "toyworld" if request.param == "toyclip" else None
    return create_clip(request.param, pretrained=pretrained)


def features_and_grad(clip, *, names, shared_prefix, max_buckets=1, position="end"):
    """Features and d(weighted sum)/d ctx from a random context (the same for every call)."""
    torch.manual_seed(0)
    learner = create_prompt_learner(
        clip, n_ctx=4, ctx_init=None, class_position=position, shared_prefix=shared_prefix
    )
    feats = encode_prompts(clip, learner, freeze_prompts(clip, names, 4), max_buckets=max_buckets)
    weights = torch.linspace(-1, 1, feats.numel()).view_as(feats)  # every entry counts
    (grad,) = torch.autograd.grad((feats * weights).sum(), learner.ctx)
    return feats.detach(), grad, learner


def assert_same(got, expected):
    feats, grad = got[0], got[1]
    torch.testing.assert_close(feats, expected[0], atol=1e-5, rtol=0)
    scale = expected[1].abs().max().item()
    torch.testing.assert_close(grad, expected[1], atol=1e-5 * scale, rtol=0)


@pytest.mark.parametrize("position", ["end", "middle"])
@pytest.mark.parametrize("names", [CLASSES, OUTLIERS], ids=["classes", "outliers"])
def test_shared_prefix_equals_the_ordinary_path(clip, position, names):
    ordinary = features_and_grad(clip, names=names, shared_prefix=False, position=position)
    shared = features_and_grad(clip, names=names, shared_prefix=True, position=position)
    assert shared[2].shared_prefix and not ordinary[2].shared_prefix
    assert shared[2].shared_length == (5 if position == "end" else 3)
    assert_same(shared, ordinary)


@pytest.mark.parametrize("shared_prefix", [False, True])
def test_length_buckets_equal_one_batch(clip, shared_prefix):
    frozen = freeze_prompts(clip, OUTLIERS, 4)
    lengths = frozen.eot_index + 1 - (5 if shared_prefix else 0)
    assert len(length_buckets(lengths, max_buckets=3)) > 1  # the words really get split
    one = features_and_grad(clip, names=OUTLIERS, shared_prefix=shared_prefix)
    bucketed = features_and_grad(clip, names=OUTLIERS, shared_prefix=shared_prefix, max_buckets=3)
    assert_same(bucketed, one)


def test_length_buckets_keep_the_order_of_the_words(clip):
    feats, _, _ = features_and_grad(clip, names=OUTLIERS, shared_prefix=True, max_buckets=3)
    for i, word in enumerate(OUTLIERS):  # each word alone: nothing to reorder
        alone, _, _ = features_and_grad(clip, names=[word], shared_prefix=False)
        torch.testing.assert_close(feats[i : i + 1], alone, atol=1e-5, rtol=0)


def test_the_template_context_still_equals_encode_text(clip):
    learner = create_prompt_learner(clip, n_ctx=4, ctx_init="a photo of a", shared_prefix=True)
    got = encode_prompts(clip, learner, freeze_prompts(clip, OUTLIERS, 4), max_buckets=3)
    with torch.no_grad():
        expected = clip.model.encode_text(
            clip.tokenize([f"a photo of a {w}." for w in OUTLIERS]), normalize=True
        )
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=0)


def test_word_prompts_equal_freeze_prompts_and_reuse_tokens(clip):
    bank = WordPrompts(clip, OUTLIERS, 4)
    draw = [3, 0, 9, 3]
    got, expected = bank(draw), freeze_prompts(clip, [OUTLIERS[i] for i in draw], 4)
    for field in ("prefix", "suffix", "eot_index"):
        torch.testing.assert_close(getattr(got, field), getattr(expected, field))
    assert got.name_lens == expected.name_lens
    assert sorted(bank._ids) == [0, 3, 9]


def test_sorted_batches_of_written_prompts_keep_their_order(clip):
    texts = ["a photo of a very small blue hexagon on the left.", "a cat.", "a red circle.", "x."]
    with torch.no_grad():
        expected = clip.model.encode_text(clip.tokenize(texts), normalize=True)
    torch.testing.assert_close(clip.encode_texts(texts, batch_size=2), expected, atol=1e-5, rtol=0)


@pytest.mark.parametrize(
    "kwargs", [{"class_position": "front"}, {"n_classes_specific": 3}], ids=["front", "specific"]
)
def test_nothing_shared_but_the_start_token_keeps_the_ordinary_path(clip, kwargs):
    learner = create_prompt_learner(clip, n_ctx=4, shared_prefix=True, **kwargs)
    assert learner.shared_length == 1 and not learner.shared_prefix


def test_an_unsupported_tower_falls_back_with_the_reason(clip, caplog):
    no_mask = dataclasses.replace(clip, text=dataclasses.replace(clip.text, attn_mask=None))
    assert "no causal mask" in text_packing.unsupported(no_mask.text)
    with caplog.at_level(logging.WARNING, logger="workers.prompts"):
        learner = create_prompt_learner(no_mask, n_ctx=4, shared_prefix=True)
    assert not learner.shared_prefix and not learner.packing
    assert "prompt.shared_prefix off" in caplog.text and "no causal mask" in caplog.text
    assert text_packing.unsupported(clip.text) is None


def test_a_custom_block_is_named(clip):
    class Odd(torch.nn.Module):
        resblocks = [torch.nn.Linear(2, 2)]
        batch_first = True

    odd = dataclasses.replace(clip.text, transformer=Odd())
    assert "block 0 (Linear) has no nn.MultiheadAttention" in text_packing.unsupported(odd)
