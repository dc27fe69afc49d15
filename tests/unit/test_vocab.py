import pytest
import torch

from workers.datasets import Datum
from workers.errors import ConfigError, DataError
from workers.splits import few_shot
from workers.vocab import OutlierSampler, build_pool, near_ood, random_strings


def no_encoder(names):
    raise AssertionError("this vocabulary must not encode text")


def test_random_strings_are_word_like_and_seeded():
    words = random_strings(200, seed=1)
    assert words == random_strings(200, seed=1) != random_strings(200, seed=2)
    assert all(w.isalpha() and w.islower() and 3 <= len(w) <= 12 for w in words)


def test_file_vocabulary_drops_base_names_but_never_new_names(tmp_path):
    path = tmp_path / "words.txt"
    path.write_text(
        "Cat\ndog\n\ndog\nred circle\nblue star\n" + "\n".join(f"w{i}" for i in range(10))
    )
    pool = build_pool(
        f"file:{path}",
        base_names=["red circle"],
        new_names=["blue star", "cat"],
        encode=no_encoder,
        near_ood_k=5,
        pool_size=5,
    )
    assert "red circle" not in pool.words and "blue star" in pool.words
    assert pool.words[:2] == ("cat", "dog")
    assert pool.new_class_overlap == 2


def test_missing_and_too_small_vocabularies(tmp_path):
    with pytest.raises(DataError, match="outlier vocabulary file not found"):
        build_pool(
            f"file:{tmp_path}/nope.txt",
            base_names=[],
            new_names=[],
            encode=no_encoder,
            near_ood_k=5,
            pool_size=5,
        )
    small = tmp_path / "small.txt"
    small.write_text("a\nb\n")
    with pytest.raises(ConfigError, match="leaves 2 words"):
        build_pool(
            f"file:{small}",
            base_names=[],
            new_names=[],
            encode=no_encoder,
            near_ood_k=5,
            pool_size=5,
        )


def test_near_ood_ranks_by_mean_similarity_to_base_names():
    table = {"a": [1.0, 0.0], "b": [0.0, 1.0], "x": [0.9, 0.1], "y": [-1.0, 0.0], "z": [0.5, 0.5]}

    def encode(names):
        return torch.nn.functional.normalize(torch.tensor([table[n] for n in names]), dim=-1)

    assert near_ood(["x", "y", "z"], ["a", "b"], 2, encode) == ["z", "x"]


@pytest.mark.parametrize(
    "every, expect_changes", [("step", True), ("epoch", False), ("never", False)]
)
def test_sampler_resampling_frequency(every, expect_changes):
    sampler = OutlierSampler(1000, resample_every=every, seed=0)
    first = sampler.draw(16, new_epoch=True)
    second = sampler.draw(16, new_epoch=False)
    assert (not torch.equal(first, second)) == expect_changes
    third = sampler.draw(16, new_epoch=True)
    assert torch.equal(second, third) == (every == "never")


def test_few_shot_is_seeded_and_refuses_too_many_shots():
    items = [Datum(f"{c}{i}.png", c, f"class{c}") for c in range(3) for i in range(5)]
    picked = few_shot(items, 2, seed=1)
    assert len(picked) == 6 and picked == few_shot(items, 2, seed=1)
    assert picked != few_shot(items, 2, seed=2)
    with pytest.raises(DataError, match="data.shots=6 but class 'class0' has only 5"):
        few_shot(items, 6, seed=1)
