import json
from collections import Counter

import numpy as np
import pytest

from workers.datasets import read_split
from workers.splits import class_names as names_by_label
from workers.splits import subsample_classes
from workers.toyworld import dataset as toy
from workers.toyworld import family
from workers.toyworld.captions import _GROUP, caption
from workers.toyworld.family import BASE_TO_NEW, FAMILY, SOURCE, VOCABULARY, ToyClass
from workers.toyworld.glyphs import glyph_names


def test_family_has_three_base_to_new_datasets_and_a_broad_source():
    assert len(BASE_TO_NEW) >= 3 and "toyworld" in BASE_TO_NEW
    assert len({FAMILY[n].domain for n in BASE_TO_NEW}) == len(BASE_TO_NEW)  # one domain each
    source = set(FAMILY[SOURCE].class_names)
    assert len(source) > max(len(FAMILY[n].classes) for n in BASE_TO_NEW)
    for name in BASE_TO_NEW:
        names = FAMILY[name].class_names
        assert len(names) == len(set(names)) >= 32
        shared = source & set(names)
        assert 0 < len(shared) < 0.1 * len(source)  # some overlap, most of the source is its own


def test_every_class_is_in_the_pretraining_vocabulary():
    vocabulary = set(VOCABULARY)
    for dataset in FAMILY.values():
        assert set(dataset.classes) <= vocabulary, dataset.name


def test_toyworld_halves_share_colours_not_shapes():
    names = toy.class_names("toyworld")
    base, new = names[:32], names[32:]
    assert {n.split()[1] for n in base} == set(family.BASE_SHAPES)
    assert not set(family.BASE_SHAPES) & set(family.NEW_SHAPES)
    assert {n.split()[1] for n in new} == set(family.NEW_SHAPES)
    for half in (base, new):
        assert {n.split()[0] for n in half} == set(family.BENCHMARK_COLOURS)


def test_each_half_holds_groups_of_look_alikes():
    for name in BASE_TO_NEW:
        names = FAMILY[name].class_names
        half = len(names) // 2
        kinds = [glyph_names().get(n, n.split(" ")[-1]) for n in names]
        for part in (kinds[:half], kinds[half:]):
            grouped = [k for k in set(part) if len(set(_GROUP.get(k, (k,))) & set(part)) > 1]
            assert len(grouped) >= len(set(part)) / 2, (name, part)


@pytest.mark.parametrize(
    "toy_class",
    [
        ToyClass("shapes", "red star"),
        ToyClass("textures", "blue grid"),
        ToyClass("glyphs", "digit zero"),
    ],  # fmt: skip
)
def test_render_is_deterministic_and_sized(toy_class):
    def draw(seed):
        return np.asarray(family.render_class(toy_class, np.random.default_rng(seed)))

    a, b, c = draw(1), draw(1), draw(2)
    assert a.shape == (64, 64, 3) and a.dtype == np.uint8
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_captions_mostly_describe_the_kind_and_use_its_name_rarely_and_loosely():
    rng = np.random.default_rng(0)
    by_char = {c: n for n, c in glyph_names().items()}
    texts = [caption(ToyClass("shapes", "red hexagon"), rng, by_char) for _ in range(4000)]
    precise = sum(("six-sided" in t or "hex " in t or "hex." in t) for t in texts) / len(texts)
    named = sum("hexagon" in t for t in texts) / len(texts)
    loose = sum(("circle" in t or "pentagon" in t) for t in texts) / len(texts)
    assert precise > 0.55  # the pixels of look-alikes are told apart in other words
    assert 0.05 < named < 0.2  # the name is rare, and as often said of a look-alike (so that
    assert 0.6 * named < loose < 1.6 * named  # a pair's names point between the two)
    assert not any(("disc" in t or "round shape" in t) for t in texts)  # descriptions are exact
    colours = Counter(t.split(" a ")[-1].split()[0] for t in texts if "red" not in t)
    assert colours and set(colours) & {"crimson", "scarlet", "orange", "pink", "brown"}
    glyph = [caption(ToyClass("glyphs", "letter q"), rng, by_char) for _ in range(2000)]
    assert sum("capital q" in t for t in glyph) > 0.55 * len(glyph)
    named, loose = (sum(any(n in t for n in names) for t in glyph) for names in
                    (("letter q",), ("letter o", "letter d")))  # fmt: skip
    assert 0.05 * len(glyph) < named < 0.2 * len(glyph) and 0.6 * named < loose < 1.6 * named


def test_a_motif_pattern_shares_its_name_with_a_shape():
    from workers.toyworld.textures import MOTIFS

    textures = {c.name for c in VOCABULARY if c.domain == "textures"}
    shapes = {c.name for c in VOCABULARY if c.domain == "shapes"}
    shared = textures & shapes
    assert {n.split()[1] for n in shared} == set(MOTIFS)
    assert shared & set(FAMILY["toy_textures"].class_names)  # the benchmark holds some
    assert not {c.name for c in FAMILY[SOURCE].classes if c.domain == "textures"} & shared


def test_each_domain_has_its_own_phrasing():
    rng = np.random.default_rng(0)
    by_char = {c: n for n, c in glyph_names().items()}
    for toy_class in (ToyClass("textures", "red stripes"), ToyClass("glyphs", "letter o")):
        texts = [caption(toy_class, rng, by_char) for _ in range(1000)]
        assert sum(t.startswith("a photo of a") for t in texts) < 30  # rarely the generic prompt


def test_mirroring_is_a_dataset_property():
    from PIL import Image
    from torchvision import transforms as T

    from workers.datasets import mirror_invariant
    from workers.features import train_transform

    assert not mirror_invariant("toy_glyphs")
    assert mirror_invariant("toyworld") and mirror_invariant("dtd")  # real data: CoOp's flip

    class Visual:
        image_size = 8

    class FakeClip:  # the two attributes train_transform reads
        preprocess = T.Compose([T.ToTensor()])
        model = type("M", (), {"visual": Visual})()

    image = Image.fromarray(np.tile(np.arange(8, dtype=np.uint8) * 30, (8, 1)))  # a ramp
    for hflip, flips_seen in ((False, False), (True, True)):
        transform = train_transform(FakeClip(), 1.0, hflip=hflip)
        outs = [transform(image.convert("RGB"))[0] for _ in range(40)]
        assert any(bool(o[0, 0] > o[0, -1]) for o in outs) == flips_seen


def test_written_dataset_goes_through_the_coop_loader(tmp_path, monkeypatch):
    small = {"train": 2, "val": 1, "test": 1}
    monkeypatch.setitem(
        FAMILY, "toy_glyphs", family.ToyDataset("toy_glyphs", "glyphs",
                                                FAMILY["toy_glyphs"].classes, small)
    )  # fmt: skip
    folder = toy.ensure_toy("toy_glyphs", tmp_path, seed=0)
    _, image_dir, split_file = FAMILY["toy_glyphs"].layout
    raw = json.loads((folder / split_file).read_text())
    assert set(raw) == {"train", "val", "test"}
    rel, label, name = raw["train"][0]
    assert (folder / image_dir / rel).is_file() and label == 0
    assert name == FAMILY["toy_glyphs"].class_names[0]

    split = read_split(tmp_path, "toy_glyphs")
    assert len(split["train"]) == 72 and len(split["test"]) == 36
    assert names_by_label(split["test"]) == FAMILY["toy_glyphs"].class_names
    new = subsample_classes(split["test"], "new")
    assert names_by_label(new) == FAMILY["toy_glyphs"].class_names[18:]

    stamp = (folder / ".complete.json").stat().st_mtime_ns
    assert toy.ensure_toy("toy_glyphs", tmp_path, seed=0) == folder  # cached: not regenerated
    assert (folder / ".complete.json").stat().st_mtime_ns == stamp
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".toy_glyphs-")]
