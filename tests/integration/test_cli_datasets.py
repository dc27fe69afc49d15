"""`orch datasets` lists the toy family (and real datasets found) with class counts and splits."""

import json

from tests.helpers import run_orch
from workers.toyworld.dataset import ensure_family
from workers.toyworld.family import FAMILY, ToyDataset


def test_lists_the_toy_family_with_counts(tmp_path, monkeypatch):
    ensure = run_orch("datasets", "--root", str(tmp_path), "--json")
    assert ensure.returncode == 0, ensure.stderr
    rows = {row["name"]: row for row in json.loads(ensure.stdout)}
    assert set(FAMILY) <= set(rows)
    assert all(rows[name]["status"].startswith("not generated") for name in FAMILY)

    for name, toy in FAMILY.items():  # one image per class and split: quick to generate
        small = {"train": 2, "val": 1, "test": 1}
        monkeypatch.setitem(FAMILY, name, ToyDataset(name, toy.domain, toy.classes, small))
    ensure_family(tmp_path)
    split = {"train": [["a.jpg", 0, "banded"], ["b.jpg", 1, "woven"]], "val": [], "test": []}
    (tmp_path / "dtd").mkdir()
    (tmp_path / "dtd" / "split_zhou_DescribableTextures.json").write_text(json.dumps(split))
    result = run_orch("datasets", "--root", str(tmp_path), "--json")
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    for name, toy in FAMILY.items():
        row = rows[name]
        assert row["kind"] == "toy" and row["classes"] == len(toy.classes)
        assert row["train"] == toy.sizes["train"] * len(toy.classes)
    assert rows["dtd"]["kind"] == "real" and rows["dtd"]["classes"] == 2
    table = run_orch("datasets", "--root", str(tmp_path)).stdout
    assert "toy_glyphs" in table and "dtd" in table
