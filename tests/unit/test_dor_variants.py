"""DOR's variants by hand: composed loss terms, visual DOR, textual divergence, the adapter,
the tokenizer vocabulary and the outlier-image pool."""

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from workers.adapter import Adapter
from workers.config import TrialConfig
from workers.errors import ConfigError, DataError
from workers.image_outliers import image_outlier_items
from workers.losses import divergence, prompt_objective, visual_dor_loss
from workers.vocab import build_pool

TERMS = {"w": "loss_coa", "lam": "loss_dor", "lam_kg": "loss_kg", "lam_visual": "loss_dor_visual"}


@pytest.mark.parametrize("on", list(itertools.product([0.0, 2.0], repeat=4)))
def test_each_loss_term_is_present_exactly_when_its_weight_is_non_zero(on):
    weights = dict(zip(TERMS, on, strict=True))
    logits, labels = torch.tensor([[2.0, 0.0], [0.0, 1.0]]), torch.tensor([0, 0])
    dor, kg, visual = torch.tensor(0.25), torch.tensor(0.5), torch.tensor(0.125)
    total, parts = prompt_objective(logits, labels, dor=dor, kg=kg, visual_dor=visual, **weights)
    expected = {"loss_ce", "loss"} | {TERMS[k] for k, v in weights.items() if v}
    assert set(parts) == expected
    ce = F.cross_entropy(logits, labels).item()
    p_true = logits.softmax(-1)[torch.arange(2), labels]
    by_hand = ce + weights["w"] * (1 - p_true).mean().item()
    by_hand += weights["lam"] * 0.25 + weights["lam_kg"] * 0.5 + weights["lam_visual"] * 0.125
    assert total.item() == pytest.approx(by_hand)


def test_visual_dor_by_hand():
    adapted = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
    frozen = torch.tensor([[1.0, 1.0], [0.0, 1.0]])  # cosines 1/sqrt(2) and 1
    expected = 1 - (1 / math.sqrt(2) + 1) / 2
    assert visual_dor_loss(adapted, frozen).item() == pytest.approx(expected)


def test_divergence_by_hand():
    tuned = torch.tensor([[3.0, 4.0], [1.0, 0.0], [0.0, 1.0]])
    zero_shot = torch.tensor([[3.0, 4.0], [0.0, 1.0], [-1.0, 0.0]])  # cos 1, 0, 0
    assert divergence(tuned, zero_shot) == pytest.approx(1 - 1 / 3)


def test_adapter_is_the_residual_bottleneck_by_hand():
    torch.manual_seed(0)
    adapter = Adapter(8, ratio=0.2)
    x = F.normalize(torch.randn(3, 8), dim=-1)
    w1, w2 = adapter.net[0].weight, adapter.net[2].weight  # (2, 8), (8, 2)
    hidden = (x @ w1.T).clamp(min=0)
    by_hand = 0.2 * (hidden @ w2.T).clamp(min=0) + 0.8 * x
    by_hand = by_hand / by_hand.norm(dim=-1, keepdim=True)
    torch.testing.assert_close(adapter(x), by_hand)
    assert w1.shape == (2, 8)  # a quarter of the width


def test_clip_vocabulary_is_whole_words_without_base_names():
    pool = build_pool(
        "clip_vocab",
        base_names=["red circle", "church"],
        new_names=["hotel"],
        encode=lambda words: torch.zeros(len(words), 4),
        near_ood_k=10,
        pool_size=10,
    )
    words = set(pool.words)
    assert len(words) > 20_000 and all(w.isalpha() and len(w) >= 3 for w in words)
    assert {"church", "circle", "red", "red circle"}.isdisjoint(words)  # base names and words
    assert "hotel" in words and pool.new_class_overlap == 1  # new names: a diagnostic only


def _images(folder, names):
    for name in names:
        (folder / name).mkdir(parents=True)
        Image.new("RGB", (4, 4)).save(folder / name / "0.png")


def test_outlier_images_come_from_outside_the_base_classes(tmp_path):
    _images(tmp_path / "pool", ["zebra", "boat"])
    items = image_outlier_items(
        str(tmp_path / "pool"), root=tmp_path, dataset="toyworld", base_names=["red circle"]
    )
    assert sorted(d.classname for d in items) == ["boat", "zebra"]
    with pytest.raises(DataError, match="holds base classes of toyworld .zebra."):
        image_outlier_items(
            str(tmp_path / "pool"), root=tmp_path, dataset="toyworld", base_names=["Zebra"]
        )
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no image"):
        image_outlier_items(str(tmp_path / "empty"), root=tmp_path, dataset="d", base_names=[])
    with pytest.raises(DataError, match="is the trained dataset"):
        image_outlier_items("toyworld", root=tmp_path, dataset="toyworld", base_names=[])


@pytest.mark.parametrize(
    ("overrides", "needle"),
    [
        ({"method.lam_visual": 2.0}, "method.lam_visual: visual DOR"),
        ({"method.adapter": True, "method.lam_visual": 2.0}, "method.image_outliers"),
        ({"method.adapter_ratio": 0.0}, "method.adapter_ratio"),
        ({"method.adapter_ratio": 1.5}, "method.adapter_ratio"),
        ({"prompt.frozen": True}, "prompt.frozen"),
        ({"method.outlier_vocab": "conceptnet"}, "method.outlier_vocab"),
    ],
)
def test_bad_dor_settings_name_their_key(overrides, needle):
    with pytest.raises(ConfigError, match=needle):
        TrialConfig().with_overrides(overrides)
