"""The toy world behaves like CLIP's where it should, pinned cheaply (zero-shot only).

bench/toy_study.py measures the full picture (3 datasets x 3 seeds, every baseline); this test
catches a change to the renderers, the captions or the checkpoint that breaks its basis: a
zero-shot model that is calibrated (ECE <= 8 % on base and on new, mean over the base-to-new
datasets) and imperfect (new accuracy between 30 % and 85 %).
"""

import statistics

import pytest
import torch

from workers.model import create_clip
from workers.paths import default_data_root
from workers.toyworld.family import BASE_TO_NEW
from workers.zero_shot import evaluate_zero_shot


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the fastest on 2 busy cores
    yield
    torch.set_num_threads(threads)


def test_zero_shot_is_calibrated_and_imperfect():
    clip = create_clip("toyclip", pretrained="toyworld")
    runs = {d: evaluate_zero_shot(clip, dataset=d, root=default_data_root()) for d in BASE_TO_NEW}
    mean = {k: statistics.mean(r[k] for r in runs.values()) for k in ("ece_base", "ece_new")}
    assert mean["ece_base"] <= 8 and mean["ece_new"] <= 8, runs
    assert 30 <= statistics.mean(r["new_acc"] for r in runs.values()) <= 85, runs
    for name, figures in runs.items():  # no dataset far off
        assert figures["ece_base"] <= 15 and figures["ece_new"] <= 15, (name, figures)
        assert 100 / 18 * 3 <= figures["new_acc"] <= 95, (name, figures)
