import json

import numpy as np
import pytest

from workers.datasets import read_split
from workers.splits import class_names as names_by_label
from workers.splits import subsample_classes
from workers.toyworld import dataset as toy
from workers.toyworld.render import (
    BENCHMARK_COLOURS,
    BENCHMARK_SHAPES,
    EXTRA_COLOURS,
    EXTRA_SHAPES,
    render,
    sample_scene,
)


def test_base_and_new_each_cover_every_colour_and_shape():
    names = toy.class_names()
    assert len(names) == len(set(names)) == 64
    for half in (names[:32], names[32:]):
        assert {n.split()[0] for n in half} == set(BENCHMARK_COLOURS)
        assert {n.split()[1] for n in half} == set(BENCHMARK_SHAPES)


def test_extra_words_are_not_benchmark_classes():
    words = {w for n in toy.class_names() for w in n.split()}
    assert not words & (set(EXTRA_COLOURS) | set(EXTRA_SHAPES))


@pytest.mark.parametrize("style", ["clean", "benchmark"])
def test_render_is_deterministic_and_sized(style):
    def draw(seed):
        rng = np.random.default_rng(seed)
        return np.asarray(render(sample_scene(rng, "red", "star"), rng, style=style))

    a, b, c = draw(1), draw(1), draw(2)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_styles_differ():
    rng = np.random.default_rng(0)
    scene = sample_scene(rng, "blue", "heart")
    clean = np.asarray(render(scene, np.random.default_rng(1), style="clean"), dtype=float)
    bench = np.asarray(render(scene, np.random.default_rng(1), style="benchmark"), dtype=float)
    assert np.abs(clean - bench).mean() > 20  # a real style shift, not noise


def test_written_dataset_goes_through_the_coop_loader(tmp_path, monkeypatch):
    monkeypatch.setattr(toy, "SPLIT_SIZES", {"train": 2, "val": 1, "test": 1})
    folder = toy.ensure_toyworld(tmp_path, seed=0)
    raw = json.loads((folder / toy.SPLIT_FILE).read_text())
    assert set(raw) == {"train", "val", "test"}
    rel, label, name = raw["train"][0]
    assert (folder / toy.IMAGE_DIR / rel).is_file() and label == 0 and name == toy.class_names()[0]

    split = read_split(tmp_path, "toyworld")
    assert len(split["train"]) == 128 and len(split["test"]) == 64
    assert names_by_label(split["test"]) == toy.class_names()
    new = subsample_classes(split["test"], "new")
    assert names_by_label(new) == toy.class_names()[32:]
    assert sorted({d.label for d in new}) == list(range(32))

    stamp = (folder / ".complete.json").stat().st_mtime_ns
    assert toy.ensure_toyworld(tmp_path, seed=0) == folder  # cached: not regenerated
    assert (folder / ".complete.json").stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".toyworld-")]
