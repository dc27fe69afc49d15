import pytest
import torch

from workers.cache import cached_tensors, content_key, file_digest


def test_hit_miss_and_changed_key(tmp_path):
    calls = []

    def compute():
        calls.append(1)
        return {"feats": torch.arange(6.0).reshape(2, 3)}

    parts = {"model": "toyclip", "view": 0}
    first = cached_tensors(tmp_path, "images", parts, compute)
    again = cached_tensors(tmp_path, "images", dict(parts), compute)
    assert len(calls) == 1 and torch.equal(first["feats"], again["feats"])
    cached_tensors(tmp_path, "images", {**parts, "view": 1}, compute)
    assert len(calls) == 2
    files = sorted(p.name for p in (tmp_path / "images").iterdir())
    assert len([f for f in files if f.endswith(".pt")]) == 2
    assert not [f for f in files if f.endswith(".tmp")]


def test_failed_compute_publishes_nothing(tmp_path):
    def broken():
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError, match="boom"):
        cached_tensors(tmp_path, "images", {"k": 1}, broken)
    assert not (tmp_path / "images").exists() or not list((tmp_path / "images").iterdir())
    calls = []
    cached_tensors(tmp_path, "images", {"k": 1}, lambda: calls.append(1) or {"x": torch.ones(1)})
    assert calls == [1]  # nothing half-written was taken for a hit


def test_key_is_order_independent_and_file_digest_tracks_content(tmp_path):
    assert content_key({"a": 1, "b": [1, 2]}) == content_key({"b": [1, 2], "a": 1})
    assert content_key({"a": 1}) != content_key({"a": 2})
    path = tmp_path / "w.bin"
    path.write_bytes(b"one")
    first = file_digest(path)
    path.write_bytes(b"two!")
    assert file_digest(path) != first


def test_damaged_entry_is_detected_and_recomputed(tmp_path, caplog):
    calls = []

    def compute():
        calls.append(1)
        return {"feats": torch.arange(1000.0).reshape(100, 10)}

    first = cached_tensors(tmp_path, "images", {"k": 2}, compute)
    (path,) = (tmp_path / "images").glob("*.pt")
    blob = bytearray(path.read_bytes())
    for damage in (bytes(blob[: len(blob) // 2]), None):  # truncated, then one byte flipped
        if damage is None:
            blob = bytearray(path.read_bytes())
            start = blob.index(torch.tensor(500.0).numpy().tobytes())
            blob[start] ^= 0xFF  # a stored value changes, the file still unpickles
            damage = bytes(blob)
        path.write_bytes(damage)
        with caplog.at_level("WARNING", logger="workers.cache"):
            again = cached_tensors(tmp_path, "images", {"k": 2}, compute)
        assert "damaged" in caplog.text
        assert torch.equal(again["feats"], first["feats"])
        caplog.clear()
    assert len(calls) == 3  # computed once, then once per damage
    assert torch.equal(
        cached_tensors(tmp_path, "images", {"k": 2}, compute)["feats"], first["feats"]
    )
    assert len(calls) == 3  # the rewritten entry is a hit again
