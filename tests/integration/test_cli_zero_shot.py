"""`orch zero-shot` end to end through the real CLI, and its one-line errors."""

import json

from tests.helpers import assert_one_line_error, run_orch


def test_toyworld_zero_shot_json():
    result = run_orch("zero-shot", "--dataset", "toyworld", "--json")
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    chance = 100 / 32
    assert 3 * chance <= figures["new_acc"] < 90
    assert 3 * chance <= figures["base_acc"] < 90
    hm = 2 * figures["base_acc"] * figures["new_acc"] / (figures["base_acc"] + figures["new_acc"])
    assert abs(figures["hm"] - hm) < 0.02
    for key in ("ece_base", "ece_new"):
        assert 0 <= figures[key] <= 100
    assert abs(figures["ece"] - (figures["ece_base"] + figures["ece_new"]) / 2) < 0.02


def test_human_readable_table():
    result = run_orch("zero-shot", "--dataset", "toyworld")
    assert result.returncode == 0, result.stderr
    for label in ("base accuracy", "new accuracy", "HM", "ECE base", "ECE new"):
        assert label in result.stdout


def test_unknown_model_is_one_line():
    assert_one_line_error(run_orch("zero-shot", "--model", "ViT-Q-99"), "unknown model 'ViT-Q-99'")


def test_unknown_tag_is_one_line():
    assert_one_line_error(
        run_orch("zero-shot", "--pretrained", "laion9b"), "'laion9b'", "toyclip", "--checkpoint"
    )


def test_unobtainable_weights_name_model_tag_and_fix():
    result = run_orch(
        "zero-shot", "--model", "RN50", "--pretrained", "openai", env={"HF_HUB_OFFLINE": "1"}
    )
    assert_one_line_error(result, "RN50", "openai", "--checkpoint")


def test_missing_checkpoint_file(tmp_path):
    missing = tmp_path / "w.pt"
    assert_one_line_error(run_orch("zero-shot", "--checkpoint", str(missing)), str(missing))


def test_missing_dataset_folder_and_split_file(tmp_path):
    assert_one_line_error(
        run_orch("zero-shot", "--dataset", "dtd", "--root", str(tmp_path)),
        "dataset 'dtd' not found",
        str(tmp_path / "dtd"),
    )
    (tmp_path / "dtd").mkdir()
    assert_one_line_error(
        run_orch("zero-shot", "--dataset", "dtd", "--root", str(tmp_path)),
        "split_zhou_DescribableTextures.json",
    )


def test_unreadable_image(tmp_path):
    folder = tmp_path / "dtd" / "images"
    folder.mkdir(parents=True)
    (folder / "bad.jpg").write_bytes(b"not an image")
    entries = [["bad.jpg", 0, "banded"], ["bad.jpg", 1, "woven"]]
    split = {"train": entries, "val": entries, "test": entries}
    (tmp_path / "dtd" / "split_zhou_DescribableTextures.json").write_text(json.dumps(split))
    assert_one_line_error(
        run_orch("zero-shot", "--dataset", "dtd", "--root", str(tmp_path)),
        "unreadable image",
        "bad.jpg",
    )


def test_unknown_dataset_and_debug_traceback():
    assert_one_line_error(run_orch("zero-shot", "--dataset", "mnist"), "unknown dataset 'mnist'")
    debug = run_orch("zero-shot", "--dataset", "mnist", env={"ORCH_DEBUG": "1"})
    assert debug.returncode == 2 and "Traceback" in debug.stderr
